package router

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// Config is what New needs.
type Config struct {
	Plans      []*pipeline.Plan
	MessageLog MessageLog
	Bus        *Bus
	Registry   *adapters.Registry
	// Env returns the adapter environment for the adapter instance name
	// (a pipeline name, or pipeline/path for sinks).
	Env    func(name string) adapters.Env
	Logger *zap.Logger
	// NewID makes message IDs; the default is a UUIDv7 (time-ordered).
	NewID func() string
	// Sweep is how often the message log is read for received messages
	// no handler of this process holds (see Router.sweep). Default 2s.
	Sweep time.Duration
	// ShutdownTimeout bounds the drain when Run stops (see Run). Default 30s.
	ShutdownTimeout time.Duration
	// MaxInFlight bounds the bytes of message bodies the router holds in
	// memory (queued, handled or waiting); MaxQueue the messages waiting on
	// one pipeline's queue. When either is reached, ingest answers ErrBusy
	// and the sweep leaves messages in the log. Defaults 24 MiB and 1000.
	MaxInFlight int64
	MaxQueue    int
	// MaxIngestRate bounds the body bytes a second one ingest path (an
	// HTTP path, a polled source's pipeline) may bring in; over it, ingest
	// answers ErrBusy. A flood on one path then cannot take the disk and
	// the writer from the others. Default 8 MiB/s.
	MaxIngestRate int64
	// Now is the clock of the rate bound; default time.Now.
	Now func() time.Time
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
	// notReady holds the pipelines whose adapters could not open for
	// want of a secret, with why: they are out of service (no handlers,
	// no source; their messages stay received in the log) while the
	// others run, and Check names them.
	notReady map[string]error

	timersMu sync.Mutex
	timers   map[string]*time.Timer // waiting messages' requeues, by message ID
	closed   bool

	// held is the messages this process is seeing to (being logged,
	// queued, handled, or waiting), by ID, with their body sizes; inFlight
	// is the sum. The sweep leaves held messages alone, and ingest and the
	// sweep take no more once inFlight reaches MaxInFlight (see inflight.go).
	heldMu   sync.Mutex
	held     map[string]heldMsg
	inFlight int64
	shares   map[string]int64   // bytes held by pipeline or ingest path
	buckets  map[string]*bucket // the ingest paths' rate bounds
	// room has a value after a release while the sweep left messages in
	// the log for want of room: it sweeps again at once.
	room    chan struct{}
	backlog atomic.Bool
	// busy counts the messages ingest refused for want of room.
	busy atomic.Int64
	// large is held while a body over LargeBody is processed.
	large sync.Mutex
	// released has a value after a held message was let go: the drain
	// looks again whether anything is still held.
	released chan struct{}
	// finished counts the messages handlers finished (processed,
	// dead-lettered, found done): the drain reports its share.
	finished atomic.Int64
	// handedBack counts the messages that failed while stopping and were
	// left received in the log rather than retried or dead-lettered.
	handedBack atomic.Int64

	// stopping is set when Run begins to stop: ingest refuses new
	// messages (a source answers "busy, try again") and /readyz fails.
	stopping atomic.Bool
	drainMu  sync.Mutex
	drained  DrainReport
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
		notReady:  map[string]error{},
		timers:    map[string]*time.Timer{},
		held:      map[string]heldMsg{},
		shares:    map[string]int64{},
		buckets:   map[string]*bucket{},
		room:      make(chan struct{}, 1),
		released:  make(chan struct{}, 1),
	}
	if cfg.Sweep <= 0 {
		r.cfg.Sweep = 2 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		r.cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		r.cfg.MaxInFlight = 24 << 20
	}
	if cfg.MaxQueue <= 0 {
		r.cfg.MaxQueue = 1000
	}
	if cfg.MaxIngestRate <= 0 {
		r.cfg.MaxIngestRate = 8 << 20
	}
	if cfg.Now == nil {
		r.cfg.Now = time.Now
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
		err := r.open(p)
		if _, missing := errors.AsType[*adapters.SecretError](err); missing {
			r.notReady[p.Name] = err
			r.log.Error("pipeline not ready: a secret it needs is missing; the other pipelines run",
				zap.String("pipeline", p.Name), zap.Error(err))
			continue
		}
		if err != nil {
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

// open opens p's adapters and adds its handlers. When an adapter does not
// open, those opened before it are closed and p gets no handlers; once
// they are registered, the router owns them (Close closes them).
func (r *Router) open(p *pipeline.Plan) (err error) {
	var opened []any
	defer func() {
		if err != nil {
			for _, a := range opened {
				if c, ok := a.(io.Closer); ok {
					c.Close()
				}
			}
		}
	}()
	var src adapters.Source
	if p.From.Adapter != "" {
		def, err := r.cfg.Registry.Source(p.From.Adapter)
		if err != nil {
			return fmt.Errorf("pipeline %s: from: %w", p.Name, err)
		}
		if src, err = def.Open(p.From.Config, r.env(p.Name)); err != nil {
			return fmt.Errorf("pipeline %s: open source %s: %w", p.Name, p.From.Adapter, err)
		}
		opened = append(opened, src)
	}
	sinks := make([]adapters.Sink, len(p.Sinks()))
	for i, ep := range p.Sinks() {
		def, err := r.cfg.Registry.Sink(ep.Adapter)
		if err != nil {
			return fmt.Errorf("pipeline %s: %s: %w", p.Name, ep.Path, err)
		}
		if sinks[i], err = def.Open(ep.Config, r.env(p.Name+"/"+ep.Path)); err != nil {
			return fmt.Errorf("pipeline %s: open sink %s: %w", p.Name, ep.Adapter, err)
		}
		opened = append(opened, sinks[i])
	}
	opened = nil // the router's from here on
	if src != nil {
		r.sources[p.Name] = src
	}
	for i, ep := range p.Sinks() {
		r.sinks[sinkKey(p, ep)] = sinks[i]
		// Deliveries keep their input's partition: in order per key, in
		// parallel across keys.
		for k := range partitions(p) {
			name := "deliver." + p.Name + "." + strconv.Itoa(i) + "." + strconv.Itoa(k)
			if err := r.addHandler(p, name, outputTopic(p, i, k), r.deliverHandler(p, ep, sinks[i])); err != nil {
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

// ready reports why pipeline name is out of service, nil when it runs.
func (r *Router) ready(name string) error {
	if err := r.notReady[name]; err != nil {
		return fmt.Errorf("pipeline %s is not ready: %w", name, err)
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

// Run republishes pending messages, starts the handlers and every source,
// and blocks until ctx is done or the router fails; then it stops (see
// stop) and returns once no handler runs. A handler that cannot start
// (its subscription fails) fails Run with that error.
func (r *Router) Run(ctx context.Context) error {
	// Whatever the log holds as received is queued again: nothing is
	// queued in a process that just started.
	if err := r.sweep(ctx, nil); err != nil {
		return err
	}
	// The handlers outlive ctx: on stop they drain what is in flight
	// first, and are cancelled only when the drain is over.
	handlerCtx, stopHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHandlers()
	wmDone := make(chan error, 1)
	go func() { wmDone <- r.wm.Run(handlerCtx) }()
	select {
	case <-r.wm.Running():
	case err := <-wmDone:
		// Watermill's Run returns without closing Running when a
		// handler does not start.
		if err == nil {
			err = errors.New("the handlers stopped before they ran")
		}
		// The deferred stopHandlers stops those that did start; Close
		// would wait its full CloseTimeout for the one that did not.
		return fmt.Errorf("start pipelines: %w", err)
	}
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	var sources sync.WaitGroup
	sources.Go(func() { r.sweepLoop(srcCtx) })
	for name, src := range r.sources {
		deliver, _ := r.Deliver(name)
		sources.Go(func() { r.receive(srcCtx, name, src, deliver) })
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-wmDone:
		if runErr == nil {
			runErr = errors.New("every pipeline handler stopped")
		}
		wmDone <- nil
	}
	r.stop(stopSources, &sources)
	stopHandlers()
	r.wm.Close()
	<-wmDone
	return runErr
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
	if r.stopping.Load() {
		return ErrStopping
	}
	var errs []error
	for name := range r.notReady {
		errs = append(errs, r.ready(name))
	}
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
