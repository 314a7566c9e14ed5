package tes

import (
	"errors"
	"fmt"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/transport"
)

// DefaultMaxVisits is how many visits one pushed sync may carry by default:
// a phone's day, and a week offline, fit many times over.
const DefaultMaxVisits = 1000

// SourceConfig configures the tes source: the flat transport config
// (transport.Source; transport http is the push API, sftp and file the
// nightly export) and max_visits. For the export, the pattern's extension
// decides the format: .csv (a header row, a visit per row), .json (a sync
// object or an array of visits), .jsonl or .ndjson (a visit per line).
// source_system is always "tes".
type SourceConfig struct {
	transport.Source `yaml:",inline"`
	// MaxVisits is the most visits one pushed sync may carry; a larger one
	// is refused whole (422), so the sender splits it. Default 1000.
	MaxVisits int `yaml:"max_visits"`
}

// NewSourceConfig returns the defaults: transport http, JSON, 10 MiB and
// 1000 visits per sync; for the export pattern "*.csv", content_type
// text/csv (the mapping detects the charset).
func NewSourceConfig() adapters.Config {
	c := transport.NewSource()
	c.ContentTypes = []string{"application/json"}
	c.Pattern = "*.csv"
	c.ContentType = "text/csv"
	c.SourceSystem = SourceSystem
	return &SourceConfig{Source: c, MaxVisits: DefaultMaxVisits}
}

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	errs := []error{c.Source.Validate()}
	if c.MaxVisits < 1 || c.MaxVisits > 100_000 {
		errs = append(errs, fmt.Errorf("max_visits: must be 1-100000, got %d", c.MaxVisits))
	}
	if c.SourceSystem != SourceSystem {
		errs = append(errs, fmt.Errorf("source_system: is always %q for TES visits", SourceSystem))
	}
	if c.Transport != transport.HTTP {
		if _, err := formatOf(c.Pattern); err != nil {
			errs = append(errs, fmt.Errorf("pattern: %w", err))
		}
	}
	return errors.Join(errs...)
}
