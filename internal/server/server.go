package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/keys"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/schedule"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Options are what the caller supplies beyond the config.
type Options struct {
	// Registry holds the adapters pipelines may use; default adapters.Default.
	Registry *adapters.Registry
	// Logger is the hub's logger; default a no-op logger.
	Logger *zap.Logger
	// Secrets resolves secret references; default environment and files.
	Secrets adapters.SecretResolver
	// HTTPClient is the adapters' outbound client; default one with a 30 s timeout.
	HTTPClient *http.Client
	// Clock is what time the hub takes it to be: the day an order's events are folded to
	// and the nightly jobs run for. time.Now when nil; the demo and tests set it.
	Clock func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Registry == nil {
		o.Registry = adapters.Default
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Secrets == nil {
		o.Secrets = adapters.EnvSecrets{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// Server is a running hub.
type Server struct {
	cfg     *config.Config
	log     *zap.Logger
	store   *store.Store
	bus     *router.Bus
	router  *router.Router
	mlog    *messageLog
	plans   []*pipeline.Plan
	metrics *prometheus.Registry
	sched   *schedule.Scheduler
	httpSrv *http.Server
	ln      net.Listener

	keys      *keys.Engine
	unlock    func() error // releases the store's serve lock
	closeOnce sync.Once
	closeErr  error
}

// New builds the hub: it opens the store and bus, loads every pipeline,
// opens their adapters and binds the HTTP listener. Run starts the work.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Server, err error) {
	opts = opts.withDefaults()
	s := &Server{cfg: cfg, log: opts.Logger, metrics: newRegistry()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	plans, err := pipeline.LoadDir(cfg.Path(cfg.Pipelines), Resources(cfg, opts.Registry))
	if err != nil {
		return nil, err
	}
	plans, err = enabled(plans, cfg.DisabledPipelines)
	if err != nil {
		// A typo would run what was meant off: production does not start so; elsewhere
		// (a test's own pipelines beside the repository's knut.yaml) it is said.
		if cfg.Environment == config.Production {
			return nil, err
		}
		opts.Logger.Warn("disabled_pipelines names a pipeline that does not exist", zap.Error(err))
	}
	s.plans = plans
	if s.store, err = OpenStore(ctx, cfg, opts.Secrets, opts.Clock); err != nil {
		return nil, err
	}
	s.bus = router.NewBus()
	in := &ingress{}
	s.mlog = newMessageLog(s.store, s.metrics)
	s.router, err = router.New(router.Config{
		ShutdownTimeout: cfg.ShutdownTimeout,
		MaxInFlight:     int64(cfg.Bus.MaxInFlight),
		MaxIngestRate:   int64(cfg.Bus.MaxIngestRate),
		MaxQueue:        cfg.Bus.MaxQueue,
		Plans:           plans,
		MessageLog:      s.mlog,
		Bus:             s.bus,
		Registry:        opts.Registry,
		Logger:          opts.Logger,
		Env: func(name string) adapters.Env {
			env := adapters.Env{Name: name, Logger: opts.Logger.Named("adapter"), Secrets: opts.Secrets,
				HTTPClient: opts.HTTPClient, Orders: orderScope{s.store}, Replays: replayGuard{s.store},
				Cursors: cursorStore{st: s.store, scope: name}}
			if p := planNamed(plans, name); p != nil { // a source's Env; sinks mount nothing
				env.Ingress = ingressFor{in: in, plan: p, env: cfg.Environment, st: s.store, log: opts.Logger}
			}
			return env
		},
	})
	if err != nil {
		return nil, err
	}
	in.admit, in.maxBody = s.router.Admit, int64(cfg.HTTP.MaxBody)
	if err := checkOrders(cfg, plans); err != nil {
		// A nightly job would fail every night: production does not start so;
		// elsewhere (a test's own pipelines beside the repository's knut.yaml) it is said.
		if cfg.Environment == config.Production {
			return nil, err
		}
		opts.Logger.Warn("a nightly job will fail: fix the setting", zap.Error(err))
	}
	if s.keys, err = keyEngine(cfg, plans, s.store, s.router, opts); err != nil {
		return nil, err
	}
	s.sched = schedule.New(jobMemory{s.store}, opts.Clock, opts.Logger.Named("schedule"),
		Jobs(s.store, cfg, s.router)...)
	s.metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "knut_in_flight_bytes",
			Help: "Bytes of message bodies held in memory (bounded by bus.max_in_flight)."},
			func() float64 { return float64(s.router.InFlight()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "knut_ingest_busy_total",
			Help: "Messages refused with 'busy, try again' because bus.max_in_flight, bus.max_queue or bus.max_ingest_rate was reached."},
			func() float64 { return float64(s.router.Busy()) }))
	if !cfg.HTTP.Disabled {
		maxBody := int64(cfg.HTTP.MaxBody)
		tc, err := tlsConfig(cfg.HTTP.TLS, cfg.Path)
		if err != nil {
			return nil, err
		}
		if s.ln, err = listen(cfg.HTTP.Listen, tc); err != nil {
			return nil, err
		}
		s.httpSrv = &http.Server{
			Handler: handler(in, endpoints{metrics: s.metrics, ready: []Checker{storeChecker{s.store}, s.router},
				operators: cfg.HTTP.Operators, st: s.store, keys: s.keys,
				allowTest: cfg.Environment != config.Production}, maxBody, opts.Logger.Named("http")),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          zap.NewStdLog(opts.Logger.Named("http")),
		}
	}
	return s, nil
}

// Run serves until ctx is done or a part of the hub fails, then stops in
// this order: stop accepting (ingest answers 503 with Retry-After, sources
// stop polling, /readyz fails), let the messages in flight finish within
// shutdown_timeout (what is not finished stays received in the message log
// for the next start), stop the HTTP server, then close the sinks, the bus
// and the store. It returns when all that is done, with one log line
// saying what was drained and what was left.
func (s *Server) Run(ctx context.Context) error {
	// One hub per store: each queues what the log holds as received in
	// its own process, so two would handle the same messages twice.
	unlock, err := s.store.Lock(ctx, "serve")
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("another knut serve is running on this store; stop it first: %w", err)
	}
	if err != nil {
		return err
	}
	s.unlock = unlock
	if s.cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(s.cfg.MemoryLimit)))
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	routerDone := make(chan error, 1)
	go func() { routerDone <- s.router.Run(runCtx) }()
	// The jobs catch up on what the hub missed while down once the router
	// takes messages (an inferred execution goes to the case system).
	select {
	case <-s.router.Running():
	case <-runCtx.Done():
	}
	if err := s.sched.Start(runCtx); err != nil {
		stop()
		return errors.Join(err, <-routerDone)
	}
	// The key lifecycle's comparisons stop with the router, before the store closes.
	keysDone := make(chan struct{})
	if s.keys != nil {
		go func() { defer close(keysDone); s.convergeKeys(runCtx) }()
	} else {
		close(keysDone)
	}
	httpDone := make(chan error, 1)
	if s.httpSrv != nil {
		go func() {
			if err := s.httpSrv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				httpDone <- fmt.Errorf("http: %w", err)
				return
			}
			httpDone <- nil
		}()
	}
	s.log.Info("knut serving", zap.String("addr", s.Addr()), zap.Int("pipelines", len(s.plans)),
		zap.String("store", s.store.Dialect()))
	var runErr error
	routerStopped := false
	select {
	case <-ctx.Done():
	case runErr = <-routerDone:
		routerStopped = true
	case runErr = <-httpDone:
	}
	// The router drains while the HTTP server still answers, so senders
	// get 503 and Retry-After rather than a refused connection.
	stop()
	s.sched.Stop()
	<-keysDone
	if !routerStopped {
		runErr = errors.Join(runErr, <-routerDone)
	}
	if s.httpSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.httpSrv.Shutdown(sctx)
		scancel()
	}
	closeErr := s.Close()
	d := s.router.Drained()
	s.log.Info("knut stopped: sinks, bus and store closed",
		zap.Int("drained", d.Finished), zap.Int("left_for_next_start", d.Left),
		zap.Bool("drain_timed_out", d.TimedOut), zap.Duration("drain_took", d.Took), zap.Error(closeErr))
	return errors.Join(runErr, closeErr)
}

