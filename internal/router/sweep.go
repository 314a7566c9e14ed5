package router

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"
)

// sweep queues the messages the log holds as received and this process
// does not hold. With seen nil it queues them all (at start); otherwise
// only those already found unheld by the previous sweep, whose IDs are in
// seen, and it fills seen anew: a message is between two holders for
// microseconds (its handler finished, its requeue not yet held), never for
// a whole sweep interval.
func (r *Router) sweep(ctx context.Context, seen map[string]bool) error {
	last := maps.Clone(seen)
	clear(seen)
	for _, p := range r.cfg.Plans {
		if r.notReady[p.Name] != nil {
			continue // its messages wait in the log
		}
		pending, err := r.cfg.MessageLog.Pending(ctx, p.Name, r.isHeld)
		if err != nil {
			return fmt.Errorf("pipeline %s: pending messages: %w", p.Name, err)
		}
		n := 0
		for _, m := range pending {
			if seen != nil && !last[m.ID] {
				seen[m.ID] = true
				continue
			}
			if err := r.publish(m.Headers[HeaderTopic], m); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			r.log.Info("queued messages from the log", zap.String("pipeline", p.Name), zap.Int("count", n))
		}
	}
	return nil
}

// sweepLoop sweeps every cfg.Sweep until ctx is done: a message another
// process logged as received (knut replay, while knut serve runs) is
// queued here within two sweeps.
func (r *Router) sweepLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Sweep)
	defer t.Stop()
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.sweep(ctx, seen); err != nil && ctx.Err() == nil {
			r.log.Error("sweep the message log", zap.Error(err))
		}
	}
}

func (r *Router) hold(id string) {
	r.heldMu.Lock()
	r.held[id] = struct{}{}
	r.heldMu.Unlock()
}

func (r *Router) release(id string) {
	r.heldMu.Lock()
	delete(r.held, id)
	r.heldMu.Unlock()
	select {
	case r.released <- struct{}{}:
	default: // the drain has a wake-up pending already
	}
}

func (r *Router) isHeld(id string) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	_, ok := r.held[id]
	return ok
}

// releaseFinished lets go of a message once its handler is done with it:
// processed, dead-lettered, or found finished already. A message that
// waits (DeferredError) stays held until its requeue.
func (r *Router) releaseFinished(h message.HandlerFunc) message.HandlerFunc {
	return func(wm *message.Message) ([]*message.Message, error) {
		out, err := h(wm)
		if errors.Is(err, errHandedBack) {
			r.handedBack.Add(1)
			r.release(wm.UUID)
			return out, nil // off the bus; still received in the log
		}
		if err != nil {
			return out, err // nacked: handed over again
		}
		r.timersMu.Lock()
		_, waiting := r.timers[wm.UUID]
		r.timersMu.Unlock()
		if !waiting {
			r.finished.Add(1)
			r.release(wm.UUID)
		}
		return out, nil
	}
}
