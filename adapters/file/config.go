package file

import (
	"errors"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// SourceConfig configures a file source: a local drop directory polled for
// files (see dropdir.SourceConfig for every key: dir, pattern, ignore,
// poll_interval, settle_time, after_delivery, done_dir, failed_dir,
// content_type, source_system).
type SourceConfig struct {
	dropdir.SourceConfig `yaml:",inline"`
}

// SinkConfig configures a file sink: a local directory that receives one
// file per message (keys dir and filename, see dropdir.SinkConfig).
type SinkConfig struct {
	dropdir.SinkConfig `yaml:",inline"`
}

// NewSourceConfig returns the source defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{SourceConfig: dropdir.DefaultSourceConfig()}
}

// NewSinkConfig returns the sink defaults.
func NewSinkConfig() adapters.Config {
	return &SinkConfig{SinkConfig: dropdir.DefaultSinkConfig()}
}

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error { return errors.Join(c.Problems()...) }

// Validate implements adapters.Config.
func (c *SinkConfig) Validate() error { return errors.Join(c.Problems()...) }