// checkOrders checks the nightly jobs' settings (orders, visits, reconciliation) against
// the pipelines loaded, and the reconciliation's rule set.
func checkOrders(cfg *config.Config, plans []*pipeline.Plan) error {
	if name := cfg.Orders.ReceiptsPipeline; name != "" && planNamed(plans, name) == nil {
		return fmt.Errorf("orders.receipts_pipeline: no pipeline %q in %s", name, cfg.Path(cfg.Pipelines))
	}
	if name := cfg.Visits.ExecutedPipeline; name != "" && planNamed(plans, name) == nil {
		return fmt.Errorf("visits.executed_pipeline: no pipeline %q in %s", name, cfg.Path(cfg.Pipelines))
	}
	if name := cfg.Reconciliation.ReportPipeline; name != "" && planNamed(plans, name) == nil {
		return fmt.Errorf("reconciliation.report_pipeline: no pipeline %q in %s", name, cfg.Path(cfg.Pipelines))
	}
	// The nightly reconciliation reads its rule set each night; a broken one is said now.
	if path := cfg.Reconciliation.RuleSet; path != "" {
		if _, err := reconcile.LoadRuleSet(cfg.Path(path)); err != nil {
			return fmt.Errorf("reconciliation.rule_set: %w", err)
		}
	}
	return nil
}

