package router

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// Log is the part of the store the router needs: the message log and the
// commit of a message's entity writes.
type Log interface {
	// SaveInbound durably records m entering pipeline p from source. dup is
	// true when the message was already known (same ID, or same source
	// system and external id); it is then not processed again.
	SaveInbound(ctx context.Context, p, source string, m knutpunkt.Message) (dup bool, err error)
	// RecordAttempt records one processing attempt and its error, if any.
	RecordAttempt(ctx context.Context, p, step, msgID string, attemptErr error) error
	// Commit records the successful attempt, stores writes, marks the
	// message processed and logs outs as received in their pipelines, all
	// in one transaction: the message's effects and the messages it hands
	// on are durable together or not at all, and one commit waits where
	// four would. dup[i] reports outs[i] as already known (not to queue).
	Commit(ctx context.Context, p, msgID string, writes []pipeline.Write, outs []Outbound) (dup []bool, err error)
	// DeadLetter marks the message dead with why: cause is the final error,
	// a *pipeline.StepError naming the step where processing failed.
	DeadLetter(ctx context.Context, p, msgID string, cause error) error
	// Pending returns pipeline p's messages that are received but neither
	// processed nor dead, oldest first, except those known reports true
	// for: after a restart, every unfinished one; while running, those
	// another process logged (knut replay) or a failed publish left.
	Pending(ctx context.Context, p string, known func(id string) bool) ([]knutpunkt.Message, error)
	// Done reports whether message msgID is finished (processed, dead or
	// replayed): the bus may hand a message over again after a stop, and a
	// finished one must not be processed twice.
	Done(ctx context.Context, msgID string) (bool, error)
}

// Outbound is a message a handler hands on, logged with its input's
// commit: as received in Pipeline (from Source), then queued on Topic.
type Outbound struct {
	Pipeline, Source, Topic string
	Msg                     knutpunkt.Message
}

// HeaderTopic records on every logged message the bus topic it was
// published to, so pending messages can be republished after a restart.
const HeaderTopic = "knut-topic"

// HeaderReplayOf is set on a replayed message to the ID it replays.
const HeaderReplayOf = "replay-of"

// HeaderOriginExternalID carries the external id of the inbound message a
// derived message (a delivery, a message to another pipeline) came from.
// The derived message must not carry knutpunkt.HeaderExternalID itself:
// with the source system that is the inbound idempotency key, and the
// message log would take the derived message for a duplicate of its origin.
const HeaderOriginExternalID = "origin-external-id"

// Config is what New needs.
type Config struct {
	Plans    []*pipeline.Plan
	Log      Log
	Bus      *Bus
	Registry *adapters.Registry
	// Env returns the adapter environment for the adapter instance name
	// (a pipeline name, or pipeline/path for sinks).
	Env    func(name string) adapters.Env
	Logger *zap.Logger
	// NewID makes message IDs; the default is a UUIDv7 (time-ordered).
	NewID func() string
	// Sweep is how often the message log is read for received messages
	// no handler of this process holds (see Router.sweep). Default 2s.
	Sweep time.Duration
}

// Router runs a set of plans.
type Router struct {
	cfg       Config
	log       *zap.Logger
	plans     map[string]*pipeline.Plan
	consumers map[string][]*pipeline.Plan // topic → plans reading it
	sinks     map[string]adapters.Sink    // plan/endpoint path → sink
	sources   map[string]adapters.Source  // plan → source
	wm        *message.Router
	closeOnce sync.Once

	timersMu sync.Mutex
	timers   map[string]*time.Timer // waiting messages' requeues, by message ID
	closed   bool

	// held is the IDs of the messages this process is seeing to: being
	// logged, queued, handled, or waiting. The sweep leaves them alone.
	heldMu sync.Mutex
	held   map[string]struct{}
}

