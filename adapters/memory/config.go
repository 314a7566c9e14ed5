package memory

import (
	"errors"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// SourceConfig configures a memory source.
type SourceConfig struct {
	// Topic names the queue to consume. Sources and sinks on the same
	// Broker and topic share it; several sources on one topic compete for
	// its messages. Required.
	Topic string `yaml:"topic"`
	// RedeliveryDelay is how long the source waits before it redelivers a
	// message whose delivery failed. Default 1s.
	RedeliveryDelay time.Duration `yaml:"redelivery_delay"`
}

// SinkConfig configures a memory sink.
type SinkConfig struct {
	// Topic names the queue to publish to. Required.
	Topic string `yaml:"topic"`
}

// NewSourceConfig returns the source defaults.
func NewSourceConfig() adapters.Config { return &SourceConfig{RedeliveryDelay: time.Second} }

// NewSinkConfig returns the sink defaults.
func NewSinkConfig() adapters.Config { return &SinkConfig{} }

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("topic: is required"))
	}
	if c.RedeliveryDelay < 0 {
		errs = append(errs, fmt.Errorf("redelivery_delay: must not be negative, got %v", c.RedeliveryDelay))
	}
	return errors.Join(errs...)
}

// Validate implements adapters.Config.
func (c *SinkConfig) Validate() error {
	if c.Topic == "" {
		return errors.New("topic: is required")
	}
	return nil
}
