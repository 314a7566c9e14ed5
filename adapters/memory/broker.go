package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/knutpunkt/knutpunkt"
)

// ErrUnavailable is returned by Publish and the sink while the broker is
// down (see Broker.Down); it is transient.
var ErrUnavailable = errors.New("memory broker is down")

// DedupWindow is how many recent message IDs each topic remembers to make
// Publish idempotent. A message ID older than that may be accepted again.
const DedupWindow = 10000

// Broker holds the topics of memory adapters: every memory source and sink
// bound to one Broker with the same topic shares one queue. A Broker is the
// whole state of the adapter, so the adapter package itself has none: each
// Registry that registers memory adapters (see Register) brings its own
// Broker, and two tests never see each other's messages.
//
// Besides the adapters, a Broker is the fake vendor for tests: Publish,
// Drain, Pending and Acked look at a topic from outside, and Down, Up and
// SetSendFault inject faults. A Broker is safe for concurrent use.
type Broker struct {
	mu     sync.Mutex
	topics map[string]*topic
	down   bool
	fault  func(ctx context.Context, topic string, m knutpunkt.Message) error
}

type topic struct {
	queue    []knutpunkt.Message
	inflight int
	acked    int
	seen     map[string]struct{}
	seenFIFO []string
	wake     chan struct{} // closed and replaced whenever the queue may have work
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{topics: map[string]*topic{}} }

// topic returns the named topic, creating it; b.mu must be held.
func (b *Broker) topic(name string) *topic {
	t, ok := b.topics[name]
	if !ok {
		t = &topic{seen: map[string]struct{}{}, wake: make(chan struct{})}
		b.topics[name] = t
	}
	return t
}

func (t *topic) notify() {
	close(t.wake)
	t.wake = make(chan struct{})
}

// Publish appends m to the topic's queue. A message whose non-empty
// idempotency key (its ID, or a replay's original's) the topic has seen in
// its last DedupWindow messages is dropped silently, which makes Publish
// idempotent. While the broker is down Publish returns
// ErrUnavailable.
func (b *Broker) Publish(topicName string, m knutpunkt.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return ErrUnavailable
	}
	t := b.topic(topicName)
	if key := m.IdempotencyKey(); key != "" {
		if _, dup := t.seen[key]; dup {
			return nil
		}
		t.seen[key] = struct{}{}
		t.seenFIFO = append(t.seenFIFO, key)
		if len(t.seenFIFO) > DedupWindow {
			delete(t.seen, t.seenFIFO[0])
			t.seenFIFO = t.seenFIFO[1:]
		}
	}
	t.queue = append(t.queue, m.Clone())
	t.notify()
	return nil
}

// send is the sink's way in: the injected fault first, then Publish.
func (b *Broker) send(ctx context.Context, topicName string, m knutpunkt.Message) error {
	b.mu.Lock()
	fault := b.fault
	b.mu.Unlock()
	if fault != nil {
		if err := fault(ctx, topicName, m); err != nil {
			return err
		}
	}
	return b.Publish(topicName, m)
}

// Drain removes and returns the queued messages of a topic, oldest first:
// the view of a vendor that consumes what memory sinks sent.
func (b *Broker) Drain(topicName string) []knutpunkt.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topic(topicName)
	out := t.queue
	t.queue = nil
	return out
}

// Pending counts the messages of a topic not yet acknowledged: queued, or
// handed to a source's deliver that has not returned nil.
func (b *Broker) Pending(topicName string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topic(topicName)
	return len(t.queue) + t.inflight
}

// Acked counts the messages of a topic that sources delivered successfully.
func (b *Broker) Acked(topicName string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.topic(topicName).acked
}

// Down simulates an outage until Up: Publish and sinks fail with
// ErrUnavailable, sources receive nothing and Check fails.
func (b *Broker) Down() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = true
}

// Up ends an outage.
func (b *Broker) Up() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = false
	for _, t := range b.topics {
		t.notify()
	}
}

// SetSendFault makes every sink Send call f first and fail with its error,
// if any; nil removes the fault. Pipeline tests use it to simulate a vendor
// that rejects (return adapters.Permanent(...)), fails transiently, or hangs
// (block until ctx is done).
func (b *Broker) SetSendFault(f func(ctx context.Context, topic string, m knutpunkt.Message) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault = f
}

// available reports an error while the broker is down.
func (b *Broker) available() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return ErrUnavailable
	}
	return nil
}

// take pops the head of the queue for delivery. With nothing to take it
// returns a channel that is closed when there may be.
func (b *Broker) take(topicName string) (knutpunkt.Message, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topic(topicName)
	if b.down || len(t.queue) == 0 {
		return knutpunkt.Message{}, false, t.wake
	}
	m := t.queue[0]
	t.queue = t.queue[1:]
	t.inflight++
	return m, true, nil
}

// settle acks m (the source is done with it: delivered, or refused for
// good by the hub), or requeues it at the head of the queue so that it is
// redelivered before anything behind it.
func (b *Broker) settle(topicName string, m knutpunkt.Message, requeue bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topic(topicName)
	t.inflight--
	if !requeue {
		t.acked++
		return
	}
	t.queue = append([]knutpunkt.Message{m}, t.queue...)
	t.notify()
}
