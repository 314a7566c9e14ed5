package http

import (
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// SourceConfig configures the http source, which receives POSTs on the
// hub's server at /ingest/{path}.
type SourceConfig struct {
	// Path is the name under /ingest/ the source is mounted at. Default:
	// the pipeline name.
	Path string `yaml:"path"`
	// MaxBodySize is the largest body accepted; larger requests get 413.
	// Default 10MiB.
	MaxBodySize adapters.ByteSize `yaml:"max_body_size"`
	// ContentTypes lists the accepted media types (parameters such as
	// charset are ignored); others get 415. Empty accepts any. Default
	// [application/json, application/xml, text/xml, text/csv].
	ContentTypes []string `yaml:"content_types"`
	// SourceSystem, if set, is the source-system header of every message
	// and the caller's X-Source-System header is ignored. Set it when one
	// vendor posts here: a caller must not pick the idempotency scope of
	// another system. Default: taken from X-Source-System.
	SourceSystem string `yaml:"source_system"`
	// RetryAfter is sent with 503 answers, telling the client when to
	// retry. Default 10s.
	RetryAfter time.Duration `yaml:"retry_after"`
}

// SinkConfig configures the http sink, which sends each message as one
// HTTP request.
type SinkConfig struct {
	// URL receives the requests (http or https). Required. Credentials do
	// not belong here: use bearer_token or username/password.
	URL string `yaml:"url"`
	// Method is POST, PUT or PATCH. Default POST.
	Method string `yaml:"method"`
	// Headers are added to every request, e.g. an API version.
	Headers map[string]string `yaml:"headers"`
	// BearerToken, a secret reference (env:NAME or file:/path), is sent as
	// "Authorization: Bearer ...".
	BearerToken adapters.Secret `yaml:"bearer_token"`
	// Username for basic auth, with password.
	Username string `yaml:"username"`
	// Password for basic auth, a secret reference.
	Password adapters.Secret `yaml:"password"`
	// Timeout bounds each request, including reading the answer. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// HealthURL is probed by the readiness check with GET and must answer
	// 2xx. Default: HEAD on url, where any answer below 500 passes.
	HealthURL string `yaml:"health_url"`
}

// NewSourceConfig returns the source defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{
		MaxBodySize:  10 << 20,
		ContentTypes: []string{"application/json", "application/xml", "text/xml", "text/csv"},
		RetryAfter:   10 * time.Second,
	}
}

// NewSinkConfig returns the sink defaults.
func NewSinkConfig() adapters.Config {
	return &SinkConfig{Method: "POST", Timeout: 30 * time.Second}
}

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	var errs []error
	if strings.ContainsAny(c.Path, "/?#% ") {
		errs = append(errs, fmt.Errorf("path: must be one URL path segment, got %q", c.Path))
	}
	if c.MaxBodySize <= 0 {
		errs = append(errs, errors.New("max_body_size: must be positive"))
	}
	for i, ct := range c.ContentTypes {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != strings.ToLower(ct) {
			errs = append(errs, fmt.Errorf("content_types[%d]: %q is not a bare media type such as application/json", i, ct))
		}
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("retry_after: must be at least 1s, got %v", c.RetryAfter))
	}
	return errors.Join(errs...)
}

// Validate implements adapters.Config.
func (c *SinkConfig) Validate() error {
	var errs []error
	if err := checkURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	switch c.Method {
	case "POST", "PUT", "PATCH":
	default:
		errs = append(errs, fmt.Errorf("method: must be POST, PUT or PATCH, got %q", c.Method))
	}
	if !c.BearerToken.IsZero() {
		if err := c.BearerToken.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("bearer_token: %w", err))
		}
		if c.Username != "" || !c.Password.IsZero() {
			errs = append(errs, errors.New("bearer_token: set either bearer_token or username/password, not both"))
		}
	}
	if c.Username != "" || !c.Password.IsZero() {
		if c.Username == "" {
			errs = append(errs, errors.New("username: is required with password"))
		}
		if err := c.Password.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("password: %w", err))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %v", c.Timeout))
	}
	if c.HealthURL != "" {
		if err := checkURL(c.HealthURL); err != nil {
			errs = append(errs, fmt.Errorf("health_url: %w", err))
		}
	}
	return errors.Join(errs...)
}

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL, got %q", u.Redacted())
	}
	if u.User != nil {
		return errors.New("must not contain credentials: use username/password or bearer_token")
	}
	return nil
}
