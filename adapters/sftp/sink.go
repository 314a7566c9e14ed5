package sftp

import (
	"context"
	"sync/atomic"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// Sink uploads one file per message over SFTP: to a hidden temporary name
// in dir, then renamed into place, so the vendor never reads a partial
// file. It is idempotent by file name (an existing file is not written
// again) and safe for concurrent use over one shared connection.
type Sink struct {
	cfg    SinkConfig
	c      *client
	w      *dropdir.Writer
	closed atomic.Bool
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink returns a sink for a validated cfg. It resolves the secrets but
// does not connect.
func NewSink(cfg SinkConfig, env adapters.Env) (*Sink, error) {
	env = env.WithDefaults()
	c, err := newClient(cfg.Connection, env.Secrets)
	if err != nil {
		return nil, err
	}
	w, err := dropdir.NewWriter(cfg.SinkConfig)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, c: c, w: w}, nil
}

// Send implements adapters.Sink. Connection failures and timeouts are
// transient; a file name the template cannot make valid is permanent.
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	if s.closed.Load() {
		return adapters.ErrClosed
	}
	return s.w.Write(remoteFS{ctx: ctx, c: s.c}, m)
}

// Check implements adapters.Checker: the server answers and dir exists and
// is writable.
func (s *Sink) Check(ctx context.Context) error {
	return dropdir.CheckDir(remoteFS{ctx: ctx, c: s.c}, s.cfg.Dir)
}

// Close closes the connection; later Sends fail with ErrClosed. It is
// idempotent.
func (s *Sink) Close() error {
	s.closed.Store(true)
	s.c.close()
	return nil
}