// New opens every plan's adapters (no network I/O: adapters connect lazily)
// and builds the handlers. Run starts them.
func New(cfg Config) (*Router, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if cfg.Env == nil {
		cfg.Env = func(name string) adapters.Env { return adapters.Env{Name: name} }
	}
	r := &Router{
		cfg:       cfg,
		log:       cfg.Logger,
		plans:     map[string]*pipeline.Plan{},
		consumers: map[string][]*pipeline.Plan{},
		sinks:     map[string]adapters.Sink{},
		sources:   map[string]adapters.Source{},
		timers:    map[string]*time.Timer{},
		held:      map[string]struct{}{},
	}
	if cfg.Sweep <= 0 {
		r.cfg.Sweep = 2 * time.Second
	}
	wmLogger := watermill.NewSlogLoggerWithLevelMapping(
		slog.New(zapslog.NewHandler(cfg.Logger.Named("watermill").Core())),
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	wm, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wmLogger)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	r.wm = wm
	for _, p := range cfg.Plans {
		r.plans[p.Name] = p
		if p.From.Topic != "" {
			r.consumers[p.From.Topic] = append(r.consumers[p.From.Topic], p)
		}
	}
	for _, p := range cfg.Plans {
		if err := r.open(p); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

func (r *Router) env(name string) adapters.Env {
	env := r.cfg.Env(name).WithDefaults()
	env.Name = name
	env.Logger = env.Logger.With(zap.String("adapter_instance", name))
	return env
}

// open opens p's adapters and adds its handlers.
func (r *Router) open(p *pipeline.Plan) error {
	if p.From.Adapter != "" {
		def, err := r.cfg.Registry.Source(p.From.Adapter)
		if err != nil {
			return fmt.Errorf("pipeline %s: from: %w", p.Name, err)
		}
		src, err := def.Open(p.From.Config, r.env(p.Name))
		if err != nil {
			return fmt.Errorf("pipeline %s: open source %s: %w", p.Name, p.From.Adapter, err)
		}
		r.sources[p.Name] = src
	}
	for i, ep := range p.Sinks() {
		def, err := r.cfg.Registry.Sink(ep.Adapter)
		if err != nil {
			return fmt.Errorf("pipeline %s: %s: %w", p.Name, ep.Path, err)
		}
		sink, err := def.Open(ep.Config, r.env(p.Name+"/"+ep.Path))
		if err != nil {
			return fmt.Errorf("pipeline %s: open sink %s: %w", p.Name, ep.Adapter, err)
		}
		r.sinks[sinkKey(p, ep)] = sink
		// Deliveries keep their input's partition: in order per key, in
		// parallel across keys.
		for k := range partitions(p) {
			name := "deliver." + p.Name + "." + strconv.Itoa(i) + "." + strconv.Itoa(k)
			if err := r.addHandler(p, name, outputTopic(p, i, k), r.deliverHandler(p, ep, sink)); err != nil {
				return err
			}
		}
	}
	for k := range partitions(p) {
		if err := r.addHandler(p, "pipeline."+p.Name+"."+strconv.Itoa(k), inputTopic(p, k), r.processHandler(p)); err != nil {
			return err
		}
	}
	return nil
}

func partitions(p *pipeline.Plan) int {
	if p.OrderBy != nil {
		return p.OrderBy.Partitions
	}
	return 1
}

func inputTopic(p *pipeline.Plan, k int) string {
	return "in." + p.Name + "." + strconv.Itoa(k)
}

// outputTopic carries pipeline p's deliveries to its sink i, partition k.
func outputTopic(p *pipeline.Plan, i, k int) string {
	return "out." + p.Name + "." + strconv.Itoa(i) + "." + strconv.Itoa(k)
}

// partitionOf is the partition of a message of p with the given headers.
func partitionOf(p *pipeline.Plan, headers map[string]string) int {
	if p.OrderBy == nil {
		return 0
	}
	h := fnv.New32a()
	io.WriteString(h, headers[p.OrderBy.Header])
	return int(h.Sum32() % uint32(p.OrderBy.Partitions))
}

func sinkKey(p *pipeline.Plan, ep pipeline.Endpoint) string { return p.Name + "/" + ep.Path }

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
		stopOnPermanent,
		middleware.Recoverer,
	)
	return nil
}

