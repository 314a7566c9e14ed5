package router

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// Deliver returns the DeliverFunc a source of pipeline name hands messages to.
func (r *Router) Deliver(name string) (adapters.DeliverFunc, error) {
	p, ok := r.plans[name]
	if !ok {
		return nil, fmt.Errorf("unknown pipeline %q", name)
	}
	return func(ctx context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		if p.MaxBody > 0 && int64(len(m.Body)) > p.MaxBody {
			return adapters.Receipt{}, adapters.Permanent(fmt.Errorf("pipeline %s: body is %d bytes, over the limit of %d", p.Name, len(m.Body), p.MaxBody))
		}
		return r.ingest(ctx, p, "adapter:"+p.From.Adapter, m)
	}, nil
}

// Ingest records m as a new message of pipeline name and queues it. The
// receipt names the message's ID in the log: m's own, or for a duplicate
// of one already known (then nothing is queued) the first one's.
func (r *Router) Ingest(ctx context.Context, name, source string, m knutpunkt.Message) (adapters.Receipt, error) {
	p, ok := r.plans[name]
	if !ok {
		return adapters.Receipt{}, fmt.Errorf("unknown pipeline %q", name)
	}
	return r.ingest(ctx, p, source, m.Clone())
}

func (r *Router) ingest(ctx context.Context, p *pipeline.Plan, source string, m knutpunkt.Message) (adapters.Receipt, error) {
	if r.stopping.Load() {
		return adapters.Receipt{}, ErrStopping
	}
	if err := r.ready(p.Name); err != nil {
		return adapters.Receipt{}, err // transient: the sender retries once the secret is there
	}
	if m.ID == "" {
		m.ID = r.cfg.NewID()
	}
	if m.Headers == nil {
		m.Headers = map[string]string{}
	}
	// A message handed over is its own: only a replay stands in for another.
	delete(m.Headers, knutpunkt.HeaderIdempotencyKey)
	topic := inputTopic(p, partitionOf(p, m.Headers))
	if r.cfg.Bus.Len(topic) >= r.cfg.MaxQueue || !r.admit(ctx, m.ID, p.Name, int64(len(m.Body))) {
		r.busy.Add(1)
		return adapters.Receipt{}, ErrBusy
	}
	return r.save(ctx, p, source, topic, m)
}

// save logs m and then publishes it on topic: the message is durable in the
// log before it is on the bus, and Run republishes any that never made it.
func (r *Router) save(ctx context.Context, p *pipeline.Plan, source, topic string, m knutpunkt.Message) (adapters.Receipt, error) {
	o := outbound(p, source, topic, m)
	r.hold(m.ID, p.Name, int64(len(m.Body)))
	id, dup, err := r.cfg.MessageLog.SaveInbound(ctx, p.Name, source, o.Msg)
	if err != nil {
		r.release(m.ID)
		return adapters.Receipt{}, fmt.Errorf("pipeline %s: save message %s: %w", p.Name, m.ID, err)
	}
	return adapters.Receipt{ID: id, Duplicate: dup}, r.queue([]Outbound{o}, []bool{dup})
}

// publish puts m on the bus; its caller holds it already (save, commit,
// the sweep, a waiting message's requeue).
func (r *Router) publish(topic string, m knutpunkt.Message) error {
	wm := message.NewMessage(m.ID, m.Body)
	for k, v := range m.Headers {
		wm.Metadata.Set(k, v)
	}
	middleware.SetCorrelationID(m.Headers[knutpunkt.HeaderCorrelationID], wm)
	if err := r.cfg.Bus.Publish(topic, wm); err != nil {
		return fmt.Errorf("publish %s to %s: %w", m.ID, topic, err)
	}
	return nil
}

// Replay queues a copy of a dead message again, on the topic it failed on,
// as a new message that names the one it replays (HeaderReplayOf). The copy
// has no external id, so the idempotency check does not take it for the
// original, but it keeps the original's idempotency key
// (knutpunkt.HeaderIdempotencyKey), so a sink delivers it, and whatever it
// derives, as what the receiver may have had already. It returns the new
// message's ID.
func (r *Router) Replay(ctx context.Context, name string, dead knutpunkt.Message) (string, error) {
	p, ok := r.plans[name]
	if !ok {
		return "", fmt.Errorf("replay %s: unknown pipeline %q", dead.ID, name)
	}
	if err := r.ready(name); err != nil {
		return "", fmt.Errorf("replay %s: %w", dead.ID, err)
	}
	m := dead.Clone()
	m.ID = r.cfg.NewID()
	m.Headers[HeaderReplayOf] = dead.ID
	m.Headers[knutpunkt.HeaderIdempotencyKey] = dead.IdempotencyKey()
	delete(m.Headers, knutpunkt.HeaderExternalID)
	topic := m.Headers[HeaderTopic]
	if topic == "" {
		topic = inputTopic(p, 0)
	}
	if _, err := r.save(ctx, p, "replay", topic, m); err != nil {
		return "", err
	}
	return m.ID, nil
}
