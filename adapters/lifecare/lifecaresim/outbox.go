package lifecaresim

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// retryInterval is the outbox's pause between attempts.
const retryInterval = 20 * time.Millisecond

type outgoing struct {
	url    string
	body   []byte
	header http.Header
}

// outbox pushes queued messages in order, one at a time, with retries.
type outbox struct {
	cs     *CaseSystem
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu     sync.Mutex
	queue  []outgoing
	busy   bool
	down   bool
	sent   int
	closed bool
}

func newOutbox(cs *CaseSystem) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{cs: cs, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go o.run(ctx)
	return o
}

func (o *outbox) add(m outgoing) {
	o.mu.Lock()
	o.queue = append(o.queue, m)
	o.mu.Unlock()
	o.poke()
}

func (o *outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) setDown(down bool) {
	o.mu.Lock()
	o.down = down
	o.mu.Unlock()
	o.poke()
}

func (o *outbox) stop() {
	o.mu.Lock()
	already := o.closed
	o.closed = true
	o.mu.Unlock()
	if !already {
		o.cancel()
		<-o.done
	}
}

func (o *outbox) stopped() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

func (o *outbox) sentCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent
}

func (o *outbox) pendingCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.queue)
	if o.busy {
		n++
	}
	return n
}

func (o *outbox) run(ctx context.Context) {
	defer close(o.done)
	for {
		o.mu.Lock()
		var m outgoing
		ok := !o.down && len(o.queue) > 0
		if ok {
			m, o.queue, o.busy = o.queue[0], o.queue[1:], true
		}
		o.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		for {
			o.mu.Lock()
			down := o.down
			o.mu.Unlock()
			if !down && o.cs.Push(ctx, m.url, m.body, m.header) == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryInterval):
			}
		}
		o.mu.Lock()
		o.busy = false
		o.sent++
		o.mu.Unlock()
	}
}
