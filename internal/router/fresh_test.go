package router

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
)

// A message this process has just logged goes to its handler without a
// read of the log (Done) on the way; one handed over again (a retry, the
// sweep of what an earlier run left) asks whether it is finished already.
func TestOnlyMessagesHandedOverAgainAskTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broker := memory.NewBroker()
		down := true
		broker.SetSendFault(func(_ context.Context, _ string, m knutpunkt.Message) error {
			if m.ID == "m1.to0" && down {
				down = false
				return errors.New("vendor down")
			}
			return nil
		})
		bus := NewBus()
		defer bus.Close()
		r, log := newRelay(t, broker, bus, time.Second)
		defer r.Close()
		log.leftBefore(knutpunkt.Message{ID: "old", Body: []byte(`{}`)}, inputTopic(r.plans["relay"], 0))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-r.Running()
		broker.Publish("vendor.in", knutpunkt.Message{ID: "m1", Body: []byte(`{}`)})
		synctest.Wait()
		time.Sleep(time.Minute) // the bubble's clock: past the retry's backoff
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}

		if got := len(broker.Drain("vendor.out")); got != 2 {
			t.Fatalf("vendor got %d messages, want 2 (old and m1)", got)
		}
		for _, c := range []struct {
			id   string
			want bool
			why  string
		}{
			{"m1", false, "ingested by this process"},
			{"old", true, "swept from an earlier run"},
			{"old.to0", false, "logged by this process's commit, delivered at once"},
			{"m1.to0", true, "its first delivery failed: the retry is a second hand-over"},
		} {
			if asked := log.timesAsked(c.id) > 0; asked != c.want {
				t.Errorf("%s (%s): asked the log = %v, want %v", c.id, c.why, asked, c.want)
			}
			if s := log.get(c.id); s != "processed" {
				t.Errorf("%s is %q, want processed", c.id, s)
			}
		}
	})
}
