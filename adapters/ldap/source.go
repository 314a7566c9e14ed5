package ldap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Source syncs a directory's persons as snapshots. See the package doc.
type Source struct {
	cfg      SourceConfig
	password string
	tls      *tls.Config // nil for plain ldap:// without start_tls
	log      *zap.Logger
	attrs    []string
	closed   chan struct{}
	once     sync.Once

	// chain is the external id of the last snapshot delivered, or a
	// random value per start before the first (see nextExternalID).
	chain string
	// last is the digest of the last snapshot delivered.
	last string
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns a source for a validated cfg. It resolves the password
// and reads ca_file but does not connect.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	pw, err := env.Secrets.Resolve(cfg.Password)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	var tc *tls.Config
	if u.Scheme == "ldaps" || cfg.StartTLS {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	return &Source{
		cfg:      cfg,
		password: pw,
		tls:      tc,
		log:      env.Logger.With(zap.String("directory", cfg.Directory), zap.String("url", cfg.URL)),
		attrs:    cfg.attributes(),
		closed:   make(chan struct{}),
		chain:    "start:" + hex.EncodeToString(nonce),
	}, nil
}

// Receive implements adapters.Source: a sync at once and then every
// poll_interval. A failed sync (the directory unreachable, a truncated
// answer) or a failed delivery is logged once per outage and tried again
// at the next poll. An unchanged snapshot is not delivered again.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	select {
	case <-s.closed:
		return adapters.ErrClosed
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close ends a running Receive
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	var failing bool
	for {
		err := s.sync(ctx, deliver)
		select {
		case <-s.closed:
			return adapters.ErrClosed
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch { // log changes only, not every poll of an outage
		case err != nil && !failing:
			s.log.Warn("directory sync failed, will retry at the next poll", zap.Error(err))
		case err != nil:
			s.log.Debug("directory sync failed again", zap.Error(err))
		case failing:
			s.log.Info("directory sync recovered")
		}
		failing = err != nil
		select {
		case <-s.closed:
			return adapters.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// sync takes one snapshot and delivers it unless it is the one delivered
// last.
func (s *Source) sync(ctx context.Context, deliver adapters.DeliverFunc) error {
	start := time.Now()
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return err
	}
	if snap.Digest == s.last {
		s.log.Debug("directory unchanged", zap.Int("entries", snap.Count), zap.Duration("took", time.Since(start)))
		return nil
	}
	id := nextExternalID(s.chain, snap.Digest)
	m := knutpunkt.Message{
		Headers: map[string]string{
			knutpunkt.HeaderContentType:  ContentType,
			knutpunkt.HeaderSourceSystem: s.cfg.Directory,
			knutpunkt.HeaderExternalID:   id,
			HeaderSnapshotCount:          strconv.Itoa(snap.Count),
			HeaderSnapshotDigest:         snap.Digest,
			HeaderEmploymentEndAttribute: s.cfg.EmploymentEndAttribute,
		},
		Body: snap.Body,
	}
	r, err := deliver(ctx, m)
	if err != nil {
		return fmt.Errorf("deliver snapshot of %d entries: %w", snap.Count, err)
	}
	s.chain, s.last = id, snap.Digest
	s.log.Info("directory snapshot delivered", zap.Int("entries", snap.Count), zap.String("message_id", r.ID),
		zap.Bool("duplicate", r.Duplicate), zap.Duration("took", time.Since(start)))
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
	return "ldap-" + hex.EncodeToString(h[:])
}

// Snapshot is one search's result, encoded.
type Snapshot struct {
	Body   []byte // JSON lines, sorted by DN
	Count  int    // entries
	Digest string // SHA-256 of Body, hex
}

// Snapshot binds and searches once, returning every entry or an error:
// never part of the directory.
func (s *Source) Snapshot(ctx context.Context) (Snapshot, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	enc := newEncoder(s.attrs)
	if err := s.search(conn, enc); err != nil {
		if ctx.Err() != nil {
			return Snapshot{}, ctx.Err()
		}
		return Snapshot{}, err
	}
	body, err := enc.body()
	if err != nil {
		return Snapshot{}, err
	}
	sum := sha256.Sum256(body)
	return Snapshot{Body: body, Count: len(enc.lines), Digest: hex.EncodeToString(sum[:])}, nil
}

// connect dials, upgrades with StartTLS if configured and binds.
func (s *Source) connect(ctx context.Context) (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	opts := []goldap.DialOpt{goldap.DialWithDialer(d)}
	if s.tls != nil && !s.cfg.StartTLS {
		opts = append(opts, goldap.DialWithTLSConfig(s.tls))
	}
	conn, err := goldap.DialURL(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	conn.SetTimeout(s.cfg.Timeout)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.cfg.StartTLS {
		if err := conn.StartTLS(s.tls); err != nil {
			conn.Close()
			return nil, fmt.Errorf("start_tls: %w", err)
		}
	}
	if err := conn.Bind(s.cfg.BindDN, s.password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind (bind_dn, password): %w", err)
	}
	if ctx.Err() != nil {
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, nil
}

// ErrTruncated is wrapped by the error of a search whose answer is not the
// whole directory.
var ErrTruncated = errors.New("the directory's answer is incomplete; no snapshot delivered")

// refusals are the LDAP results that refuse the search as asked, rather
// than stop its answer short.
var refusals = map[uint16]bool{
	goldap.LDAPResultNoSuchObject:             true,
	goldap.LDAPResultInsufficientAccessRights: true,
	goldap.LDAPResultInvalidDNSyntax:          true,
	goldap.LDAPResultUnwillingToPerform:       true,
	goldap.LDAPResultProtocolError:            true,
	goldap.LDAPResultOperationsError:          true,
	goldap.LDAPResultInappropriateMatching:    true,
	goldap.LDAPResultUndefinedAttributeType:   true,
}

// search runs the paged subtree search, page by page, refusing anything
// short of the complete answer.
func (s *Source) search(conn *goldap.Conn, enc *encoder) error {
	paging := goldap.NewControlPaging(uint32(s.cfg.PageSize))
	req := goldap.NewSearchRequest(s.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, s.cfg.Filter, s.attrs, []goldap.Control{paging})
	for page := 1; ; page++ {
		res, err := conn.Search(req)
		if err != nil {
			var le *goldap.Error
			if errors.As(err, &le) && refusals[le.ResultCode] {
				return fmt.Errorf("search %s, page %d: %w", s.cfg.BaseDN, page, err)
			}
			// A limit, a referral, a paging error, a connection lost: the
			// answer stopped short.
			return fmt.Errorf("search %s, page %d after %d entries: %w: %w", s.cfg.BaseDN, page, len(enc.lines), ErrTruncated, err)
		}
		if len(res.Referrals) > 0 {
			return fmt.Errorf("search %s: %d referrals (search continuation references), which the source does not follow: %w",
				s.cfg.BaseDN, len(res.Referrals), ErrTruncated)
		}
		for _, e := range res.Entries {
			if err := enc.add(e); err != nil {
				return err
			}
		}
		ctl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctl == nil || len(ctl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctl.Cookie)
	}
}

// Check implements adapters.Checker: the server answers, the bind succeeds
// and base_dn exists.
func (s *Source) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, err = conn.Search(goldap.NewSearchRequest(s.cfg.BaseDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return fmt.Errorf("base_dn %s: %w", s.cfg.BaseDN, err)
	}
	return nil
}

// Close stops a running Receive with ErrClosed. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
