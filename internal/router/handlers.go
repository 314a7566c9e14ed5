package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

func (r *Router) addHandler(p *pipeline.Plan, name, topic string, h message.NoPublishHandlerFunc) error {
	sub, err := r.cfg.Bus.subscriber(name)
	if err != nil {
		return err
	}
	handler := r.wm.AddConsumerHandler(name, topic, sub, h)
	retry := middleware.Retry{
		MaxRetries:      p.Retry.Attempts - 1,
		InitialInterval: p.Retry.Backoff,
		MaxInterval:     p.Retry.MaxBackoff,
		Multiplier:      2,
	}
	handler.AddMiddleware(
		r.releaseFinished,
		middleware.CorrelationID,
		r.deadLetterFilter(p),
		retry.Middleware,
		r.stopRetrying,
		middleware.Recoverer,
	)
	return nil
}

// stopRetrying tells the Retry middleware not to retry an error that
// retrying cannot fix, nor any error once the hub is stopping (the message
// is handed back to the log instead, see deadLetterFilter). (Retry's own
// ShouldRetry and OnRetryHook each draw from its backoff, so with them the
// waits grew two steps per failure.)
func (r *Router) stopRetrying(h message.HandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		out, err := h(m)
		if err != nil && (adapters.IsPermanent(err) || r.stopping.Load()) {
			return out, backoff.Permanent(err)
		}
		return out, err
	}
}

