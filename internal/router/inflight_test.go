package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
)

func body(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }

// While the bodies in flight fill MaxInFlight, ingest and Admit answer
// ErrBusy and nothing of the refused message is logged; once the message in
// flight is finished there is room again.
func TestIngestRefusesWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broker := memory.NewBroker()
		release := make(chan struct{})
		broker.SetSendFault(func(context.Context, string, knutpunkt.Message) error {
			<-release
			return nil
		})
		bus := NewBus()
		defer bus.Close()
		r, log := newRelayWith(t, broker, bus, Config{MaxInFlight: 100})
		defer r.Close()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-r.Running()

		if _, err := r.Ingest(t.Context(), "relay", "test", knutpunkt.Message{ID: "m1", Body: body(60)}); err != nil {
			t.Fatalf("first message: %v", err)
		}
		synctest.Wait() // m1 processed; its delivery waits for the vendor
		if _, err := r.Ingest(t.Context(), "relay", "test", knutpunkt.Message{ID: "m2", Body: body(60)}); !errors.Is(err, ErrBusy) {
			t.Errorf("second message while full = %v, want ErrBusy", err)
		}
		if s := log.get("m2"); s != "" {
			t.Errorf("refused message is %q in the log, want absent", s)
		}
		if _, err := r.Admit("relay", 60); !errors.Is(err, ErrBusy) {
			t.Errorf("Admit while full = %v, want ErrBusy", err)
		}
		if r.Busy() != 2 {
			t.Errorf("Busy = %d, want 2", r.Busy())
		}

		close(release)
		synctest.Wait()
		if got := r.InFlight(); got != 0 {
			t.Errorf("InFlight after the vendor answered = %d, want 0", got)
		}
		a, err := r.Admit("relay", 60)
		if err != nil {
			t.Fatalf("Admit with room: %v", err)
		}
		if _, err := r.Ingest(WithAdmission(t.Context(), a), "relay", "test", knutpunkt.Message{ID: "m2", Body: body(50)}); err != nil {
			t.Fatalf("second message with room: %v", err)
		}
		a.Release() // gives back nothing: the message took the room
		synctest.Wait()
		if s := log.get("m2.to0"); s != "processed" {
			t.Errorf("second message's delivery is %q, want processed", s)
		}
		if got := r.InFlight(); got != 0 {
			t.Errorf("InFlight at the end = %d, want 0 (the admission counted once)", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// A backlog in the log larger than MaxInFlight is queued as room frees up,
// never all at once, and all of it is delivered.
func TestSweepQueuesABacklogAsRoomFrees(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broker := memory.NewBroker()
		const n = 20
		var (
			mu        sync.Mutex
			peak      int64
			sent      int
			r         *Router
			delivered = make(chan struct{})
		)
		broker.SetSendFault(func(context.Context, string, knutpunkt.Message) error {
			mu.Lock()
			defer mu.Unlock()
			peak = max(peak, r.InFlight())
			if sent++; sent == n {
				close(delivered)
			}
			return nil
		})
		bus := NewBus()
		defer bus.Close()
		var log *memLog
		r, log = newRelayWith(t, broker, bus, Config{MaxInFlight: 100})
		defer r.Close()
		for i := range n {
			log.leftBefore(knutpunkt.Message{ID: fmt.Sprintf("old%02d", i), Body: body(60)}, "in.relay.0")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-r.Running()
		<-delivered // the bubble's clock runs the sweeps meanwhile
		synctest.Wait()
		for i := range n {
			if s := log.get(fmt.Sprintf("old%02d.to0", i)); s != "processed" {
				t.Errorf("delivery %d is %q, want processed", i, s)
			}
		}
		if got := len(broker.Drain("vendor.out")); got != n {
			t.Errorf("vendor got %d, want %d", got, n)
		}
		// One input and its delivery may be held together: the overshoot
		// the outputs of a message being handled are allowed.
		if peak > 100+60 {
			t.Errorf("peak in flight %d bytes, want at most MaxInFlight plus one message (160)", peak)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// One pipeline may hold at most half of MaxInFlight, so a flood on one
// leaves room for the others; a body over a limit gets in only when what
// that limit counts is empty.
func TestShares(t *testing.T) {
	bus := NewBus()
	defer bus.Close()
	r, _ := newRelayWith(t, memory.NewBroker(), bus, Config{MaxInFlight: 100})
	defer r.Close()
	steps := []struct {
		id, share string
		size      int64
		want      bool
	}{
		{"t1", "tes", 40, true},
		{"t2", "tes", 20, false}, // tes would hold 60, over half
		{"o1", "orders", 5, true},
		{"o2", "orders", 45, true}, // total 90
		{"x1", "other", 20, false}, // total would be 110
		{"x2", "other", 10, true},  // total 100
	}
	for _, s := range steps {
		if got := r.tryHold(s.id, s.share, s.size); got != s.want {
			t.Errorf("tryHold(%s, %s, %d) = %v, want %v", s.id, s.share, s.size, got, s.want)
		}
	}
	for _, id := range []string{"t1", "o1", "o2", "x2"} {
		r.release(id)
	}
	if r.InFlight() != 0 || len(r.shares) != 0 {
		t.Errorf("after releasing all: in flight %d, shares %v; want nothing", r.InFlight(), r.shares)
	}
	if !r.tryHold("huge", "tes", 500) {
		t.Error("a body over MaxInFlight was refused with nothing in flight")
	}
}

// Each ingest path may bring in MaxIngestRate bytes a second, with a
// second's worth saved up at most: a body is let in while its path is not
// in debt, and a large one puts it in debt until time pays it back. Other
// paths are not touched, and what is in flight is not what counts.
func TestIngestRatePerPath(t *testing.T) {
	bus := NewBus()
	defer bus.Close()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	r, _ := newRelayWith(t, memory.NewBroker(), bus, Config{MaxIngestRate: 1000, Now: func() time.Time { return now }})
	defer r.Close()
	ctx := t.Context()
	n := 0
	steps := []struct {
		wait  time.Duration
		path  string
		size  int64
		admit bool // through Admit (HTTP, before the body); otherwise a polled source's admit
		want  bool
	}{
		{0, "ingest/tes", 600, true, true},                       // 400 left
		{0, "ingest/tes", 600, false, true},                      // in debt: -200
		{0, "ingest/tes", 10, true, false},                       // refused while in debt
		{0, "relay", 10, false, true},                            // another path has its own second
		{100 * time.Millisecond, "ingest/tes", 10, true, false},  // -100
		{200 * time.Millisecond, "ingest/tes", 5000, true, true}, // 100: out of debt, a large body goes in: -4900
		{5 * time.Second, "ingest/tes", 10, false, true},         // paid back to 100: 90 left
		{0, "ingest/tes", 995, true, true},                       // let in, 905 in debt after
		{0, "ingest/tes", 1, false, false},                       // in debt
		{10 * time.Second, "ingest/tes", 1000, true, true},       // ten seconds save up one: 0 left
		{0, "ingest/tes", 1, false, true},                        // not in debt at 0
		{0, "ingest/tes", 1, false, false},                       // in debt
	}
	for i, s := range steps {
		now = now.Add(s.wait)
		n++
		id := fmt.Sprintf("m%d", n)
		var got bool
		if s.admit {
			a, err := r.Admit(s.path, s.size)
			if got = err == nil; got {
				got = r.admit(WithAdmission(ctx, a), id, "relay", s.size)
				a.Release()
			} else if !errors.Is(err, ErrBusy) {
				t.Fatalf("step %d: Admit = %v, want nil or ErrBusy", i, err)
			}
		} else {
			got = r.admit(ctx, id, s.path, s.size)
		}
		if got != s.want {
			t.Errorf("step %d (%s, %d bytes after %v): let in %v, want %v", i, s.path, s.size, s.wait, got, s.want)
		}
		r.release(id) // in flight is not what this bound counts
	}
}
