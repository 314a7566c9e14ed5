package adapterstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Pusher is the vendor side of a push source (one mounted on the hub's
// Ingress): a well-behaved client that sends each emitted message, one at a
// time and in order, and retries until the hub accepts it. It is a
// SourceVendor; Post decides how one message travels (headers, signature).
type Pusher struct {
	ingress *Ingress
	post    func(ctx context.Context, url string, m knutpunkt.Message) bool

	mu    sync.Mutex
	url   string
	queue []knutpunkt.Message
	busy  bool
	down  bool
	acked int
	wake  chan struct{}
}

// NewPusher starts a pusher whose requests carry caller as the client
// certificate's identity. post sends m to url and reports whether the hub
// accepted it (answered 202); the pusher stops with the test.
func NewPusher(t testing.TB, caller string, post func(ctx context.Context, url string, m knutpunkt.Message) bool) *Pusher {
	p := &Pusher{ingress: NewIngress(t, caller), post: post, wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// Env mounts the source on the pusher's ingress.
func (p *Pusher) Env(env adapters.Env) adapters.Env {
	env.Ingress = p.ingress
	p.mu.Lock()
	p.url = p.ingress.URL(env.Name)
	p.mu.Unlock()
	return env
}

// Emit queues m for sending.
func (p *Pusher) Emit(_ context.Context, m knutpunkt.Message) error {
	p.mu.Lock()
	p.queue = append(p.queue, m.Clone())
	p.mu.Unlock()
	p.poke()
	return nil
}

func (p *Pusher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Acked counts the messages the hub accepted.
func (p *Pusher) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// Pending counts the messages not yet accepted.
func (p *Pusher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.queue)
	if p.busy {
		n++
	}
	return n
}

// Down stops sending, as a vendor that lost its network would.
func (p *Pusher) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
}

// Up resumes sending.
func (p *Pusher) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
	p.poke()
}

func (p *Pusher) run(ctx context.Context) {
	for {
		p.mu.Lock()
		var m knutpunkt.Message
		ok := !p.down && len(p.queue) > 0
		if ok {
			m, p.queue, p.busy = p.queue[0], p.queue[1:], true
		}
		url := p.url
		p.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		for !p.post(ctx, url, m) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		p.mu.Lock()
		p.busy = false
		p.acked++
		p.mu.Unlock()
	}
}
