package router

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Bus is the hub's embedded message transport: a queue per topic, in
// process, in publish order, delivered at least once to the topic's one
// handler. It is a Watermill publisher and subscriber, so a networked bus
// for several hub processes (NATS, PostgreSQL) can take its place behind
// the same router.
//
// The embedded bus is not itself durable, and need not be: the router
// writes every message to the store's message log (durably for what a
// sender hands over: the durability boundary) before it publishes it,
// marks it processed in the same transaction as its effects, and at start
// republishes every message the log still holds as received, in the order
// received. A crash loses only the in-memory queue, which the log rebuilds.
//
// Why not a durable bus as well: it wrote every message a second time and
// committed every acknowledgement, on each of an order's hops. With the
// SQLite bus (watermill-sqlite's tables, our own subscriber) the order
// benchmark reached p50 0.37 s / p99 2.5 s at 200 orders/s, its writers
// queueing in SQLite's busy handler; in process, p50 6 ms / p99 28 ms with
// the same durable store (BenchmarkOrderLatency, README).
type Bus struct {
	mu     sync.Mutex
	topics map[string]*queue
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// NewBus returns an empty embedded bus.
func NewBus() *Bus {
	return &Bus{topics: map[string]*queue{}, closed: make(chan struct{})}
}

// queue is one topic's messages in publish order; the head stays until its
// handler acknowledges it.
type queue struct {
	mu         sync.Mutex
	msgs       []*message.Message
	ready      chan struct{} // has a value when msgs may be non-empty
	subscribed bool
}

func (b *Bus) queue(topic string) *queue {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.topics[topic]
	if q == nil {
		q = &queue{ready: make(chan struct{}, 1)}
		b.topics[topic] = q
	}
	return q
}

// Publish implements message.Publisher: msgs are queued on topic, after
// every message published to it before. It does not wait for a handler.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	select {
	case <-b.closed:
		return fmt.Errorf("publish to %s: the bus is closed", topic)
	default:
	}
	q := b.queue(topic)
	q.mu.Lock()
	q.msgs = append(q.msgs, msgs...)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // already signalled
	}
	return nil
}

// Len is how many messages wait on topic, its head included.
func (b *Bus) Len(topic string) int {
	q := b.queue(topic)
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// head waits for the topic's first message.
func (q *queue) head(ctx context.Context) (*message.Message, bool) {
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			q.mu.Unlock()
			return m, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-q.ready:
		}
	}
}

// pop removes the head once it is acknowledged.
func (q *queue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs[0] = nil
	q.msgs = q.msgs[1:]
	if len(q.msgs) == 0 {
		q.msgs = nil // let a drained backlog's array go
	}
}

// subscriber returns the subscriber of the consumer group (a handler's
// name). Every topic has one handler: the router gives each pipeline
// reading a topic its own copy of the message on its own input topic.
func (b *Bus) subscriber(group string) (message.Subscriber, error) {
	return &subscriber{bus: b, group: group, done: make(chan struct{})}, nil
}

type subscriber struct {
	bus   *Bus
	group string
	once  sync.Once
	done  chan struct{}
	wg    sync.WaitGroup
}

// Subscribe implements message.Subscriber. A topic takes one subscription
// at a time: the queue hands its head to one handler and waits for it, which
// is what keeps a partition in order.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	q := s.bus.queue(topic)
	q.mu.Lock()
	if q.subscribed {
		q.mu.Unlock()
		return nil, fmt.Errorf("bus: %s: topic %s already has a subscriber", s.group, topic)
	}
	q.subscribed = true
	q.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	go func() { // the subscription ends with its context, the group or the bus
		select {
		case <-ctx.Done():
		case <-s.done:
		case <-s.bus.closed:
		}
		cancel()
	}()
	out := make(chan *message.Message)
	s.wg.Add(1)
	s.bus.wg.Add(1)
	go func() {
		defer s.bus.wg.Done()
		defer s.wg.Done()
		defer cancel()
		defer close(out)
		defer func() {
			q.mu.Lock()
			q.subscribed = false
			q.mu.Unlock()
		}()
		for {
			m, ok := q.head(ctx)
			if !ok || !deliver(ctx, out, m) {
				return
			}
			q.pop()
		}
	}()
	return out, nil
}

// deliver hands m to the handler until it is acknowledged; a nack hands it
// over again. It returns false when the subscription ends first; m then
// stays at the head of its queue.
func deliver(ctx context.Context, out chan<- *message.Message, m *message.Message) bool {
	for {
		wm := m.Copy()
		msgCtx, cancel := context.WithCancel(ctx)
		wm.SetContext(msgCtx)
		select {
		case <-ctx.Done():
			cancel()
			return false
		case out <- wm:
		}
		select {
		case <-ctx.Done():
			cancel()
			return false
		case <-wm.Acked():
			cancel()
			return true
		case <-wm.Nacked():
			cancel()
		}
	}
}

// Close implements message.Subscriber: it ends the group's subscriptions.
func (s *subscriber) Close() error {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
	return nil
}

// Close ends every subscription; later publishes fail. What was queued
// and not handled is still received in the message log.
func (b *Bus) Close() error {
	b.once.Do(func() { close(b.closed) })
	b.wg.Wait()
	return nil
}