// planNamed is the plan called name, nil for none.
func planNamed(plans []*pipeline.Plan, name string) *pipeline.Plan {
	for _, p := range plans {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Ready is closed when the pipelines' handlers run.
func (s *Server) Ready() <-chan struct{} { return s.router.Running() }

// RunJobs runs the nightly jobs that have not run for today (by the hub's clock) now, as
// the scheduler does at 00:05 and on start.
func (s *Server) RunJobs(ctx context.Context) error { return s.sched.RunDue(ctx) }

// Addr is the HTTP listen address, "" without HTTP.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Store is the hub's store.
func (s *Server) Store() *store.Store { return s.store }

// Keys is the key lifecycle; nil when locks.keys_pipeline names no pipeline.
func (s *Server) Keys() *keys.Engine { return s.keys }

// Router is the hub's router.
func (s *Server) Router() *router.Router { return s.router }

// Plans are the loaded pipelines.
func (s *Server) Plans() []*pipeline.Plan { return s.plans }

// Close releases everything New opened, in order: the adapters (sinks
// and sources), the bus, the message log's writer, the store's lock and the
// store. Run calls it when it stops; calling it again does nothing.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.router != nil {
			errs = append(errs, s.router.Close())
		}
		if s.bus != nil {
			errs = append(errs, s.bus.Close())
		}
		if s.mlog != nil {
			errs = append(errs, s.mlog.Close())
		}
		if s.unlock != nil {
			errs = append(errs, s.unlock())
		}
		if s.store != nil {
			errs = append(errs, s.store.Close())
		}
		if s.ln != nil && s.httpSrv == nil {
			errs = append(errs, s.ln.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

type storeChecker struct{ s *store.Store }

func (c storeChecker) Check(ctx context.Context) error { return c.s.Ping(ctx) }

// enabled returns plans without the disabled ones, and an error naming each
// disabled name that is no pipeline.
func enabled(plans []*pipeline.Plan, disabled []string) ([]*pipeline.Plan, error) {
	var errs []error
	for _, name := range disabled {
		if planNamed(plans, name) == nil {
			errs = append(errs, fmt.Errorf("disabled_pipelines: %q: no such pipeline", name))
		}
	}
	return slices.DeleteFunc(slices.Clone(plans), func(p *pipeline.Plan) bool { return slices.Contains(disabled, p.Name) }),
		errors.Join(errs...)
}
