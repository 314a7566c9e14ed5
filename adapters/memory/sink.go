package memory

import (
	"context"
	"sync/atomic"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Sink publishes to one topic of a Broker. It is idempotent by message ID
// within the topic's DedupWindow, and safe for concurrent use.
type Sink struct {
	b      *Broker
	cfg    SinkConfig
	closed atomic.Bool
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink returns a sink on b with a validated config.
func NewSink(b *Broker, cfg SinkConfig) *Sink { return &Sink{b: b, cfg: cfg} }

// Send implements adapters.Sink. Errors come from the broker's fault (see
// Broker.SetSendFault) or ErrUnavailable during an outage.
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	if s.closed.Load() {
		return adapters.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.b.send(ctx, s.cfg.Topic, m)
}

// Check implements adapters.Checker: it fails while the broker is down.
func (s *Sink) Check(context.Context) error { return s.b.available() }

// Close makes later Sends fail with ErrClosed. It is idempotent.
func (s *Sink) Close() error {
	s.closed.Store(true)
	return nil
}
