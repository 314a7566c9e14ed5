package router

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// publishN publishes messages from..from+n-1 on topic; it may run on a
// goroutine of its own (it reports with Error, not Fatal).
func publishN(t *testing.T, b *Bus, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := b.Publish(topic, message.NewMessage(strconv.Itoa(i), []byte("body "+strconv.Itoa(i)))); err != nil {
			t.Error(err)
			return
		}
	}
}

func subscribe(t *testing.T, b *Bus, ctx context.Context, topic string) <-chan *message.Message {
	t.Helper()
	sub, err := b.subscriber("group." + topic)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// next receives one message or fails after a second.
func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription ended")
		}
		return m
	case <-time.After(time.Second):
		t.Fatal("no message within 1s")
		return nil
	}
}

// A partition's order is the bus's order: whatever was published before
// and after the handler subscribed arrives once each, in publish order,
// with its payload and metadata.
func TestBusDeliversInPublishOrder(t *testing.T) {
	b := NewBus()
	defer b.Close()
	publishN(t, b, "in.p.0", 0, 500)
	ch := subscribe(t, b, t.Context(), "in.p.0")
	go publishN(t, b, "in.p.0", 500, 500)
	for i := range 1000 {
		m := next(t, ch)
		if m.UUID != strconv.Itoa(i) || string(m.Payload) != "body "+strconv.Itoa(i) {
			t.Fatalf("message %d: got %s %q", i, m.UUID, m.Payload)
		}
		m.Ack()
	}
	select {
	case m := <-ch:
		t.Fatalf("extra message %s", m.UUID)
	case <-time.After(20 * time.Millisecond):
	}
}

// The head is handed over again until it is acknowledged; nothing behind it
// overtakes it.
func TestBusRedeliversNackedHead(t *testing.T) {
	b := NewBus()
	defer b.Close()
	publishN(t, b, "t", 0, 2)
	ch := subscribe(t, b, t.Context(), "t")
	for range 3 {
		m := next(t, ch)
		if m.UUID != "0" {
			t.Fatalf("got %s before 0 was acknowledged", m.UUID)
		}
		m.Nack()
	}
	next(t, ch).Ack()
	if m := next(t, ch); m.UUID != "1" {
		t.Fatalf("after 0: got %s, want 1", m.UUID)
	}
}

// A topic has one subscription at a time; when it ends, the unacknowledged
// head waits for the next one.
func TestBusOneSubscriberPerTopic(t *testing.T) {
	b := NewBus()
	defer b.Close()
	publishN(t, b, "t", 0, 2)
	ctx, cancel := context.WithCancel(t.Context())
	ch := subscribe(t, b, ctx, "t")
	if m := next(t, ch); m.UUID != "0" {
		t.Fatalf("got %s, want 0", m.UUID)
	} // not acknowledged
	sub, _ := b.subscriber("other")
	if _, err := sub.Subscribe(t.Context(), "t"); err == nil {
		t.Fatal("a second subscription of the same topic was accepted")
	}
	cancel()
	for range ch { // drains to closed
	}
	var ch2 <-chan *message.Message
	deadline := time.Now().Add(time.Second)
	for {
		// The first subscription lets go of the topic as it ends.
		c, err := sub.Subscribe(t.Context(), "t")
		if err == nil {
			ch2 = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic still taken after its subscription ended: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if m := next(t, ch2); m.UUID != "0" {
		t.Fatalf("after resubscribing: got %s, want the unacknowledged 0", m.UUID)
	}
}

// A stuck head holds up its own topic only.
func TestBusTopicsIndependent(t *testing.T) {
	b := NewBus()
	defer b.Close()
	publishN(t, b, "a", 0, 2)
	publishN(t, b, "b", 0, 2)
	a, bb := subscribe(t, b, t.Context(), "a"), subscribe(t, b, t.Context(), "b")
	_ = next(t, a) // held, never acknowledged
	for i := range 2 {
		m := next(t, bb)
		if m.UUID != fmt.Sprint(i) {
			t.Fatalf("topic b: got %s, want %d", m.UUID, i)
		}
		m.Ack()
	}
}

// Closing the bus ends its subscriptions and refuses publishes; closing a
// group's subscriber ends that group's.
func TestBusClose(t *testing.T) {
	t.Run("bus", func(t *testing.T) {
		b := NewBus()
		ch := subscribe(t, b, context.Background(), "t")
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-ch; ok {
			t.Fatal("subscription still open after Close")
		}
		if err := b.Publish("t", message.NewMessage("1", nil)); err == nil {
			t.Fatal("publish after Close succeeded")
		}
	})
	t.Run("subscriber", func(t *testing.T) {
		b := NewBus()
		defer b.Close()
		sub, _ := b.subscriber("g")
		ch, err := sub.Subscribe(context.Background(), "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-ch; ok {
			t.Fatal("subscription still open after its subscriber's Close")
		}
		if err := b.Publish("t", message.NewMessage("1", nil)); err != nil {
			t.Fatalf("publish with the bus open: %v", err)
		}
	})
}
