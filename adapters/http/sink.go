package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/go-resty/resty/v2"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Sink sends each message as one HTTP request with resty, over a copy of
// the hub's HTTP client (its transport, proxy and TLS settings).
//
// Headers sent: Content-Type from the content-type header (default
// application/octet-stream), Idempotency-Key = the message's
// IdempotencyKey (its ID, or for a replay the original's), and
// X-Source-System, X-External-Id, X-Correlation-Id when the message has
// them. Idempotency is the receiver's part: it must treat a repeated
// Idempotency-Key as the same request.
//
// Errors: a 2xx is success; 408, 429, 5xx, timeouts and connection
// failures are transient; any other status (4xx, or 3xx left unfollowed) is
// permanent. Secrets are resolved once, when the sink is opened.
type Sink struct {
	cfg    SinkConfig
	log    *zap.Logger
	client *resty.Client
	closed atomic.Bool
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink builds the client for a validated cfg and resolves its secrets.
// It makes no request.
func NewSink(cfg SinkConfig, env adapters.Env) (*Sink, error) {
	env = env.WithDefaults()
	hc := *env.HTTPClient // resty sets the timeout on its client; keep the hub's untouched
	c := resty.NewWithClient(&hc).
		SetTimeout(cfg.Timeout).
		SetLogger(env.Logger.Sugar()).
		SetHeaders(cfg.Headers)
	switch {
	case !cfg.BearerToken.IsZero():
		tok, err := env.Secrets.Resolve(cfg.BearerToken)
		if err != nil {
			return nil, fmt.Errorf("bearer_token: %w", err)
		}
		c.SetAuthToken(tok)
	case cfg.Username != "":
		pw, err := env.Secrets.Resolve(cfg.Password)
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		c.SetBasicAuth(cfg.Username, pw)
	}
	return &Sink{cfg: cfg, log: env.Logger, client: c}, nil
}

// Send implements adapters.Sink.
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	if s.closed.Load() {
		return adapters.ErrClosed
	}
	ct := m.Header(knutpunkt.HeaderContentType)
	if ct == "" {
		ct = "application/octet-stream"
	}
	req := s.client.R().SetContext(ctx).
		SetHeader("Content-Type", ct).
		SetHeader(HeaderIdempotencyKey, m.IdempotencyKey()).
		SetBody(m.Body)
	for k, h := range map[string]string{
		knutpunkt.HeaderSourceSystem:  HeaderSourceSystem,
		knutpunkt.HeaderExternalID:    HeaderExternalID,
		knutpunkt.HeaderCorrelationID: HeaderCorrelationID,
	} {
		if v := m.Header(k); v != "" {
			req.SetHeader(h, v)
		}
	}
	resp, err := req.Execute(s.cfg.Method, s.cfg.URL)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.cfg.Method, s.cfg.URL, unwrapURLError(err))
	}
	return classify(s.cfg.Method, s.cfg.URL, resp)
}

// classify turns a response into nil, a transient or a permanent error.
func classify(method, url string, resp *resty.Response) error {
	code := resp.StatusCode()
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("%s %s: status %d: %s", method, url, code, snippet(resp.Body()))
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return err
	}
	return adapters.Permanent(err)
}

// snippet returns the start of a vendor's error body, for the dead letter.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats method
// and URL.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// Check implements adapters.Checker: GET health_url must answer 2xx, or,
// without one, HEAD url must answer below 500.
func (s *Sink) Check(ctx context.Context) error {
	if s.cfg.HealthURL != "" {
		resp, err := s.client.R().SetContext(ctx).Get(s.cfg.HealthURL)
		if err != nil {
			return fmt.Errorf("check %s: %w", s.cfg.HealthURL, unwrapURLError(err))
		}
		if !resp.IsSuccess() {
			return fmt.Errorf("check %s: status %d", s.cfg.HealthURL, resp.StatusCode())
		}
		return nil
	}
	resp, err := s.client.R().SetContext(ctx).Head(s.cfg.URL)
	if err != nil {
		return fmt.Errorf("check %s: %w", s.cfg.URL, unwrapURLError(err))
	}
	if resp.StatusCode() >= 500 {
		return fmt.Errorf("check %s: status %d", s.cfg.URL, resp.StatusCode())
	}
	return nil
}

// Close makes later Sends fail with ErrClosed. The hub's transport stays
// open. Close is idempotent.
func (s *Sink) Close() error {
	s.closed.Store(true)
	return nil
}
