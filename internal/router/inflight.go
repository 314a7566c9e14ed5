package router

import (
	"context"
	"errors"
	"sync"
)

// ErrBusy is what ingest answers while the hub holds as many message bodies
// in memory (MaxInFlight) or as long a queue (MaxQueue) as it may: not a
// failure of the message; a source tells its sender to try again (HTTP 503
// with Retry-After) and a polled source leaves the message where it is.
var ErrBusy = errors.New("the hub has as much in flight as it may hold; try again shortly")

// Backpressure: every message the router sees to is held with its body
// size from before it is logged until it is finished. New input (ingest)
// and the sweep take room only while the total is under MaxInFlight; the
// outputs of a message being handled are always taken (a handler that
// waited for room could wait for itself), so the total may overshoot by one
// message's outputs and then refuses input until it has drained. Nothing is
// dropped to make room: what is refused was never accepted, and what the
// sweep leaves stays received in the log.

// hold notes the message as seen to, with its body size. Holding a held
// message again changes nothing.
func (r *Router) hold(id string, size int64) {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if _, ok := r.held[id]; !ok {
		r.held[id] = size
		r.inFlight += size
	}
}

// tryHold holds the message if there is room for it. A message larger than
// MaxInFlight is let in when nothing else is in flight, so it is not
// refused for ever.
func (r *Router) tryHold(id string, size int64) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if _, ok := r.held[id]; ok {
		return true
	}
	if !r.roomLocked(size) {
		return false
	}
	r.held[id] = size
	r.inFlight += size
	return true
}

func (r *Router) roomLocked(size int64) bool {
	return r.inFlight == 0 || r.inFlight+size <= r.cfg.MaxInFlight
}

func (r *Router) release(id string) {
	r.heldMu.Lock()
	if size, ok := r.held[id]; ok {
		delete(r.held, id)
		r.inFlight -= size
	}
	r.heldMu.Unlock()
	select {
	case r.released <- struct{}{}:
	default: // the drain has a wake-up pending already
	}
	if r.backlog.Load() {
		select {
		case r.room <- struct{}{}:
		default:
		}
	}
}

func (r *Router) isHeld(id string) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	_, ok := r.held[id]
	return ok
}

// InFlight is the bytes of message bodies held now.
func (r *Router) InFlight() int64 {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	return r.inFlight
}

// An Admission is room reserved for a body before it is read: the HTTP
// server admits a request by its Content-Length, so 50 senders of 9 MB
// bodies are refused before their bodies are in memory, not after. The
// message ingested under it (its context carries the Admission) keeps the
// room until it is finished; Release gives back what no message took.
type Admission struct {
	r    *Router
	mu   sync.Mutex
	size int64 // reserved and not yet taken by a message
}

type admissionKey struct{}

// Admit reserves size bytes of MaxInFlight for a body about to be read. It
// fails with ErrBusy when there is no room and ErrStopping while the hub
// stops: the caller answers "try again" without reading the body.
func (r *Router) Admit(size int64) (*Admission, error) {
	if r.stopping.Load() {
		return nil, ErrStopping
	}
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if !r.roomLocked(size) {
		r.busy.Add(1)
		return nil, ErrBusy
	}
	r.inFlight += size
	return &Admission{r: r, size: size}, nil
}

// Busy counts the messages refused for want of room since the start.
func (r *Router) Busy() int64 { return r.busy.Load() }

// WithAdmission returns ctx carrying a, for the ingest of the message read
// under it.
func WithAdmission(ctx context.Context, a *Admission) context.Context {
	return context.WithValue(ctx, admissionKey{}, a)
}

// Release gives back the room no message took. It is safe to call twice.
func (a *Admission) Release() {
	a.mu.Lock()
	size := a.size
	a.size = 0
	a.mu.Unlock()
	if size == 0 {
		return
	}
	a.r.heldMu.Lock()
	a.r.inFlight -= size
	a.r.heldMu.Unlock()
}

// admit holds message id of the given size for ingest: under the
// Admission ctx carries if there is one (its room becomes the message's),
// otherwise if there is room.
func (r *Router) admit(ctx context.Context, id string, size int64) bool {
	a, _ := ctx.Value(admissionKey{}).(*Admission)
	if a == nil {
		return r.tryHold(id, size)
	}
	a.mu.Lock()
	reserved := a.size
	a.size = 0
	a.mu.Unlock()
	if reserved == 0 { // used already: a second message under one request
		return r.tryHold(id, size)
	}
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	r.inFlight -= reserved
	if _, ok := r.held[id]; !ok {
		r.held[id] = size
		r.inFlight += size
	}
	return true
}
