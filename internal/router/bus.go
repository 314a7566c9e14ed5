package router

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-sqlite/wmsqlitezombiezen"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"time"
	"zombiezen.com/go/sqlite"
)

// Bus is the message transport between the hub's handlers: a publisher and a
// subscriber per consumer group.
type Bus struct {
	publisher  message.Publisher
	subscriber func(group string) (message.Subscriber, error)
	closers    []func() error
}

// Close releases the bus.
func (b *Bus) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// NewMemoryBus returns an in-process, non-durable bus. Use it only in tests.
func NewMemoryBus() *Bus {
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024, Persistent: true}, watermill.NopLogger{})
	return &Bus{
		publisher:  gc,
		subscriber: func(string) (message.Subscriber, error) { return gc, nil },
		closers:    []func() error{gc.Close},
	}
}

// OpenSQLiteBus opens the embedded durable bus in the SQLite file at path
// (created if missing), beside the store. Messages survive restarts; each
// consumer group keeps its own offset.
func OpenSQLiteBus(path string) (*Bus, error) {
	conn, err := sqlite.OpenConn(path)
	if err != nil {
		return nil, fmt.Errorf("open bus %s: %w", path, err)
	}
	conn.SetBusyTimeout(10 * time.Second)
	pub, err := wmsqlitezombiezen.NewPublisher(conn, wmsqlitezombiezen.PublisherOptions{InitializeSchema: true})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open bus publisher: %w", err)
	}
	infinite := time.Duration(0)
	b := &Bus{publisher: pub, closers: []func() error{pub.Close, conn.Close}}
	b.subscriber = func(group string) (message.Subscriber, error) {
		sub, err := wmsqlitezombiezen.NewSubscriber(path, wmsqlitezombiezen.SubscriberOptions{
			ConsumerGroupMatcher: wmsqlitezombiezen.NewStaticConsumerGroupMatcher(group),
			PollInterval:         20 * time.Millisecond,
			BatchSize:            100,
			InitializeSchema:     true,
			// Retries happen inside the handler, with their own backoff; an
			// ack deadline would redeliver a message still being retried.
			AckDeadline: &infinite,
		})
		if err != nil {
			return nil, fmt.Errorf("open bus subscriber %s: %w", group, err)
		}
		b.closers = append([]func() error{sub.Close}, b.closers...)
		return sub, nil
	}
	return b, nil
}
