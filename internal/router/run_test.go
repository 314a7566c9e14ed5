package router

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// memLog is a message log in memory: enough for the router's start and
// stop, whose tests run in a synctest bubble where a database would be
// real I/O.
type memLog struct {
	mu      sync.Mutex
	status  map[string]string // message ID → received, processed, dead
	pending []knutpunkt.Message
	asked   map[string]int // Done calls by message ID
}

func newMemLog() *memLog { return &memLog{status: map[string]string{}, asked: map[string]int{}} }

// leftBefore logs m as received by an earlier run of the hub, on topic.
func (l *memLog) leftBefore(m knutpunkt.Message, topic string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m.Headers = map[string]string{HeaderTopic: topic}
	l.status[m.ID] = "received"
	l.pending = append(l.pending, m)
}

func (l *memLog) set(id, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status[id] = s
}

func (l *memLog) get(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status[id]
}

func (l *memLog) SaveInbound(_ context.Context, _, _ string, m knutpunkt.Message) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.status[m.ID]; ok {
		return m.ID, true, nil
	}
	l.status[m.ID] = "received"
	return m.ID, false, nil
}

func (l *memLog) RecordAttempt(context.Context, string, string, string, error) error { return nil }

func (l *memLog) Commit(_ context.Context, _, id string, _ []pipeline.Write, outs []Outbound) ([]bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status[id] = "processed"
	for _, o := range outs {
		l.status[o.Msg.ID] = "received"
	}
	return make([]bool, len(outs)), nil
}

func (l *memLog) DeadLetter(_ context.Context, _, id string, _ error) error {
	l.set(id, "dead")
	return nil
}

func (l *memLog) Pending(_ context.Context, _ string, known func(string) bool) iter.Seq2[knutpunkt.Message, error] {
	return func(yield func(knutpunkt.Message, error) bool) {
		l.mu.Lock()
		pending := slices.Clone(l.pending)
		l.mu.Unlock()
		for _, m := range pending {
			if l.get(m.ID) == "received" && !known(m.ID) && !yield(m, nil) {
				return
			}
		}
	}
}

func (l *memLog) Done(_ context.Context, id string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked[id]++
	s := l.status[id]
	return s == "processed" || s == "dead", nil
}

func (l *memLog) timesAsked(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked[id]
}

// relay is a pipeline from one memory queue to another with no steps: what
// is in flight is its delivery, which a broker fault holds as long as a
// test wants.
const relay = `
from:
  memory: {topic: vendor.in}
to:
  memory: {topic: vendor.out}
`

func newRelay(t *testing.T, broker *memory.Broker, bus *Bus, shutdown time.Duration) (*Router, *memLog) {
	return newRelayWith(t, broker, bus, Config{ShutdownTimeout: shutdown})
}

func newRelayWith(t *testing.T, broker *memory.Broker, bus *Bus, cfg Config) (*Router, *memLog) {
	t.Helper()
	reg := &adapters.Registry{}
	memory.Register(reg, broker)
	plan, err := pipeline.Parse("relay.yaml", []byte(relay), pipeline.Resources{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	log := newMemLog()
	cfg.Plans, cfg.MessageLog, cfg.Bus, cfg.Registry = []*pipeline.Plan{plan}, log, bus, reg
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, log
}

// runRelayWithOneInFlight runs a relay with a 30 s shutdown timeout and
// sends it one message, returning once the broker's send fault has entered
// (closed or sent on entered) and everything else has settled: the
// message's delivery is in flight, the message itself finished. It runs in
// a synctest bubble.
func runRelayWithOneInFlight(t *testing.T, broker *memory.Broker, bus *Bus, entered chan struct{}) (*Router, *memLog, context.CancelFunc, chan error) {
	r, log := newRelay(t, broker, bus, 30*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()
	broker.Publish("vendor.in", knutpunkt.Message{ID: "m1", Body: []byte(`{}`)})
	<-entered
	synctest.Wait() // the input's handler has let go of it
	return r, log, cancel, done
}

// A handler whose subscription fails makes Run fail with that error; it
// used to wait forever for the handlers to run.
func TestRunFailsWhenAHandlerCannotStart(t *testing.T) {
	// Not in a synctest bubble: Watermill leaves goroutines waiting after
	// a failed start, which a bubble reports as a deadlock.
	bus := NewBus()
	defer bus.Close()
	r, _ := newRelay(t, memory.NewBroker(), bus, time.Second)
	defer r.Close()
	// Someone else holds the pipeline's input queue.
	sub, _ := bus.subscriber("intruder")
	if _, err := sub.Subscribe(t.Context(), "in.relay.0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "start pipelines") || !strings.Contains(err.Error(), "already has a subscriber") {
			t.Fatalf("Run = %v, want the handler's subscribe error", err)
		}
	case <-time.After(time.Minute): // a guard, not a wait: Run answers at once
		t.Fatal("Run did not return after a handler failed to start")
	}
}

// Stopping refuses new messages at once and lets the one in flight finish:
// its delivery reaches the vendor and nothing is left for the next start.
func TestStopDrainsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broker := memory.NewBroker()
		entered, release := make(chan struct{}), make(chan struct{})
		broker.SetSendFault(func(context.Context, string, knutpunkt.Message) error {
			close(entered)
			<-release // the vendor is slow, and the hub waits for it
			return nil
		})
		bus := NewBus()
		defer bus.Close()
		r, log, cancel, done := runRelayWithOneInFlight(t, broker, bus, entered)
		defer r.Close()
		cancel()
		synctest.Wait()
		if _, err := r.Ingest(t.Context(), "relay", "test", knutpunkt.Message{ID: "m2", Body: []byte(`{}`)}); !errors.Is(err, ErrStopping) {
			t.Errorf("Ingest while stopping = %v, want ErrStopping", err)
		}
		if err := r.Check(t.Context()); !errors.Is(err, ErrStopping) {
			t.Errorf("Check while stopping = %v, want ErrStopping", err)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned %v while a delivery was in flight", err)
		default:
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := r.Drained(); got.Finished != 1 || got.Left != 0 || got.TimedOut {
			t.Errorf("Drained = %+v, want one finished, none left", got)
		}
		if s := log.get("m1.to0"); s != "processed" {
			t.Errorf("delivery is %q, want processed", s)
		}
		if s := log.get("m2"); s != "" {
			t.Errorf("message refused while stopping is %q in the log, want absent", s)
		}
		if got := broker.Drain("vendor.out"); len(got) != 1 {
			t.Errorf("vendor got %d messages, want 1", len(got))
		}
	})
}

// A delivery that does not finish within shutdown_timeout is cancelled and
// stays received in the log, neither retried nor dead-lettered: the next
// start sends it.
func TestStopLeavesWhatOutlastsTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broker := memory.NewBroker()
		entered := make(chan struct{})
		broker.SetSendFault(func(ctx context.Context, _ string, _ knutpunkt.Message) error {
			close(entered)
			<-ctx.Done() // the vendor never answers
			return ctx.Err()
		})
		bus := NewBus()
		defer bus.Close()
		r, log, cancel, done := runRelayWithOneInFlight(t, broker, bus, entered)
		defer r.Close()
		stopped := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if took := time.Since(stopped); took != 30*time.Second {
			t.Errorf("stop took %v, want the shutdown timeout, 30s", took)
		}
		if got := r.Drained(); got.Left != 1 || !got.TimedOut || got.Took != 30*time.Second {
			t.Errorf("Drained = %+v, want one left after a 30s timeout", got)
		}
		if s := log.get("m1.to0"); s != "received" {
			t.Errorf("delivery is %q, want received (left for the next start)", s)
		}
	})
}
