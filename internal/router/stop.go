package router

import (
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ErrStopping is what ingest answers while the hub stops: not a failure of
// the message, so a source tells its sender to try again (HTTP 503 with
// Retry-After) and a polled source leaves the message where it is.
var ErrStopping = errors.New("the hub is stopping; try again shortly")

// errHandedBack is how the dead-letter filter tells releaseFinished that a
// message failed while the hub stops and is left, received, in the log.
var errHandedBack = errors.New("handed back to the message log")

// DrainReport is what a stop did with the messages in flight.
type DrainReport struct {
	// Finished is how many messages handlers finished during the drain.
	Finished int
	// Left is how many were still in flight when the drain ended (the
	// handlers were cancelled) or waiting for a predecessor: they stay
	// received in the message log and the next start queues them.
	Left int
	// TimedOut is set when the drain ended at ShutdownTimeout rather than
	// with nothing in flight.
	TimedOut bool
	// Took is how long the drain lasted.
	Took time.Duration
}

// Drained reports the last stop's drain; the zero value before one.
func (r *Router) Drained() DrainReport {
	r.drainMu.Lock()
	defer r.drainMu.Unlock()
	return r.drained
}

// stop stops accepting (ingest answers ErrStopping, sources and the sweep
// end), cancels the requeues of waiting messages, and waits until the
// messages in flight are finished or ShutdownTimeout has passed. The
// handlers still run meanwhile: a message's outputs (a delivery, a reply)
// are in flight too and are seen to in the same drain.
func (r *Router) stop(stopSources func(), sources *sync.WaitGroup) {
	r.stopping.Store(true)
	r.log.Info("stopping: new messages are refused; draining those in flight",
		zap.Int("in_flight", r.heldCount()), zap.Duration("shutdown_timeout", r.cfg.ShutdownTimeout))
	stopSources()
	sources.Wait()
	waiting := r.stopTimers()
	start := time.Now()
	before, backBefore := r.finished.Load(), r.handedBack.Load()
	deadline := time.NewTimer(r.cfg.ShutdownTimeout)
	defer deadline.Stop()
	rep := DrainReport{}
	for rep.Left = r.heldCount(); rep.Left > 0 && !rep.TimedOut; rep.Left = r.heldCount() {
		select {
		case <-r.released:
		case <-deadline.C:
			rep.TimedOut = true
		}
	}
	rep.Finished = int(r.finished.Load() - before)
	rep.Left += waiting + int(r.handedBack.Load()-backBefore)
	rep.Took = time.Since(start)
	r.drainMu.Lock()
	r.drained = rep
	r.drainMu.Unlock()
	r.log.Debug("drained", zap.Int("finished", rep.Finished), zap.Int("left", rep.Left), zap.Bool("timed_out", rep.TimedOut))
}

func (r *Router) heldCount() int {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	return len(r.held)
}
