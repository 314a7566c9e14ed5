package server

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// messageLog is the router's view of the store. Every write goes through one
// group-committing Writer, so concurrent handlers and HTTP requests share
// transactions instead of queueing for SQLite's single writer.
type messageLog struct {
	s                         *store.Store
	w                         *store.Writer
	received, processed, dead *prometheus.CounterVec
	duplicates                *prometheus.CounterVec
	latency                   *latency
}

var _ router.MessageLog = (*messageLog)(nil)

func newMessageLog(s *store.Store, reg *prometheus.Registry) *messageLog {
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "knut", Name: name, Help: help}, []string{"pipeline"})
		reg.MustRegister(c)
		return c
	}
	return &messageLog{
		s:          s,
		w:          s.NewWriter(store.WriterOptions{MaxBatch: 256}),
		received:   counter("messages_received_total", "Messages accepted into a pipeline and stored."),
		duplicates: counter("messages_duplicate_total", "Messages recognised as already received and not processed again."),
		processed:  counter("messages_processed_total", "Messages a pipeline finished, their entities committed."),
		dead:       counter("dead_letters_total", "Messages dead-lettered with a reason."),
		latency:    newLatency(reg, time.Now),
	}
}

func (l *messageLog) SaveInbound(ctx context.Context, p, source string, m knutpunkt.Message) (string, bool, error) {
	var res store.SaveResult
	in := l.s.PrepareInbound(store.Inbound(p, source, m))
	do := l.w.Do
	if len(m.Body) > router.LargeBody {
		do = l.w.DoBulk // after the small writes waiting, alone
	}
	err := do(ctx, func(tx *store.Tx) error {
		var err error
		res, err = tx.SaveInbound(ctx, in)
		return err
	})
	if err != nil {
		return "", false, err
	}
	l.countInbound(p, m.ID, res.Duplicate)
	return res.ID, res.Duplicate, nil
}

func (l *messageLog) countInbound(p, id string, dup bool) {
	if dup {
		l.duplicates.WithLabelValues(p).Inc()
	} else {
		l.received.WithLabelValues(p).Inc()
		l.latency.received(id)
	}
}

func (l *messageLog) RecordAttempt(ctx context.Context, p, step, msgID string, attemptErr error) error {
	return l.w.DoLazy(ctx, func(tx *store.Tx) error {
		return tx.RecordAttempt(ctx, msgID, p, step, masked(attemptErr))
	})
}

func (l *messageLog) Commit(ctx context.Context, p, msgID string, writes []pipeline.Write, outs []router.Outbound) ([]bool, error) {
	d := newDone(l.s, p, msgID, writes, outs)
	if err := l.w.DoLazy(ctx, d.op(ctx)); err != nil {
		return nil, err
	}
	l.processed.WithLabelValues(p).Inc()
	l.latency.finished(p, msgID)
	for i, o := range outs {
		if !d.held {
			l.countInbound(o.Pipeline, o.Msg.ID, d.dup[i])
		}
	}
	return d.dup, nil
}

func (l *messageLog) DeadLetter(ctx context.Context, p, msgID string, cause error) error {
	if err := l.w.DoLazy(ctx, newDead(p, msgID, cause).op(ctx)); err != nil {
		return err
	}
	l.dead.WithLabelValues(p).Inc()
	l.latency.finished(p, msgID)
	return nil
}

func (l *messageLog) Pending(ctx context.Context, p string, known func(id string) bool) iter.Seq2[knutpunkt.Message, error] {
	return func(yield func(knutpunkt.Message, error) bool) {
		// IDs a page at a time; a body is read only when the router is
		// ready to queue it.
		const page = 1000
		var c store.PendingCursor
		for {
			ids, next, err := l.s.ReceivedPage(ctx, p, c, page)
			if err != nil {
				yield(knutpunkt.Message{}, err)
				return
			}
			for _, id := range ids {
				if known(id) {
					continue
				}
				r, err := l.s.Message(ctx, id)
				if err != nil {
					yield(knutpunkt.Message{}, err)
					return
				}
				if r.Status != store.StatusReceived || r.Headers[router.HeaderTopic] == "" {
					continue // finished since, or never meant for a queue
				}
				if !yield(knutpunkt.Message{ID: r.ID, Headers: r.Headers, Body: r.Body}, nil) {
					return
				}
			}
			if len(ids) < page {
				return
			}
			c = next
		}
	}
}

// Close flushes and stops the writer.
func (l *messageLog) Close() error { return l.w.Close() }

// Done implements router.MessageLog.
func (l *messageLog) Done(ctx context.Context, msgID string) (bool, error) {
	st, err := l.s.MessageStatus(ctx, msgID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return st != store.StatusReceived && st != "", err
}
