package file

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// Source polls a local drop directory. Files are delivered one at a time in
// name order; name files sortably (a timestamp prefix) when order matters.
// Run one source per directory: claims are atomic, but a starting source
// returns every file left in .processing/ to the directory.
type Source struct {
	cfg    SourceConfig
	log    *zap.Logger
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex // one Poll at a time: the poller is not concurrent
	poller *dropdir.Poller
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns a source for a validated cfg. It touches no files.
func NewSource(cfg SourceConfig, env adapters.Env) *Source {
	env = env.WithDefaults()
	log := env.Logger.With(zap.String("dir", cfg.Dir))
	return &Source{cfg: cfg, log: log, closed: make(chan struct{}), poller: dropdir.NewPoller(cfg.SourceConfig, log)}
}

// Receive implements adapters.Source. It scans at once and then every
// poll_interval; a failing scan (directory gone) is logged and retried.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	var failing bool
	for {
		select {
		case <-s.closed:
			return adapters.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		s.mu.Lock()
		err := s.poller.Poll(ctx, osFS{}, deliver)
		s.mu.Unlock()
		// Log changes only, not every poll of an outage.
		switch {
		case err != nil && !failing:
			s.log.Warn("poll failed, will retry", zap.Error(err))
		case err == nil && failing:
			s.log.Info("poll recovered")
		}
		failing = err != nil
		select {
		case <-s.closed:
			return adapters.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// Check implements adapters.Checker: dir exists and is writable (the
// source renames files in it).
func (s *Source) Check(context.Context) error { return dropdir.CheckDir(osFS{}, s.cfg.Dir) }

// Close stops a running Receive with ErrClosed. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
