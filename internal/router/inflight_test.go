package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

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
		if _, err := r.Admit(60); !errors.Is(err, ErrBusy) {
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
		a, err := r.Admit(60)
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