// processHandler runs the plan on one message, commits its writes with its
// status, then publishes its outputs.
func (r *Router) processHandler(p *pipeline.Plan) message.NoPublishHandlerFunc {
	return func(wm *message.Message) error {
		if len(wm.Payload) > LargeBody {
			// Decoding, validating and mapping a body takes many
			// times its size; one large one at a time, hub-wide, keeps
			// that within the memory the in-flight bound leaves.
			r.large.Lock()
			defer r.large.Unlock()
		}
		ctx := wm.Context()
		m := fromWatermill(wm)
		if done, err := r.finishedAlready(ctx, m.ID); err != nil || done {
			return err
		}
		res, err := p.Process(ctx, m)
		if err != nil {
			if lerr := r.cfg.MessageLog.RecordAttempt(ctx, p.Name, stepOf(err), m.ID, err); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		outs, err := r.outputs(p, res.Outputs)
		if err != nil {
			return err
		}
		if err := r.commit(ctx, p, m.ID, res.Writes, outs); err != nil {
			err = &pipeline.StepError{Pipeline: p.Name, Step: "commit", MessageID: m.ID, Err: err}
			var de *DeferredError
			if errors.As(err, &de) {
				return r.deferMessage(ctx, p, m, err)
			}
			if lerr := r.cfg.MessageLog.RecordAttempt(ctx, p.Name, "commit", m.ID, err); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		return nil
	}
}

// finishedAlready reports whether the message handed over is finished in
// the log already; see takeFresh for when the log need not be asked.
func (r *Router) finishedAlready(ctx context.Context, id string) (bool, error) {
	if r.takeFresh(id) {
		return false, nil
	}
	return r.cfg.MessageLog.Done(ctx, id)
}

// commit commits message msgID of p with its writes and outs (see
// MessageLog.Commit), then queues the outs the log did not know already. The outs
// are held from before the commit, so the sweep never takes one for a
// message nobody is seeing to.
func (r *Router) commit(ctx context.Context, p *pipeline.Plan, msgID string, writes []pipeline.Write, outs []Outbound) error {
	for _, o := range outs {
		r.hold(o.Msg.ID, o.Pipeline, int64(len(o.Msg.Body)))
	}
	dups, err := r.cfg.MessageLog.Commit(ctx, p.Name, msgID, writes, outs)
	if err != nil {
		for _, o := range outs {
			r.release(o.Msg.ID)
		}
		return err
	}
	return r.queue(outs, dups)
}

// outputs turns a run's outputs into the messages to log with its commit:
// a topic output becomes a message of every pipeline reading the topic, a
// sink output a delivery on the pipeline's out topic for that sink.
func (r *Router) outputs(p *pipeline.Plan, outputs []pipeline.Output) ([]Outbound, error) {
	var outs []Outbound
	sinks := p.Sinks()
	for _, out := range outputs {
		msg := derived(out.Msg)
		if msg.Headers[knutpunkt.HeaderCorrelationID] == "" {
			msg.Headers[knutpunkt.HeaderCorrelationID] = out.Msg.ID
		}
		if out.To.Topic != "" {
			outs = append(outs, r.topicOutbound(out.To.Topic, "topic:", msg, true)...)
			continue
		}
		i := slices.IndexFunc(sinks, func(ep pipeline.Endpoint) bool { return ep.Path == out.To.Path })
		if i < 0 {
			return nil, fmt.Errorf("pipeline %s: no sink for %s", p.Name, out.To.Path)
		}
		// The delivery's ID is derived, not random, so a redelivered input
		// produces the same delivery and the sink's idempotency holds.
		deriveID(&msg, out.Msg, ".to"+strconv.Itoa(i))
		outs = append(outs, outbound(p, "deliver:"+sinks[i].Adapter, outputTopic(p, i, partitionOf(p, out.Msg.Headers)), msg))
	}
	return outs, nil
}

// topicOutbound is msg as a message of each pipeline reading topic, each
// with its own ID, status, attempts and dead letters. A derived copy's ID
// comes from msg's (see deriveID); otherwise msg is a new message (a
// vendor's reply) and each copy gets a new ID and key.
func (r *Router) topicOutbound(topic, source string, msg knutpunkt.Message, derive bool) []Outbound {
	if len(r.consumers[topic]) == 0 {
		r.log.Debug("no pipeline reads topic", zap.String("topic", topic))
	}
	var outs []Outbound
	for _, c := range r.consumers[topic] {
		m := msg.Clone()
		if derive {
			deriveID(&m, msg, "."+topic+"."+c.Name)
		} else {
			m.ID = r.cfg.NewID()
			delete(m.Headers, knutpunkt.HeaderIdempotencyKey)
		}
		outs = append(outs, outbound(c, source+topic, inputTopic(c, partitionOf(c, m.Headers)), m))
	}
	return outs
}

// deriveID names d, derived from parent, by parent's ID and suffix.
// Derived, not random: the same output handed over again is the same
// message, which the log recognises, and a sink's idempotency holds. A
// parent that stands in for another (a replay) passes its key on the same
// way, so what a replay derives reaches the receiver under the key the
// first run used.
func deriveID(d *knutpunkt.Message, parent knutpunkt.Message, suffix string) {
	d.ID = parent.ID + suffix
	if k := parent.Headers[knutpunkt.HeaderIdempotencyKey]; k != "" {
		d.Headers[knutpunkt.HeaderIdempotencyKey] = k + suffix
	} else {
		delete(d.Headers, knutpunkt.HeaderIdempotencyKey)
	}
}

// outbound is m as logged and queued on topic of pipeline p.
func outbound(p *pipeline.Plan, source, topic string, m knutpunkt.Message) Outbound {
	if m.Headers == nil {
		m.Headers = map[string]string{}
	}
	m.Headers[HeaderTopic] = topic
	if m.Headers[knutpunkt.HeaderCorrelationID] == "" {
		m.Headers[knutpunkt.HeaderCorrelationID] = m.ID
	}
	return Outbound{Pipeline: p.Name, Source: source, Topic: topic, Msg: m}
}

// queue publishes the committed outs that were new.
func (r *Router) queue(outs []Outbound, dups []bool) error {
	for i, o := range outs {
		if i < len(dups) && dups[i] {
			r.log.Debug("duplicate message", zap.String("pipeline", o.Pipeline), zap.String("msg_id", o.Msg.ID))
			r.release(o.Msg.ID)
			continue
		}
		if r.notReady[o.Pipeline] != nil {
			// Logged as received: it waits in the log for a start that
			// has the pipeline's secret.
			r.release(o.Msg.ID)
			continue
		}
		if err := r.publish(o.Topic, o.Msg); err != nil {
			return err
		}
	}
	return nil
}

// publishTopic hands msg to every pipeline reading topic (see
// topicOutbound), logging each on its own.
func (r *Router) publishTopic(ctx context.Context, topic string, msg knutpunkt.Message) error {
	for _, o := range r.topicOutbound(topic, "topic:", msg, true) {
		if _, err := r.save(ctx, r.plans[o.Pipeline], o.Source, o.Topic, o.Msg); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) deliverHandler(p *pipeline.Plan, ep pipeline.Endpoint, sink adapters.Sink) message.NoPublishHandlerFunc {
	step := ep.Path + "." + ep.Adapter
	return func(wm *message.Message) error {
		ctx := wm.Context()
		m := fromWatermill(wm)
		if done, err := r.finishedAlready(ctx, m.ID); err != nil || done {
			return err
		}
		delete(m.Headers, HeaderTopic)
		reply, err := send(ctx, sink, m, p.ReplyTo != "")
		if err != nil {
			err = &pipeline.StepError{Pipeline: p.Name, Step: step, MessageID: m.ID, Err: err}
			if lerr := r.cfg.MessageLog.RecordAttempt(ctx, p.Name, step, m.ID, err); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		var outs []Outbound
		if reply != nil {
			// The reply is a new inbound message from the vendor: it keeps
			// its own external id, the idempotency key that recognises the
			// same answer given twice, and gets a new ID.
			rm := reply.Clone()
			if rm.Headers[knutpunkt.HeaderCorrelationID] == "" {
				rm.Headers[knutpunkt.HeaderCorrelationID] = m.Headers[knutpunkt.HeaderCorrelationID]
			}
			rm.Headers[HeaderReplyTo] = m.ID
			outs = r.topicOutbound(p.ReplyTo, "reply:", rm, false)
		}
		return r.commit(ctx, p, m.ID, nil, outs)
	}
}

// send delivers m, asking for the vendor's reply when the pipeline has
// somewhere to put it and the sink can give one.
func send(ctx context.Context, sink adapters.Sink, m knutpunkt.Message, wantReply bool) (*knutpunkt.Message, error) {
	if rs, ok := sink.(adapters.Replier); ok && wantReply {
		return rs.SendWithReply(ctx, m)
	}
	return nil, sink.Send(ctx, m)
}

// deadLetterFilter turns a handler's final failure into a dead letter: the
// message is acknowledged on the bus and kept in the store with its reason,
// ready for replay.
func (r *Router) deadLetterFilter(p *pipeline.Plan) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(wm *message.Message) ([]*message.Message, error) {
			out, err := h(wm)
			if err == nil {
				return out, nil
			}
			ctx := wm.Context()
			m := fromWatermill(wm)
			if ctx.Err() != nil {
				return nil, err // shutting down: leave the message for redelivery
			}
			if r.stopping.Load() && !adapters.IsPermanent(err) {
				// A failure retrying might cure: the next start tries again.
				r.log.Info("handed back to the log for the next start", zap.String("pipeline", p.Name),
					zap.String("msg_id", m.ID), zap.String("step", stepOf(err)), zap.Error(err))
				return nil, errHandedBack
			}
			if derr := r.cfg.MessageLog.DeadLetter(ctx, p.Name, m.ID, err); derr != nil {
				return nil, errors.Join(err, derr)
			}
			r.log.Warn("dead letter", zap.String("pipeline", p.Name), zap.String("msg_id", m.ID),
				zap.String("step", stepOf(err)), zap.Error(err))
			if p.DeadLetterTopic != "" {
				m.Headers[HeaderDeadReason] = err.Error()
				if perr := r.publishTopic(ctx, p.DeadLetterTopic, m); perr != nil {
					return nil, perr
				}
			}
			return nil, nil
		}
	}
}

func stepOf(err error) string {
	var se *pipeline.StepError
	if errors.As(err, &se) {
		return se.Step
	}
	if err != nil {
		return "handler"
	}
	return ""
}

// derived copies m for a message derived from it, moving its external id to
// HeaderOriginExternalID (see there).
func derived(m knutpunkt.Message) knutpunkt.Message {
	d := m.Clone()
	if ext, ok := d.Headers[knutpunkt.HeaderExternalID]; ok {
		d.Headers[HeaderOriginExternalID] = ext
		delete(d.Headers, knutpunkt.HeaderExternalID)
	}
	return d
}

func fromWatermill(wm *message.Message) knutpunkt.Message {
	h := make(map[string]string, len(wm.Metadata))
	for k, v := range wm.Metadata {
		if k == middleware.CorrelationIDMetadataKey {
			continue
		}
		h[k] = v
	}
	return knutpunkt.Message{ID: wm.UUID, Headers: h, Body: wm.Payload}
}
