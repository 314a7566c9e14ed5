package memory

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Source consumes one topic of a Broker. Messages are delivered one at a
// time in queue order; a failed delivery goes back to the head of the queue
// and is retried after RedeliveryDelay, so order holds across failures. A
// message the hub refuses permanently is dropped (the hub dead-letters it).
type Source struct {
	b      *Broker
	cfg    SourceConfig
	log    *zap.Logger
	closed chan struct{}
	once   sync.Once
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns a source on b with a validated config.
func NewSource(b *Broker, cfg SourceConfig, env adapters.Env) *Source {
	env = env.WithDefaults()
	return &Source{b: b, cfg: cfg, log: env.Logger.With(zap.String("topic", cfg.Topic)), closed: make(chan struct{})}
}

// Receive implements adapters.Source. It returns ctx.Err() when ctx ends
// and adapters.ErrClosed once the source is closed.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	for {
		select {
		case <-s.closed:
			return adapters.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		m, ok, wake := s.b.take(s.cfg.Topic)
		if !ok {
			select {
			case <-s.closed:
				return adapters.ErrClosed
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
			}
			continue
		}
		_, err := deliver(ctx, m.Clone())
		requeue := err != nil && !adapters.IsPermanent(err)
		s.b.settle(s.cfg.Topic, m, requeue)
		switch {
		case err == nil:
			s.log.Debug("delivered", zap.String("msg_id", m.ID))
		case !requeue:
			s.log.Warn("hub refused message, dropped", zap.String("msg_id", m.ID), zap.Error(err))
		default:
			s.log.Debug("delivery failed, will redeliver", zap.String("msg_id", m.ID), zap.Error(err))
			if err := s.sleep(ctx, s.cfg.RedeliveryDelay); err != nil {
				return err
			}
		}
	}
}

func (s *Source) sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-s.closed:
		return adapters.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// Check implements adapters.Checker: it fails while the broker is down.
func (s *Source) Check(context.Context) error { return s.b.available() }

// Close stops a running Receive with ErrClosed. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
