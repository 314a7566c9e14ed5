package nuki

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Defaults of the configs.
const (
	DefaultBaseURL       = "https://api.nuki.io"
	DefaultTimeout       = 30 * time.Second
	DefaultCreateTimeout = 30 * time.Second
	DefaultCreatePoll    = 500 * time.Millisecond
	DefaultPollInterval  = time.Minute
	DefaultSince         = 24 * time.Hour
	DefaultOverlap       = 10 * time.Minute
)

// What a source reads.
const (
	ReadEvents = "events"
	ReadGrants = "grants"
)

// API is what both directions need to reach the Web API.
type API struct {
	// BaseURL is the Web API's root. Default https://api.nuki.io.
	BaseURL string `yaml:"base_url"`
	// Token is the API token (sent as Bearer), a secret reference
	// (env:NAME or file:/path). Required.
	Token adapters.Secret `yaml:"token"`
	// Timeout bounds each request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

func (a API) validate() []error {
	var errs []error
	if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base_url: must be an http(s):// URL, got %q", a.BaseURL))
	}
	if err := a.Token.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("token: %w", err))
	}
	if a.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %v", a.Timeout))
	}
	return errs
}

// SinkConfig configures the nuki sink.
type SinkConfig struct {
	API `yaml:",inline"`
	// CreateTimeout bounds the wait for a created auth to appear in the
	// lock's list (the vendor creates it asynchronously and answers 204
	// without its id); past it the change fails transiently and the retry
	// finds the auth. Default 30s.
	CreateTimeout time.Duration `yaml:"create_timeout"`
	// CreatePoll is the longest pause between two reads of the list while
	// waiting for a write to show (the pause starts at a sixteenth of it
	// and doubles). Default 500ms.
	CreatePoll time.Duration `yaml:"create_poll"`
	// UserEmailDomain is the domain of the account users the sink creates:
	// <hsa-id lowercased>@<domain>. The vendor requires an email; use a
	// domain of the municipality's that receives no mail for people.
	// Required.
	UserEmailDomain string `yaml:"user_email_domain"`
}

// NewSinkConfig returns the sink's defaults.
func NewSinkConfig() adapters.Config {
	return &SinkConfig{API: API{BaseURL: DefaultBaseURL, Timeout: DefaultTimeout},
		CreateTimeout: DefaultCreateTimeout, CreatePoll: DefaultCreatePoll}
}

var emailDomain = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)

// Validate implements adapters.Config.
func (c *SinkConfig) Validate() error {
	errs := c.API.validate()
	if c.CreateTimeout <= 0 {
		errs = append(errs, fmt.Errorf("create_timeout: must be positive, got %v", c.CreateTimeout))
	}
	if c.CreatePoll <= 0 || c.CreatePoll > c.CreateTimeout {
		errs = append(errs, fmt.Errorf("create_poll: must be positive and at most create_timeout, got %v", c.CreatePoll))
	}
	if !emailDomain.MatchString(c.UserEmailDomain) {
		errs = append(errs, fmt.Errorf("user_email_domain: is required: a lower-case domain such as kommun.example, got %q", c.UserEmailDomain))
	}
	return errors.Join(errs...)
}

// SourceConfig configures the nuki source.
type SourceConfig struct {
	API `yaml:",inline"`
	// Read is what the source reads: events (the locks' logs, one message
	// per event) or grants (one snapshot of every auth per poll). Required.
	Read string `yaml:"read"`
	// SourceSystem is the source-system header of every message. Default
	// nuki.
	SourceSystem string `yaml:"source_system"`
	// Locks are the smartlockIds read. Empty: every lock of the account
	// (events: the account's log; grants: GET /smartlock at each poll).
	Locks []int64 `yaml:"locks"`
	// PollInterval is the time between reads; the first is at start.
	// Default 1m.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Since is how far back events are read when the hub holds no cursor
	// yet (a first start, or no cursor store). Events only. Default 24h.
	Since time.Duration `yaml:"since"`
	// Overlap is how far before the newest event read each poll reads
	// again, for events a lock logs late with an earlier date (a lock
	// offline for a while); the ids read within it are kept in the cursor
	// and not delivered twice. Events only. Default 10m.
	Overlap time.Duration `yaml:"overlap"`
}

// NewSourceConfig returns the source's defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{API: API{BaseURL: DefaultBaseURL, Timeout: DefaultTimeout}, SourceSystem: DefaultSourceSystem,
		PollInterval: DefaultPollInterval, Since: DefaultSince, Overlap: DefaultOverlap}
}

var sourceSystem = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	errs := c.API.validate()
	if c.Read != ReadEvents && c.Read != ReadGrants {
		errs = append(errs, fmt.Errorf("read: is required: events or grants, got %q", c.Read))
	}
	if !sourceSystem.MatchString(c.SourceSystem) {
		errs = append(errs, fmt.Errorf("source_system: 1-64 lower-case letters, digits, '.', '_' or '-', got %q", c.SourceSystem))
	}
	seen := map[int64]bool{}
	for i, id := range c.Locks {
		if id <= 0 || seen[id] {
			errs = append(errs, fmt.Errorf("locks[%d]: must be a positive smartlockId, listed once, got %d", i, id))
		}
		seen[id] = true
	}
	if c.PollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll_interval: must be at least 10ms, got %v", c.PollInterval))
	}
	if c.Since <= 0 {
		errs = append(errs, fmt.Errorf("since: must be positive, got %v", c.Since))
	}
	if c.Overlap < 0 {
		errs = append(errs, fmt.Errorf("overlap: must not be negative, got %v", c.Overlap))
	}
	return errors.Join(errs...)
}