// stopOnPermanent tells the Retry middleware not to retry an error that
// retrying cannot fix. (Retry's own ShouldRetry and OnRetryHook each draw
// from its backoff, so with them the waits grew two steps per failure.)
func stopOnPermanent(h message.HandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) {
		out, err := h(m)
		if err != nil && adapters.IsPermanent(err) {
			return out, backoff.Permanent(err)
		}
		return out, err
	}
}

// processHandler runs the plan on one message, commits its writes with its
// status, then publishes its outputs.
func (r *Router) processHandler(p *pipeline.Plan) message.NoPublishHandlerFunc {
	return func(wm *message.Message) error {
		ctx := wm.Context()
		m := fromWatermill(wm)
		if done, err := r.cfg.Log.Done(ctx, m.ID); err != nil || done {
			return err
		}
		res, err := p.Process(ctx, m)
		if err != nil {
			if lerr := r.cfg.Log.RecordAttempt(ctx, p.Name, stepOf(err), m.ID, err); lerr != nil {
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
			if lerr := r.cfg.Log.RecordAttempt(ctx, p.Name, "commit", m.ID, err); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		return nil
	}
}

// commit commits message msgID of p with its writes and outs (see
// Log.Commit), then queues the outs the log did not know already. The outs
// are held from before the commit, so the sweep never takes one for a
// message nobody is seeing to.
func (r *Router) commit(ctx context.Context, p *pipeline.Plan, msgID string, writes []pipeline.Write, outs []Outbound) error {
	for _, o := range outs {
		r.hold(o.Msg.ID)
	}
	dups, err := r.cfg.Log.Commit(ctx, p.Name, msgID, writes, outs)
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
			outs = append(outs, r.topicOutbound(out.To.Topic, "topic:", msg, topicMessageID(msg.ID, out.To.Topic))...)
			continue
		}
		i := slices.IndexFunc(sinks, func(ep pipeline.Endpoint) bool { return ep.Path == out.To.Path })
		if i < 0 {
			return nil, fmt.Errorf("pipeline %s: no sink for %s", p.Name, out.To.Path)
		}
		// The delivery's ID is derived, not random, so a redelivered input
		// produces the same delivery and the sink's idempotency holds.
		msg.ID = out.Msg.ID + ".to" + strconv.Itoa(i)
		outs = append(outs, outbound(p, "deliver:"+sinks[i].Adapter, outputTopic(p, i, partitionOf(p, out.Msg.Headers)), msg))
	}
	return outs, nil
}

// topicOutbound is msg as a message of each pipeline reading topic, each
// with its own ID (from id), status, attempts and dead letters.
func (r *Router) topicOutbound(topic, source string, msg knutpunkt.Message, id func(*pipeline.Plan) string) []Outbound {
	if len(r.consumers[topic]) == 0 {
		r.log.Debug("no pipeline reads topic", zap.String("topic", topic))
	}
	var outs []Outbound
	for _, c := range r.consumers[topic] {
		m := msg.Clone()
		m.ID = id(c)
		outs = append(outs, outbound(c, source+topic, inputTopic(c, partitionOf(c, m.Headers)), m))
	}
	return outs
}

// topicMessageID names the copy of message id that a pipeline reading
// topic gets. Derived, not random: the same output handed over again is the
// same message, which the log recognises.
func topicMessageID(id, topic string) func(*pipeline.Plan) string {
	return func(c *pipeline.Plan) string { return id + "." + topic + "." + c.Name }
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
		if err := r.publish(o.Topic, o.Msg); err != nil {
			return err
		}
	}
	return nil
}

