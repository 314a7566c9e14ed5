package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
)

// vendor is the far side of a memory topic, seen through the Broker.
type vendor struct {
	b     *memory.Broker
	topic string

	mu  sync.Mutex
	got []knutpunkt.Message
}

// newVendor returns a vendor on a fresh topic of b and the config that
// points an adapter at it; extra is appended to the config.
func newVendor(t testing.TB, b *memory.Broker, extra string) ([]byte, *vendor) {
	v := &vendor{b: b, topic: "t-" + uuid.NewString()}
	t.Cleanup(v.Up)
	return fmt.Appendf(nil, "topic: %s\n%s", v.topic, extra), v
}

func (v *vendor) Emit(_ context.Context, m knutpunkt.Message) error { return v.b.Publish(v.topic, m) }
func (v *vendor) Acked() int                                        { return v.b.Acked(v.topic) }
func (v *vendor) Pending() int                                      { return v.b.Pending(v.topic) }
func (v *vendor) Down()                                             { v.b.Down() }

func (v *vendor) Up() {
	v.b.Up()
	v.b.SetSendFault(nil)
}

func (v *vendor) Received() []knutpunkt.Message {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, v.b.Drain(v.topic)...)
	return append([]knutpunkt.Message(nil), v.got...)
}

func (v *vendor) Reject(r adapterstest.Rejection) {
	v.b.SetSendFault(func(ctx context.Context, _ string, _ knutpunkt.Message) error {
		switch r {
		case adapterstest.RejectFinal:
			return adapters.Permanent(errors.New("topic refuses the message"))
		case adapterstest.RejectRetryable:
			return errors.New("topic busy")
		default:
			<-ctx.Done()
			return ctx.Err()
		}
	})
}

var features = adapterstest.Features{Ordered: true, Check: true, LazyConnect: true}

func TestSource(t *testing.T) {
	b := memory.NewBroker()
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def:      memory.SourceDef(b),
		Features: features,
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			yml, v := newVendor(t, b, "redelivery_delay: 10ms\n")
			return yml, v
		},
	})
}

func TestSink(t *testing.T) {
	b := memory.NewBroker()
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def:      memory.SinkDef(b),
		Features: features,
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			yml, v := newVendor(t, b, "")
			return yml, v
		},
	})
}

// TestSinkToSource checks the point of the adapter: what a sink sends on a
// topic, a source of the same Registry receives, and brokers of different
// registries never mix.
func TestSinkToSource(t *testing.T) {
	r, other := &adapters.Registry{}, &adapters.Registry{}
	memory.Register(r, memory.NewBroker())
	memory.Register(other, memory.NewBroker())

	open := func(r *adapters.Registry) (adapters.Sink, adapters.Source) {
		sinkDef, _ := r.Sink(memory.Name)
		srcDef, _ := r.Source(memory.Name)
		sinkCfg, err := adapters.DecodeConfig(sinkDef.Config, []byte("topic: orders"))
		if err != nil {
			t.Fatal(err)
		}
		srcCfg, err := adapters.DecodeConfig(srcDef.Config, []byte("topic: orders"))
		if err != nil {
			t.Fatal(err)
		}
		sink, err := sinkDef.Open(sinkCfg, adapters.Env{})
		if err != nil {
			t.Fatal(err)
		}
		src, err := srcDef.Open(srcCfg, adapters.Env{})
		if err != nil {
			t.Fatal(err)
		}
		return sink, src
	}
	sink, src := open(r)
	_, otherSrc := open(other)

	if err := sink.Send(t.Context(), knutpunkt.Message{ID: "1", Body: []byte("hej")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan knutpunkt.Message, 2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	deliver := func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		got <- m
		return adapters.Receipt{ID: m.ID}, nil
	}
	go func() { _ = otherSrc.Receive(ctx, deliver) }()
	go func() { _ = src.Receive(ctx, deliver) }()
	if m := <-got; m.ID != "1" || string(m.Body) != "hej" {
		t.Errorf("received %+v, want ID 1 body hej", m)
	}
	cancel()
	if len(got) != 0 {
		t.Errorf("the other registry's source received %+v", <-got)
	}
}
