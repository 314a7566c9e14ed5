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
// a whole sweep interval. Either way it stops at MaxInFlight and MaxQueue:
// what it leaves stays in the log, and the sweep runs again as soon as a
// message is released (see sweepLoop).
func (r *Router) sweep(ctx context.Context, seen map[string]bool) error {
	last := maps.Clone(seen)
	clear(seen)
	r.backlog.Store(false)
	for _, p := range r.cfg.Plans {
		if r.notReady[p.Name] != nil {
			continue // its messages wait in the log
		}
		n, full := 0, false
		for m, err := range r.cfg.MessageLog.Pending(ctx, p.Name, r.isHeld) {
			if err != nil {
				return fmt.Errorf("pipeline %s: pending messages: %w", p.Name, err)
			}
			if seen != nil && !last[m.ID] {
				seen[m.ID] = true
				continue
			}
			topic := m.Headers[HeaderTopic]
			if r.cfg.Bus.Len(topic) >= r.cfg.MaxQueue || !r.tryHold(m.ID, p.Name, int64(len(m.Body))) {
				full = true
				break
			}
			if err := r.publish(topic, m); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			r.log.Info("queued messages from the log", zap.String("pipeline", p.Name), zap.Int("count", n))
		}
		if full {
			// The rest waits for room; those seen before keep their turn.
			r.backlog.Store(true)
			for id := range last { // nil at start, when seen is nil too
				if !r.isHeld(id) {
					seen[id] = true
				}
			}
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
		case <-r.room: // a backlog and room for it
		}
		if err := r.sweep(ctx, seen); err != nil && ctx.Err() == nil {
			r.log.Error("sweep the message log", zap.Error(err))
		}
	}
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