// publishTopic hands msg to every pipeline reading topic (see
// topicOutbound), logging each on its own.
func (r *Router) publishTopic(ctx context.Context, topic string, msg knutpunkt.Message) error {
	for _, o := range r.topicOutbound(topic, "topic:", msg, topicMessageID(msg.ID, topic)) {
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
		if done, err := r.cfg.Log.Done(ctx, m.ID); err != nil || done {
			return err
		}
		delete(m.Headers, HeaderTopic)
		reply, err := send(ctx, sink, m, p.ReplyTo != "")
		if err != nil {
			err = &pipeline.StepError{Pipeline: p.Name, Step: step, MessageID: m.ID, Err: err}
			if lerr := r.cfg.Log.RecordAttempt(ctx, p.Name, step, m.ID, err); lerr != nil {
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
			outs = r.topicOutbound(p.ReplyTo, "reply:", rm, func(*pipeline.Plan) string { return r.cfg.NewID() })
		}
		return r.commit(ctx, p, m.ID, nil, outs)
	}
}

// DeferredError marks a failure that a later message will cure: a change
// that arrived before the order it changes, say. The message waits, without
// holding up the messages behind it, and is processed again after the
// pipeline's backoff; after retry.attempts waits it is dead-lettered.
type DeferredError struct{ Err error }

func (e *DeferredError) Error() string { return "waiting: " + e.Err.Error() }

func (e *DeferredError) Unwrap() error { return e.Err }

// Defer wraps err as a DeferredError. Defer(nil) is nil.
func Defer(err error) error {
	if err == nil {
		return nil
	}
	return &DeferredError{Err: err}
}

// HeaderDeferrals counts how often a message has waited (see DeferredError).
const HeaderDeferrals = "knut-deferrals"

// deferMessage acknowledges m on the bus and queues it again after the
// pipeline's backoff, or gives up with a permanent error once it has
// waited retry.attempts times. While it waits its log status stays
// received, so a restart queues it again too.
func (r *Router) deferMessage(ctx context.Context, p *pipeline.Plan, m knutpunkt.Message, err error) error {
	n, _ := strconv.Atoi(m.Headers[HeaderDeferrals])
	if n+1 >= p.Retry.Attempts {
		err = adapters.Permanent(fmt.Errorf("gave up after waiting %d times: %w", n, err))
		if lerr := r.cfg.Log.RecordAttempt(ctx, p.Name, "commit", m.ID, err); lerr != nil {
			return errors.Join(err, lerr)
		}
		return err
	}
	if lerr := r.cfg.Log.RecordAttempt(ctx, p.Name, "commit", m.ID, err); lerr != nil {
		return lerr
	}
	delay := p.Retry.Backoff << n
	if delay > p.Retry.MaxBackoff || delay <= 0 {
		delay = p.Retry.MaxBackoff
	}
	m = m.Clone()
	m.Headers[HeaderDeferrals] = strconv.Itoa(n + 1)
	topic := m.Headers[HeaderTopic]
	r.timersMu.Lock()
	defer r.timersMu.Unlock()
	if r.closed {
		return nil // the log still holds it as received: the next start queues it
	}
	r.timers[m.ID] = time.AfterFunc(delay, func() {
		r.timersMu.Lock()
		delete(r.timers, m.ID)
		r.timersMu.Unlock()
		if err := r.publish(topic, m); err != nil {
			r.log.Error("requeue waiting message", zap.String("pipeline", p.Name), zap.String("msg_id", m.ID), zap.Error(err))
		}
	})
	r.log.Info("message waits", zap.String("pipeline", p.Name), zap.String("msg_id", m.ID),
		zap.Int("wait", n+1), zap.Duration("for", delay), zap.Error(err))
	return nil
}

// HeaderReplyTo names, on a sink's reply, the delivery it answers.
const HeaderReplyTo = "reply-to"

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
			if derr := r.cfg.Log.DeadLetter(ctx, p.Name, m.ID, err); derr != nil {
				return nil, errors.Join(err, derr)
			}
			r.log.Warn("dead letter", zap.String("pipeline", p.Name), zap.String("msg_id", m.ID),
				zap.String("step", stepOf(err)), zap.Error(err))
			if p.DeadLetterTopic != "" {
				m.Headers["dead-reason"] = err.Error()
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

// Deliver returns the DeliverFunc a source of pipeline name hands messages to.
func (r *Router) Deliver(name string) (adapters.DeliverFunc, error) {
	p, ok := r.plans[name]
	if !ok {
		return nil, fmt.Errorf("unknown pipeline %q", name)
	}
	return func(ctx context.Context, m knutpunkt.Message) error {
		if p.MaxBody > 0 && int64(len(m.Body)) > p.MaxBody {
			return adapters.Permanent(fmt.Errorf("pipeline %s: body is %d bytes, over the limit of %d", p.Name, len(m.Body), p.MaxBody))
		}
		_, err := r.ingest(ctx, p, "adapter:"+p.From.Adapter, m)
		return err
	}, nil
}

// Ingest records m as a new message of pipeline name and queues it. It
// returns the message's ID and whether it was a duplicate of one already
// known (then nothing is queued).
func (r *Router) Ingest(ctx context.Context, name, source string, m knutpunkt.Message) (string, bool, error) {
	p, ok := r.plans[name]
	if !ok {
		return "", false, fmt.Errorf("unknown pipeline %q", name)
	}
	m = m.Clone()
	if m.ID == "" {
		m.ID = r.cfg.NewID()
	}
	dup, err := r.ingest(ctx, p, source, m)
	return m.ID, dup, err
}

func (r *Router) ingest(ctx context.Context, p *pipeline.Plan, source string, m knutpunkt.Message) (bool, error) {
	if m.ID == "" {
		m.ID = r.cfg.NewID()
	}
	if m.Headers == nil {
		m.Headers = map[string]string{}
	}
	return r.save(ctx, p, source, inputTopic(p, partitionOf(p, m.Headers)), m)
}

// save logs m and then publishes it on topic: the message is durable in the
// log before it is on the bus, and Run republishes any that never made it.
func (r *Router) save(ctx context.Context, p *pipeline.Plan, source, topic string, m knutpunkt.Message) (bool, error) {
	o := outbound(p, source, topic, m)
	r.hold(m.ID)
	dup, err := r.cfg.Log.SaveInbound(ctx, p.Name, source, o.Msg)
	if err != nil {
		r.release(m.ID)
		return false, fmt.Errorf("pipeline %s: save message %s: %w", p.Name, m.ID, err)
	}
	return dup, r.queue([]Outbound{o}, []bool{dup})
}

func (r *Router) publish(topic string, m knutpunkt.Message) error {
	r.hold(m.ID)
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

// Run republishes pending messages, starts the handlers and every source,
// and blocks until ctx is done or the router fails.
func (r *Router) Run(ctx context.Context) error {
	// Whatever the log holds as received is queued again: nothing is
	// queued in a process that just started.
	if err := r.sweep(ctx, nil); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.wm.Run(ctx); err != nil {
			select {
			case errc <- err:
			default:
			}
		}
		cancel()
	}()
	<-r.wm.Running()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sweepLoop(ctx)
	}()
	for name, src := range r.sources {
		deliver, _ := r.Deliver(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.receive(ctx, name, src, deliver)
		}()
	}
	<-ctx.Done()
	r.stopTimers()
	r.wm.Close()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// sweep queues the messages the log holds as received and this process
// does not hold. With seen nil it queues them all (at start); otherwise
// only those already found unheld by the previous sweep, whose IDs are in
// seen, and it fills seen anew: a message is between two holders for
// microseconds (its handler finished, its requeue not yet held), never for
// a whole sweep interval.
func (r *Router) sweep(ctx context.Context, seen map[string]bool) error {
	last := maps.Clone(seen)
	clear(seen)
	for _, p := range r.cfg.Plans {
		pending, err := r.cfg.Log.Pending(ctx, p.Name, r.isHeld)
		if err != nil {
			return fmt.Errorf("pipeline %s: pending messages: %w", p.Name, err)
		}
		n := 0
		for _, m := range pending {
			if seen != nil && !last[m.ID] {
				seen[m.ID] = true
				continue
			}
			if err := r.publish(m.Headers[HeaderTopic], m); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			r.log.Info("queued messages from the log", zap.String("pipeline", p.Name), zap.Int("count", n))
		}
	}
	return nil
}

// sweepLoop sweeps every cfg.Sweep until ctx is done: a message another
// process logged as received (knut replay, while knut serve runs) is
// queued here within two sweeps.
func (r *Router) sweepLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Sweep)
	defer t.Stop()
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.sweep(ctx, seen); err != nil && ctx.Err() == nil {
			r.log.Error("sweep the message log", zap.Error(err))
		}
	}
}

