package file

import (
	"context"
	"sync/atomic"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// Sink writes one file per message into a local directory. It is safe for
// concurrent use and idempotent by file name, which the default filename
// template takes from the message ID.
type Sink struct {
	cfg    SinkConfig
	w      *dropdir.Writer
	closed atomic.Bool
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink returns a sink for a validated cfg. It touches no files.
func NewSink(cfg SinkConfig) (*Sink, error) {
	w, err := dropdir.NewWriter(cfg.SinkConfig)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, w: w}, nil
}

// Send implements adapters.Sink. A missing or unwritable directory is a
// transient error; a file name the template cannot make valid is permanent.
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	if s.closed.Load() {
		return adapters.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.w.Write(osFS{}, m)
}

// Check implements adapters.Checker: dir exists and is writable.
func (s *Sink) Check(context.Context) error { return dropdir.CheckDir(osFS{}, s.cfg.Dir) }

// Close makes later Sends fail with ErrClosed. It is idempotent.
func (s *Sink) Close() error {
	s.closed.Store(true)
	return nil
}
