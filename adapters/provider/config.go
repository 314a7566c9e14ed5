package provider

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

// Transport is how a provider receives orders (sink) or sends its
// acknowledgements (source).
type Transport string

// The transports.
const (
	// Webhook: the sink POSTs each message, signed, to the provider.
	Webhook Transport = "webhook"
	// SFTP: the sink uploads one file per message to the provider's server.
	SFTP Transport = "sftp"
	// Callback: the provider POSTs signed acknowledgements to the hub.
	Callback Transport = "callback"
)

// UnmarshalText accepts only the known transports.
func (t *Transport) UnmarshalText(text []byte) error {
	switch v := Transport(text); v {
	case Webhook, SFTP, Callback:
		*t = v
		return nil
	}
	return fmt.Errorf("transport: must be %q, %q or %q, not %q", Webhook, SFTP, Callback, text)
}

// SinkConfig configures the delivery of orders to one provider. Exactly
// the block of the chosen transport is set: webhook or sftp.
type SinkConfig struct {
	// Name identifies the provider: the reply messages' source-system is
	// "provider:<name>". Letters, digits, ".", "_" and "-", at most 55
	// characters (e.g. an HSA-ID or a short slug). Required.
	Name string `yaml:"name"`
	// Transport is "webhook" or "sftp". Default "webhook".
	Transport Transport `yaml:"transport"`
	// Webhook configures transport webhook.
	Webhook WebhookConfig `yaml:"webhook"`
	// SFTP configures transport sftp: every key of the sftp sink (host,
	// port, user, password or private_key, host_key, timeout, dir,
	// filename). See adapters/sftp.
	SFTP sftp.SinkConfig `yaml:"sftp"`
}

// WebhookConfig is the provider's HTTPS endpoint and how to sign for it.
type WebhookConfig struct {
	// URL receives one POST per message. Required. Must be https, except
	// on a loopback host (127.0.0.1, ::1, localhost) for tests. No
	// credentials in the URL.
	URL string `yaml:"url"`
	// Secret, a secret reference (env:NAME or file:/path), is the HMAC-SHA256
	// key shared with the provider; the value is never logged. Required.
	Secret adapters.Secret `yaml:"secret"`
	// Timeout bounds each request, connecting and reading the answer
	// included; when it passes the delivery is retried. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// EventHeader names the message header (lower-case) whose value is
	// sent as X-Knutpunkt-Event, e.g. the order event type the mapping
	// set. Nothing is sent when the message lacks it. Default "event-type".
	EventHeader string `yaml:"event_header"`
	// OrderIDHeader names the message header (lower-case) holding the
	// order's id; a reply whose acknowledgement names no order_id gets it
	// from there. Default "order-id".
	OrderIDHeader string `yaml:"order_id_header"`
	// TLS holds an optional client certificate (mutual TLS) and a private
	// CA for the provider's server.
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig is the webhook's TLS. Each field is a reference resolved like
// a secret (env:NAME or file:/path) to PEM data, so certificates can live
// beside their keys.
type TLSConfig struct {
	// ClientCert is the client certificate chain presented to the provider
	// (mutual TLS), PEM. Set together with client_key. Default: none.
	ClientCert adapters.Secret `yaml:"client_cert"`
	// ClientKey is the client certificate's private key, PEM.
	ClientKey adapters.Secret `yaml:"client_key"`
	// CA is the PEM bundle that verifies the provider's server certificate
	// instead of the system roots. Default: the hub's HTTP client's roots.
	CA adapters.Secret `yaml:"ca"`
}

// SourceConfig configures the reception of one provider's callback
// acknowledgements.
type SourceConfig struct {
	// Name identifies the provider: every message's source-system is
	// "provider:<name>". Same form as the sink's name. Required.
	Name string `yaml:"name"`
	// Transport is "callback", the only source transport. Default "callback".
	Transport Transport `yaml:"transport"`
	// Callback configures transport callback.
	Callback CallbackConfig `yaml:"callback"`
}

// CallbackConfig is the endpoint a provider posts acknowledgements to.
type CallbackConfig struct {
	// Path is the name under /ingest/ the endpoint is mounted at. Default:
	// the pipeline name.
	Path string `yaml:"path"`
	// Secret, a secret reference (env:NAME or file:/path), is the HMAC-SHA256
	// key shared with the provider. Required.
	Secret adapters.Secret `yaml:"secret"`
	// MaxClockSkew is how far a request's X-Knutpunkt-Timestamp may lie
	// from the hub's clock, either way; older requests are refused as
	// replays. Default 5m.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// MaxBodySize is the largest acknowledgement accepted; larger ones get
	// 413. Default 1MiB.
	MaxBodySize adapters.ByteSize `yaml:"max_body_size"`
	// RetryAfter is sent with 503 answers (the hub could not store the
	// acknowledgement; the provider retries). Default 10s.
	RetryAfter time.Duration `yaml:"retry_after"`
}

// NewSinkConfig returns the sink defaults.
func NewSinkConfig() adapters.Config {
	return &SinkConfig{Transport: Webhook, Webhook: defaultWebhook(), SFTP: defaultSFTP()}
}

// NewSourceConfig returns the source defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{Transport: Callback, Callback: defaultCallback()}
}

