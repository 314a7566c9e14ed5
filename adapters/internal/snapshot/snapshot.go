// Package snapshot is what the directory sources (ldap, hsa) share: a source
// that answers with everyone it lists, whole or not at all, polled at start
// and every interval, each snapshot delivered as one message unless it is
// the one delivered last. The hub diffs snapshots (store: staff), so an
// unchanged directory costs one read and no message.
package snapshot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Headers of a snapshot message besides content-type, source-system and
// external-id.
const (
	// HeaderCount is the number of records in the snapshot.
	HeaderCount = "snapshot-count"
	// HeaderDigest is the SHA-256 of the body, hex.
	HeaderDigest = "snapshot-digest"
)

// ContentType is the content type of a snapshot: JSON lines.
const ContentType = "application/x-ndjson"

// Snapshot is one whole answer of a directory, encoded.
type Snapshot struct {
	Body   []byte // JSON lines
	Count  int    // records
	Digest string // SHA-256 of Body, hex
	// Log are fields for the delivery's log line (never personal data).
	Log []zap.Field
}

// Poller takes and delivers one directory's snapshots.
type Poller struct {
	// Source is the source-system header: the directory's name.
	Source string
	// Prefix starts every external id ("ldap-", "hsa-").
	Prefix   string
	Interval time.Duration
	Log      *zap.Logger
	// Take reads the directory once: every record, or an error.
	Take func(ctx context.Context) (Snapshot, error)
	// Headers are added to every snapshot message.
	Headers map[string]string

	chain string // external id of the last snapshot delivered, or a random start
	last  string // digest of the last snapshot delivered
}

// Run syncs at once and then every Interval until ctx ends (ctx.Err()) or
// closed is closed (adapters.ErrClosed). A failed sync (the directory
// unreachable, a truncated answer) or a failed delivery is logged once per
// outage and tried again at the next poll.
func (p *Poller) Run(ctx context.Context, closed <-chan struct{}, deliver adapters.DeliverFunc) error {
	select {
	case <-closed:
		return adapters.ErrClosed
	default:
	}
	if p.chain == "" {
		nonce := make([]byte, 16)
		_, _ = rand.Read(nonce)
		p.chain = "start:" + hex.EncodeToString(nonce)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // closing ends a running sync
		select {
		case <-closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	var failing bool
	for {
		err := p.sync(ctx, deliver)
		select {
		case <-closed:
			return adapters.ErrClosed
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch { // log changes only, not every poll of an outage
		case err != nil && !failing:
			p.Log.Warn("directory sync failed, will retry at the next poll", zap.Error(err))
		case err != nil:
			p.Log.Debug("directory sync failed again", zap.Error(err))
		case failing:
			p.Log.Info("directory sync recovered")
		}
		failing = err != nil
		select {
		case <-closed:
			return adapters.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// sync takes one snapshot and delivers it unless it is the one delivered
// last.
func (p *Poller) sync(ctx context.Context, deliver adapters.DeliverFunc) error {
	start := time.Now()
	snap, err := p.Take(ctx)
	if err != nil {
		return err
	}
	if snap.Digest == p.last {
		p.Log.Debug("directory unchanged", zap.Int("records", snap.Count), zap.Duration("took", time.Since(start)))
		return nil
	}
	id := p.Prefix + nextExternalID(p.chain, snap.Digest)
	h := map[string]string{
		knutpunkt.HeaderContentType:  ContentType,
		knutpunkt.HeaderSourceSystem: p.Source,
		knutpunkt.HeaderExternalID:   id,
		HeaderCount:                  strconv.Itoa(snap.Count),
		HeaderDigest:                 snap.Digest,
	}
	for k, v := range p.Headers {
		h[k] = v
	}
	r, err := deliver(ctx, knutpunkt.Message{Headers: h, Body: snap.Body})
	if err != nil {
		return fmt.Errorf("deliver snapshot of %d records: %w", snap.Count, err)
	}
	p.chain, p.last = id, snap.Digest
	p.Log.Info("directory snapshot delivered", append([]zap.Field{zap.Int("records", snap.Count), zap.String("message_id", r.ID),
		zap.Bool("duplicate", r.Duplicate), zap.Duration("took", time.Since(start))}, snap.Log...)...)
	return nil
}

// nextExternalID is the external id of a snapshot whose digest is digest,
// delivered after the one whose external id is prev: SHA-256 of both, hex.
// The same snapshot retried after a failed delivery keeps its id, so the
// hub stores it once; a directory that changes back to an earlier state
// (someone removed and restored) gets a new id, so the hub does not answer
// it as the duplicate of the earlier snapshot and keeps the state in
// between. Each start chains from a random value, so the first snapshot
// after a restart is processed again (a no-op diff when nothing changed).
func nextExternalID(prev, digest string) string {
	h := sha256.Sum256([]byte(prev + "\n" + digest))
	return hex.EncodeToString(h[:])
}