func (r *Router) hold(id string) {
	r.heldMu.Lock()
	r.held[id] = struct{}{}
	r.heldMu.Unlock()
}

func (r *Router) release(id string) {
	r.heldMu.Lock()
	delete(r.held, id)
	r.heldMu.Unlock()
}

func (r *Router) isHeld(id string) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	_, ok := r.held[id]
	return ok
}

// releaseFinished lets go of a message once its handler is done with it:
// processed, dead-lettered, or found finished already. A message that
// waits (DeferredError) stays held until its requeue.
func (r *Router) releaseFinished(h message.HandlerFunc) message.HandlerFunc {
	return func(wm *message.Message) ([]*message.Message, error) {
		out, err := h(wm)
		if err != nil {
			return out, err // nacked: handed over again
		}
		r.timersMu.Lock()
		_, waiting := r.timers[wm.UUID]
		r.timersMu.Unlock()
		if !waiting {
			r.release(wm.UUID)
		}
		return out, nil
	}
}

// stopTimers cancels the requeues of waiting messages; they stay received
// in the log and are queued again at the next start.
func (r *Router) stopTimers() {
	r.timersMu.Lock()
	defer r.timersMu.Unlock()
	r.closed = true
	for _, t := range r.timers {
		t.Stop()
	}
	clear(r.timers)
}

