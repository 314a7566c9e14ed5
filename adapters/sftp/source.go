package sftp

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// Source polls a remote drop directory over SFTP with the semantics of the
// file source: files are claimed by renaming them into .processing/ on the
// server, delivered one at a time in name order, then moved to done/ (or
// deleted); a failed delivery returns the file for the next poll.
type Source struct {
	cfg    SourceConfig
	log    *zap.Logger
	c      *client
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex // one Poll at a time
	poller *dropdir.Poller
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns a source for a validated cfg. It resolves the secrets
// but does not connect.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	c, err := newClient(cfg.Connection, env.Secrets)
	if err != nil {
		return nil, err
	}
	log := env.Logger.With(zap.String("host", c.addr), zap.String("dir", cfg.Dir))
	return &Source{cfg: cfg, log: log, c: c, closed: make(chan struct{}), poller: dropdir.NewPoller(cfg.SourceConfig, log)}, nil
}

// Receive implements adapters.Source. It polls at once and then every
// poll_interval, reconnecting after failures; it closes its connection
// before returning.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	defer s.c.close()
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
		err := s.poller.Poll(ctx, remoteFS{ctx: ctx, c: s.c}, deliver)
		s.mu.Unlock()
		switch { // log changes only, not every poll of an outage
		case err != nil && !failing && ctx.Err() == nil:
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

// Check implements adapters.Checker: the server answers and dir exists and
// is writable.
func (s *Source) Check(ctx context.Context) error {
	return dropdir.CheckDir(remoteFS{ctx: ctx, c: s.c}, s.cfg.Dir)
}

// Close stops a running Receive with ErrClosed and closes the connection.
// It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.c.close()
	return nil
}
