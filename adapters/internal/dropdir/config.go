package dropdir

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"time"
)

// Disposal says what a source does with a file once the hub has it.
type Disposal string

// The dispositions.
const (
	// Move renames the file into done_dir.
	Move Disposal = "move"
	// Delete removes the file.
	Delete Disposal = "delete"
)

// UnmarshalText accepts only the known dispositions.
func (d *Disposal) UnmarshalText(text []byte) error {
	switch v := Disposal(text); v {
	case Move, Delete:
		*d = v
		return nil
	}
	return fmt.Errorf("after_delivery: must be %q or %q, not %q", Move, Delete, text)
}

// SourceConfig is the part of a file or SFTP source's config that
// describes the drop directory. Adapters embed it inline.
type SourceConfig struct {
	// Dir is the directory the vendor drops files into. Required.
	Dir string `yaml:"dir"`
	// Pattern selects the files to pick up, as a glob on the file name
	// (path.Match syntax, e.g. "*.xml"). Default "*".
	Pattern string `yaml:"pattern"`
	// Ignore lists globs of file names that are never picked up: files
	// still being written under a temporary name. Default [".*", "*.tmp", "*.part"].
	Ignore []string `yaml:"ignore"`
	// PollInterval is the time between two scans of dir. Default 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// SettleTime is how long a file must be unmodified before it is picked
	// up, so that a file written in place is not read half-way. 0 trusts
	// the vendor to rename files into place. Default 2s.
	SettleTime time.Duration `yaml:"settle_time"`
	// AfterDelivery is "move" (into done_dir) or "delete". Default "move".
	AfterDelivery Disposal `yaml:"after_delivery"`
	// DoneDir receives delivered files when after_delivery is "move";
	// relative to dir unless absolute. A file of the same name is replaced.
	// Default "done".
	DoneDir string `yaml:"done_dir"`
	// FailedDir receives files the hub refused for good, each with a
	// NAME.error file giving the reason; relative to dir unless absolute.
	// Default "failed".
	FailedDir string `yaml:"failed_dir"`
	// ContentType is the content-type header of every message. Default:
	// guessed from the file extension, else application/octet-stream.
	ContentType string `yaml:"content_type"`
	// SourceSystem, if set, is the source-system header of every message.
	SourceSystem string `yaml:"source_system"`
}

// DefaultSourceConfig returns the defaults of SourceConfig.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{
		Pattern:       "*",
		Ignore:        []string{".*", "*.tmp", "*.part"},
		PollInterval:  5 * time.Second,
		SettleTime:    2 * time.Second,
		AfterDelivery: Move,
		DoneDir:       "done",
		FailedDir:     "failed",
	}
}

// Problems returns every problem of c, each prefixed with its YAML key.
func (c *SourceConfig) Problems() []error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: is required"))
	}
	if _, err := path.Match(c.Pattern, ""); err != nil || c.Pattern == "" {
		errs = append(errs, fmt.Errorf("pattern: invalid glob %q", c.Pattern))
	}
	for i, g := range c.Ignore {
		if _, err := path.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("ignore[%d]: invalid glob %q", i, g))
		}
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: must be positive, got %v", c.PollInterval))
	}
	if c.SettleTime < 0 {
		errs = append(errs, fmt.Errorf("settle_time: must not be negative, got %v", c.SettleTime))
	}
	if c.AfterDelivery == Move && c.DoneDir == "" {
		errs = append(errs, errors.New(`done_dir: is required when after_delivery is "move"`))
	}
	if c.FailedDir == "" {
		errs = append(errs, errors.New("failed_dir: is required"))
	}
	return errs
}

// SinkConfig is the part of a file or SFTP sink's config that describes
// the target directory. Adapters embed it inline.
type SinkConfig struct {
	// Dir is the directory files are written to. Required.
	Dir string `yaml:"dir"`
	// Filename is a text/template for each file's name, over .ID (the
	// message's IdempotencyKey: its ID, or for a replay the original's) and
	// .Headers (e.g. {{index .Headers "external-id"}}). The ID makes the
	// sink idempotent: a file of that name that already exists is not
	// written again, by a replay either. The name must be one path
	// element and must not start with "." (reserved for temporary files).
	// Default "{{.ID}}".
	Filename string `yaml:"filename"`
}

// DefaultSinkConfig returns the defaults of SinkConfig.
func DefaultSinkConfig() SinkConfig { return SinkConfig{Filename: "{{.ID}}"} }

// Problems returns every problem of c, each prefixed with its YAML key.
func (c *SinkConfig) Problems() []error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: is required"))
	}
	if strings.TrimSpace(c.Filename) == "" {
		errs = append(errs, errors.New("filename: is required"))
	} else if _, err := template.New("filename").Parse(c.Filename); err != nil {
		errs = append(errs, fmt.Errorf("filename: %w", err))
	}
	return errs
}