// Running is closed once the handlers run.
func (r *Router) Running() <-chan struct{} { return r.wm.Running() }

// receive keeps a source running until ctx is done, restarting it with
// backoff after an error.
func (r *Router) receive(ctx context.Context, name string, src adapters.Source, deliver adapters.DeliverFunc) {
	backoff := time.Second
	for {
		err := src.Receive(ctx, deliver)
		if ctx.Err() != nil {
			return
		}
		r.log.Error("source stopped; restarting", zap.String("pipeline", name), zap.Duration("in", backoff), zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// Check probes every adapter that can be probed, for /readyz.
func (r *Router) Check(ctx context.Context) error {
	var errs []error
	for name, s := range r.sources {
		if c, ok := s.(adapters.Checker); ok {
			if err := c.Check(ctx); err != nil {
				errs = append(errs, fmt.Errorf("pipeline %s: from: %w", name, err))
			}
		}
	}
	for key, s := range r.sinks {
		if c, ok := s.(adapters.Checker); ok {
			if err := c.Check(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Close closes every adapter that can be closed. It is safe to call twice.
func (r *Router) Close() error {
	var errs []error
	r.closeOnce.Do(func() {
		for _, s := range r.sources {
			if c, ok := s.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
		for _, s := range r.sinks {
			if c, ok := s.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
	})
	return errors.Join(errs...)
}

// Replay queues a copy of a dead message again, on the topic it failed on,
// as a new message that names the one it replays (HeaderReplayOf). The copy
// has no external id, so the idempotency check does not take it for the
// original. It returns the new message's ID.
func (r *Router) Replay(ctx context.Context, name string, dead knutpunkt.Message) (string, error) {
	p, ok := r.plans[name]
	if !ok {
		return "", fmt.Errorf("replay %s: unknown pipeline %q", dead.ID, name)
	}
	m := dead.Clone()
	m.ID = r.cfg.NewID()
	m.Headers[HeaderReplayOf] = dead.ID
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
