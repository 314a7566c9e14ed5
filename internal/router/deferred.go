package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// DeferredError marks a failure that a later message will cure: a change
// that arrived before the order it changes, say. The message waits, without
// holding up the messages behind it, and is processed again after the
// pipeline's backoff; after retry.attempts waits it is dead-lettered.
type DeferredError struct{ Err error }

func (e *DeferredError) Error() string { return "waiting: " + e.Err.Error() }

func (e *DeferredError) Unwrap() error { return e.Err }

// Defer wraps err as a DeferredError. Defer(nil) is nil.
func Defer(err error) error {
	if err == nil {
		return nil
	}
	return &DeferredError{Err: err}
}

// deferMessage acknowledges m on the bus and queues it again after the
// pipeline's backoff, or gives up with a permanent error once it has
// waited retry.attempts times. While it waits its log status stays
// received, so a restart queues it again too.
func (r *Router) deferMessage(ctx context.Context, p *pipeline.Plan, m knutpunkt.Message, err error) error {
	n, _ := strconv.Atoi(m.Headers[HeaderDeferrals])
	if n+1 >= p.Retry.Attempts {
		err = adapters.Permanent(fmt.Errorf("gave up after waiting %d times: %w", n, err))
		if lerr := r.cfg.MessageLog.RecordAttempt(ctx, p.Name, "commit", m.ID, err); lerr != nil {
			return errors.Join(err, lerr)
		}
		return err
	}
	if lerr := r.cfg.MessageLog.RecordAttempt(ctx, p.Name, "commit", m.ID, err); lerr != nil {
		return lerr
	}
	delay := p.Retry.Backoff << n
	if delay > p.Retry.MaxBackoff || delay <= 0 {
		delay = p.Retry.MaxBackoff
	}
	m = m.Clone()
	m.Headers[HeaderDeferrals] = strconv.Itoa(n + 1)
	topic := m.Headers[HeaderTopic]
	r.timersMu.Lock()
	defer r.timersMu.Unlock()
	if r.closed {
		return nil // the log still holds it as received: the next start queues it
	}
	r.timers[m.ID] = time.AfterFunc(delay, func() {
		r.timersMu.Lock()
		delete(r.timers, m.ID)
		r.timersMu.Unlock()
		if err := r.publish(topic, m); err != nil {
			r.log.Error("requeue waiting message", zap.String("pipeline", p.Name), zap.String("msg_id", m.ID), zap.Error(err))
		}
	})
	r.log.Info("message waits", zap.String("pipeline", p.Name), zap.String("msg_id", m.ID),
		zap.Int("wait", n+1), zap.Duration("for", delay), zap.Error(err))
	return nil
}

// stopTimers cancels the requeues of waiting messages and lets go of them:
// they stay received in the log and are queued again at the next start.
// It returns how many there were.
func (r *Router) stopTimers() int {
	r.timersMu.Lock()
	defer r.timersMu.Unlock()
	r.closed = true
	n := len(r.timers)
	for id, t := range r.timers {
		t.Stop()
		r.release(id)
	}
	clear(r.timers)
	return n
}
