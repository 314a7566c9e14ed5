package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/router"
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
	httpSrv *http.Server
	ln      net.Listener
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
	s.plans = plans
	if s.store, err = OpenStore(ctx, cfg, opts.Secrets); err != nil {
		return nil, err
	}
	s.bus = router.NewBus()
	in := &ingress{}
	s.mlog = newMessageLog(s.store, s.metrics)
	s.router, err = router.New(router.Config{
		Plans:      plans,
		MessageLog: s.mlog,
		Bus:        s.bus,
		Registry:   opts.Registry,
		Logger:     opts.Logger,
		Env: func(name string) adapters.Env {
			return adapters.Env{Name: name, Logger: opts.Logger.Named("adapter"), Secrets: opts.Secrets,
				HTTPClient: opts.HTTPClient, Ingress: in}
		},
	})
	if err != nil {
		return nil, err
	}
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
			Handler:           handler(in, s.metrics, maxBody, []Checker{storeChecker{s.store}, s.router}, opts.Logger.Named("http")),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          zap.NewStdLog(opts.Logger.Named("http")),
		}
	}
	return s, nil
}

// Run serves until ctx is done, then shuts down gracefully.
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
	defer unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- s.router.Run(ctx) }()
	if s.httpSrv != nil {
		go func() {
			if err := s.httpSrv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
				return
			}
			errc <- nil
		}()
	}
	s.log.Info("knut serving", zap.String("addr", s.Addr()), zap.Int("pipelines", len(s.plans)),
		zap.String("store", s.store.Dialect()))
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	if s.httpSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.httpSrv.Shutdown(sctx)
		scancel()
	}
	return err
}

// Ready is closed when the pipelines' handlers run.
func (s *Server) Ready() <-chan struct{} { return s.router.Running() }

// Addr is the HTTP listen address, "" without HTTP.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Store is the hub's store.
func (s *Server) Store() *store.Store { return s.store }

// Router is the hub's router.
func (s *Server) Router() *router.Router { return s.router }

// Plans are the loaded pipelines.
func (s *Server) Plans() []*pipeline.Plan { return s.plans }

// Close releases everything New opened. Call it after Run returned.
func (s *Server) Close() error {
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
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.ln != nil && s.httpSrv == nil {
		errs = append(errs, s.ln.Close())
	}
	return errors.Join(errs...)
}

type storeChecker struct{ s *store.Store }

func (c storeChecker) Check(ctx context.Context) error { return c.s.Ping(ctx) }
