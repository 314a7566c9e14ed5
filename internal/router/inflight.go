package router

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusy is what ingest answers while the hub holds as many message bodies
// in memory (MaxInFlight) or as long a queue (MaxQueue) as it may: not a
// failure of the message; a source tells its sender to try again (HTTP 503
// with Retry-After) and a polled source leaves the message where it is.
var ErrBusy = errors.New("the hub has as much in flight as it may hold; try again shortly")

// Backpressure: every message the router sees to is held with its body
// size from before it is logged until it is finished. New input takes room
// only while the total stays under MaxInFlight and its own share (what one
// pipeline's input, or one ingest path, holds) under half of it: a flood of
// large bodies on one pipeline leaves room for the orders on another. The
// outputs of a message being handled always get room (a handler that waited
// for room could wait for itself), so the total may overshoot by one
// message's outputs and then refuses input until it has drained. Nothing is
// dropped to make room: what is refused was never accepted, and what the
// sweep leaves stays received in the log.

// LargeBody is the body size over which messages are processed one at a
// time, hub-wide (see processHandler).
const LargeBody = 1 << 20

// heldMsg is a held message's body size and the share it counts against.
type heldMsg struct {
	size  int64
	share string
	// fresh: this process logged the message as received just now and
	// has not yet handed it to its handler (see takeFresh).
	fresh bool
}

// hold notes the message as seen to, with its body size, counted against
// share, and as fresh: save and commit call it for what they are about to
// log as received. Holding a held message again changes nothing.
func (r *Router) hold(id, share string, size int64) {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	r.holdLocked(id, share, size, true)
}

// takeFresh reports whether message id is fresh, and makes it no longer so.
// A fresh message's handler need not ask the log whether it is finished
// already (MessageLog.Done, a read on every hop): it was logged as received
// by this process moments ago, and the embedded bus hands it to this
// process's handler only. A second hand-over (a retry, a redelivery after a
// nack, the sweep after a restart) is not fresh and asks.
func (r *Router) takeFresh(id string) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	h, ok := r.held[id]
	if !ok || !h.fresh {
		return false
	}
	h.fresh = false
	r.held[id] = h
	return true
}

// holdLocked holds the message unless it is held already (then it stays as
// it is, fresh or not).
func (r *Router) holdLocked(id, share string, size int64, fresh bool) {
	if _, ok := r.held[id]; !ok {
		r.held[id] = heldMsg{size: size, share: share, fresh: fresh}
		r.shareLocked(share, size)
	}
}

// tryHold holds the message if there is room for it in the total and in
// its share.
func (r *Router) tryHold(id, share string, size int64) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if _, ok := r.held[id]; ok {
		return true
	}
	if !r.roomLocked(share, size) {
		return false
	}
	r.holdLocked(id, share, size, false)
	return true
}

// roomLocked reports whether size more bytes fit the total and share's half.
// A body larger than a limit is let in when what that limit counts is
// empty: it would otherwise be refused for ever (max_body bounds it).
func (r *Router) roomLocked(share string, size int64) bool {
	used := r.shares[share]
	return (r.inFlight == 0 || r.inFlight+size <= r.cfg.MaxInFlight) &&
		(used == 0 || used+size <= r.cfg.MaxInFlight/2)
}

func (r *Router) release(id string) {
	r.heldMu.Lock()
	if m, ok := r.held[id]; ok {
		delete(r.held, id)
		r.unshareLocked(m.share, m.size)
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

// shareLocked counts size bytes in flight against share; unshareLocked
// gives them back.
func (r *Router) shareLocked(share string, size int64) {
	r.inFlight += size
	r.shares[share] += size
}

func (r *Router) unshareLocked(share string, size int64) {
	r.inFlight -= size
	if r.shares[share] -= size; r.shares[share] == 0 {
		delete(r.shares, share)
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

// Busy counts the messages refused for want of room since the start.
func (r *Router) Busy() int64 { return r.busy.Load() }

// An Admission is room reserved for a body before it is read: the HTTP
// server admits a request by its Content-Length, so 50 senders of 9 MB
// bodies are refused before their bodies are in memory, not after. The
// message ingested under it (its context carries the Admission) keeps the
// room until it is finished; Release gives back what no message took.
type Admission struct {
	r     *Router
	share string
	mu    sync.Mutex
	size  int64 // reserved and not yet taken by a message
}

type admissionKey struct{}

// Admit reserves size bytes for a body about to be read, counted against
// share (the ingest path). It fails with ErrBusy when there is no room and
// ErrStopping while the hub stops: the caller answers "try again" without
// reading the body.
func (r *Router) Admit(share string, size int64) (*Admission, error) {
	if r.stopping.Load() {
		return nil, ErrStopping
	}
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if !r.rateRoomLocked(share) || !r.roomLocked(share, size) {
		r.busy.Add(1)
		return nil, ErrBusy
	}
	r.shareLocked(share, size)
	return &Admission{r: r, share: share, size: size}, nil
}

// WithAdmission returns ctx carrying a, for the ingest of the message read
// under it.
func WithAdmission(ctx context.Context, a *Admission) context.Context {
	return context.WithValue(ctx, admissionKey{}, a)
}

// take hands the reserved room over to the caller, once.
func (a *Admission) take() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.size
	a.size = 0
	return size
}

// Release gives back the room no message took. It is safe to call twice.
func (a *Admission) Release() {
	if size := a.take(); size > 0 {
		a.r.heldMu.Lock()
		a.r.unshareLocked(a.share, size)
		a.r.heldMu.Unlock()
	}
}

// admit holds message id of pipeline p for ingest: under the Admission ctx
// carries if there is one (its room becomes the message's), otherwise if
// there is room in p's share. The message is fresh (takeFresh): ingest
// logs it next.
func (r *Router) admit(ctx context.Context, id, p string, size int64) bool {
	share := p
	a, _ := ctx.Value(admissionKey{}).(*Admission)
	if a != nil {
		share = a.share
		if reserved := a.take(); reserved > 0 {
			// Admit checked the room and the rate before the body was read.
			r.heldMu.Lock()
			defer r.heldMu.Unlock()
			r.unshareLocked(share, reserved)
			r.holdLocked(id, share, size, true)
			r.chargeLocked(share, size)
			return true
		}
		// used already: a second message under one request
	}
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if _, held := r.held[id]; !held && (!r.rateRoomLocked(share) || !r.roomLocked(share, size)) {
		return false
	}
	r.holdLocked(id, share, size, true)
	r.chargeLocked(share, size)
	return true
}

// A bucket is an ingest path's allowance of body bytes: MaxIngestRate
// bytes a second, at most a second's worth saved up. A message is let in
// while the bucket is not in debt and then takes its whole size, so a body
// larger than a second's worth goes in and the path waits until the debt
// is paid.
type bucket struct {
	bytes float64
	at    time.Time
}

// rateRoomLocked reports whether share's bucket is out of debt.
func (r *Router) rateRoomLocked(share string) bool {
	return r.refillLocked(share).bytes >= 0
}

// chargeLocked takes size bytes from share's bucket.
func (r *Router) chargeLocked(share string, size int64) {
	r.refillLocked(share).bytes -= float64(size)
}

func (r *Router) refillLocked(share string) *bucket {
	now, rate := r.cfg.Now(), float64(r.cfg.MaxIngestRate)
	b := r.buckets[share]
	if b == nil {
		b = &bucket{bytes: rate, at: now}
		r.buckets[share] = b
	}
	b.bytes = min(rate, b.bytes+now.Sub(b.at).Seconds()*rate)
	b.at = now
	return b
}