func defaultWebhook() WebhookConfig {
	return WebhookConfig{Timeout: 30 * time.Second, EventHeader: "event-type", OrderIDHeader: "order-id"}
}

func defaultSFTP() sftp.SinkConfig { return *sftp.NewSinkConfig().(*sftp.SinkConfig) }

func defaultCallback() CallbackConfig {
	return CallbackConfig{MaxClockSkew: 5 * time.Minute, MaxBodySize: 1 << 20, RetryAfter: 10 * time.Second}
}

// namePattern keeps "provider:<name>" within the canonical source_system's
// 64 characters.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,54}$`)

// headerPattern is a knutpunkt header name: lower-case.
var headerPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Validate implements adapters.Config.
func (c *SinkConfig) Validate() error {
	errs := nameProblems(c.Name)
	switch c.Transport {
	case Webhook:
		errs = append(errs, c.Webhook.problems()...)
		if !reflect.DeepEqual(c.SFTP, defaultSFTP()) {
			errs = append(errs, errors.New("sftp: is set, but transport is webhook"))
		}
	case SFTP:
		errs = append(errs, prefixed("sftp.", c.SFTP.Validate())...)
		if !reflect.DeepEqual(c.Webhook, defaultWebhook()) {
			errs = append(errs, errors.New("webhook: is set, but transport is sftp"))
		}
	default:
		errs = append(errs, fmt.Errorf("transport: must be %q or %q for a sink, got %q", Webhook, SFTP, c.Transport))
	}
	return errors.Join(errs...)
}

func (w *WebhookConfig) problems() []error {
	var errs []error
	if err := checkURL(w.URL); err != nil {
		errs = append(errs, fmt.Errorf("webhook.url: %w", err))
	}
	if err := w.Secret.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("webhook.secret: %w", err))
	}
	if w.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("webhook.timeout: must be positive, got %v", w.Timeout))
	}
	if w.EventHeader != "" && !headerPattern.MatchString(w.EventHeader) {
		errs = append(errs, fmt.Errorf("webhook.event_header: %q is not a lower-case header name", w.EventHeader))
	}
	if w.OrderIDHeader != "" && !headerPattern.MatchString(w.OrderIDHeader) {
		errs = append(errs, fmt.Errorf("webhook.order_id_header: %q is not a lower-case header name", w.OrderIDHeader))
	}
	t := w.TLS
	if t.ClientCert.IsZero() != t.ClientKey.IsZero() {
		errs = append(errs, errors.New("webhook.tls.client_cert: set client_cert and client_key together"))
	}
	for key, ref := range map[string]adapters.Secret{"client_cert": t.ClientCert, "client_key": t.ClientKey, "ca": t.CA} {
		if !ref.IsZero() {
			if err := ref.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("webhook.tls.%s: %w", key, err))
			}
		}
	}
	return errs
}

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	errs := nameProblems(c.Name)
	if c.Transport != Callback {
		errs = append(errs, fmt.Errorf("transport: must be %q for a source, got %q", Callback, c.Transport))
	}
	cb := c.Callback
	if strings.ContainsAny(cb.Path, "/?#% ") {
		errs = append(errs, fmt.Errorf("callback.path: must be one URL path segment, got %q", cb.Path))
	}
	if err := cb.Secret.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("callback.secret: %w", err))
	}
	if cb.MaxClockSkew < time.Second || cb.MaxClockSkew > time.Hour {
		errs = append(errs, fmt.Errorf("callback.max_clock_skew: must be 1s-1h, got %v", cb.MaxClockSkew))
	}
	if cb.MaxBodySize <= 0 {
		errs = append(errs, errors.New("callback.max_body_size: must be positive"))
	}
	if cb.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("callback.retry_after: must be at least 1s, got %v", cb.RetryAfter))
	}
	return errors.Join(errs...)
}

func nameProblems(name string) []error {
	switch {
	case name == "":
		return []error{errors.New("name: is required (the provider's id, e.g. omsorg_nord)")}
	case !namePattern.MatchString(name):
		return []error{fmt.Errorf("name: %q must be 1-55 letters, digits, '.', '_' or '-'", name)}
	}
	return nil
}

// prefixed puts prefix before each problem of a joined validation error.
func prefixed(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, prefixed(prefix, e)...)
		}
		return errs
	}
	return []error{fmt.Errorf("%s%w", prefix, err)}
}

func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	switch {
	case u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("must be an absolute https URL, got %q", u.Redacted())
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("must be https (orders carry personal data); http is allowed only on loopback, got %q", u.Redacted())
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
