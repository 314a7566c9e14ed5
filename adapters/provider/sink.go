package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

// Sink delivers messages to one provider, by signed webhook or SFTP drop.
//
// Webhook: one POST per message with the body byte-exact, Content-Type from
// the content-type header (default application/octet-stream),
// Idempotency-Key = message ID, X-Knutpunkt-Event, X-Knutpunkt-Timestamp and
// X-Knutpunkt-Signature (see Sign; every attempt is signed anew), and
// X-Source-System, X-External-Id, X-Correlation-Id when the message has
// them. Redirects are not followed. A 2xx is a delivery; 408, 409, 425,
// 429, 5xx, timeouts and connection failures are transient; any other
// status is permanent, its error holding the start of the provider's
// answer with personnummer masked. Idempotency is the provider's part: it
// must treat a repeated Idempotency-Key as the same delivery.
//
// SFTP: the sftp adapter's sink, idempotent by file name.
//
// Send and SendWithReply are safe for concurrent use; secrets and
// certificates are resolved once, when the sink is opened.
type Sink struct {
	name   string
	hook   *webhook   // transport webhook
	drop   *sftp.Sink // transport sftp
	closed atomic.Bool
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink builds the sink for a validated cfg, resolving its secrets. It
// makes no connection.
func NewSink(cfg SinkConfig, env adapters.Env) (*Sink, error) {
	env = env.WithDefaults()
	s := &Sink{name: cfg.Name}
	var err error
	switch cfg.Transport {
	case Webhook:
		s.hook, err = newWebhook(cfg.Name, cfg.Webhook, env)
	case SFTP:
		if s.drop, err = sftp.NewSink(cfg.SFTP, env); err != nil {
			err = fmt.Errorf("sftp.%w", err) // its errors start with their key
		}
	default:
		err = fmt.Errorf("transport: %q is not a sink transport", cfg.Transport)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Send implements adapters.Sink; an acknowledgement in the answer is
// dropped (see SendWithReply).
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	_, err := s.SendWithReply(ctx, m)
	return err
}

// SendWithReply delivers m like Send and returns the provider's
// acknowledgement, if its answer carried one, as a message for the hub.
//
// A reply exists only for transport webhook, only when err is nil, and
// only when the provider answered 200 or 201 with a JSON Ack whose status
// is "mottagen" or "avvisad"; otherwise reply is nil. An "avvisad" ack is a
// successful delivery with a rejecting reply, not an error.
//
// The reply has no ID (the hub assigns one) and these headers:
// content-type application/json; source-system "provider:<name>";
// external-id "<key>:ack", its idempotency key, so a repeated delivery
// (a replay too) that the provider answers with the same ack yields the
// same reply; correlation-id from m (or m.ID); provider-ack-status; and the
// order id under webhook.order_id_header when known. Its body is the Ack,
// normalised: message_id = key, order_id and occurred_at filled in where
// the provider left them out, provider = name.
func (s *Sink) SendWithReply(ctx context.Context, m knutpunkt.Message) (*knutpunkt.Message, error) {
	if s.closed.Load() {
		return nil, adapters.ErrClosed
	}
	if s.drop != nil {
		return nil, s.drop.Send(ctx, m)
	}
	return s.hook.send(ctx, m)
}

// Check implements adapters.Checker. Webhook: HEAD url must answer below
// 500 (any answer proves the provider's server is up; the HEAD is not
// signed and delivers nothing). SFTP: the server answers and dir is
// writable.
func (s *Sink) Check(ctx context.Context) error {
	if s.drop != nil {
		return s.drop.Check(ctx)
	}
	return s.hook.check(ctx)
}

// Close makes later sends fail with ErrClosed and closes an SFTP
// connection. It is idempotent.
func (s *Sink) Close() error {
	s.closed.Store(true)
	if s.drop != nil {
		return s.drop.Close()
	}
	return nil
}

// maxAnswer bounds how much of a provider's answer is read.
const maxAnswer = 64 << 10

type webhook struct {
	name   string
	cfg    WebhookConfig
	keys   *keyring
	client *resty.Client
	target string // the URL for error texts
	log    *zap.Logger
}

func newWebhook(name string, cfg WebhookConfig, env adapters.Env) (*webhook, error) {
	keys, err := newKeyring(cfg.Secret, env.Secrets)
	if err != nil {
		return nil, fmt.Errorf("webhook.secret: %w", err)
	}
	hc := *env.HTTPClient // keep the hub's client untouched
	// A redirect would turn the POST into a GET elsewhere: refuse it.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.TLS != (TLSConfig{}) {
		if hc.Transport, err = tlsTransport(hc.Transport, cfg.TLS, env.Secrets); err != nil {
			return nil, err
		}
	}
	u, _ := url.Parse(cfg.URL) // validated
	return &webhook{
		name:   name,
		cfg:    cfg,
		keys:   keys,
		client: resty.NewWithClient(&hc).SetTimeout(cfg.Timeout).SetLogger(env.Logger.Sugar()),
		target: u.Redacted(),
		log:    env.Logger,
	}, nil
}

// tlsTransport clones base (the hub's transport) with the client
// certificate and CA of t.
func tlsTransport(base http.RoundTripper, t TLSConfig, secrets adapters.SecretResolver) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	tr, ok := base.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("webhook.tls: the hub's HTTP transport is a %T, which cannot take a client certificate", base)
	}
	tr = tr.Clone()
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		tc = tr.TLSClientConfig.Clone()
	}
	if !t.ClientCert.IsZero() {
		certPEM, err := secrets.Resolve(t.ClientCert)
		if err != nil {
			return nil, fmt.Errorf("webhook.tls.client_cert: %w", err)
		}
		keyPEM, err := secrets.Resolve(t.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("webhook.tls.client_key: %w", err)
		}
		cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			return nil, fmt.Errorf("webhook.tls.client_cert %s with client_key %s: not a matching PEM certificate and key", t.ClientCert, t.ClientKey)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if !t.CA.IsZero() {
		caPEM, err := secrets.Resolve(t.CA)
		if err != nil {
			return nil, fmt.Errorf("webhook.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, fmt.Errorf("webhook.tls.ca %s: no PEM certificate in it", t.CA)
		}
		tc.RootCAs = pool
	}
	tr.TLSClientConfig = tc
	return tr, nil
}

func (w *webhook) send(ctx context.Context, m knutpunkt.Message) (*knutpunkt.Message, error) {
	ct := m.Header(knutpunkt.HeaderContentType)
	if ct == "" {
		ct = "application/octet-stream"
	}
	key := m.IdempotencyKey()
	ts, sig := Sign(w.keys.signing(), time.Now(), key, m.Body)
	req := w.client.R().SetContext(ctx).
		SetDoNotParseResponse(true).
		SetHeader("Content-Type", ct).
		SetHeader(HeaderIdempotencyKey, key).
		SetHeader(HeaderTimestamp, ts).
		SetHeader(HeaderSignature, sig).
		SetBody(m.Body)
	for k, h := range map[string]string{
		w.cfg.EventHeader:             HeaderEvent,
		knutpunkt.HeaderSourceSystem:  kphttp.HeaderSourceSystem,
		knutpunkt.HeaderExternalID:    kphttp.HeaderExternalID,
		knutpunkt.HeaderCorrelationID: kphttp.HeaderCorrelationID,
	} {
		if v := m.Header(k); k != "" && v != "" {
			req.SetHeader(h, v)
		}
	}
	resp, err := req.Post(w.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", w.target, unwrapURLError(err))
	}
	body, err := readAnswer(resp.RawBody())
	if err != nil {
		// The status arrived but not the answer: a 2xx is still a
		// delivery, only its ack is lost.
		w.log.Debug("answer unreadable", zap.String("msg_id", m.ID), zap.Error(err))
	}
	code := resp.StatusCode()
	if err := classify(code, w.target, body); err != nil {
		return nil, err
	}
	w.log.Debug("delivered", zap.String("msg_id", m.ID), zap.Int("status", code))
	if code != http.StatusOK && code != http.StatusCreated {
		return nil, nil
	}
	ack, ok := parseAck(body)
	if !ok {
		return nil, nil
	}
	return w.reply(m, ack), nil
}

func readAnswer(rc io.ReadCloser) ([]byte, error) {
	if rc == nil {
		return nil, nil
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<20)) // let the connection be reused
	return b, err
}

// reply turns the provider's ack of m into a message for the hub.
func (w *webhook) reply(m knutpunkt.Message, a Ack) *knutpunkt.Message {
	a.MessageID = m.IdempotencyKey()
	a.Provider = w.name
	if a.OrderID == "" && w.cfg.OrderIDHeader != "" {
		a.OrderID = m.Header(w.cfg.OrderIDHeader)
	}
	if a.OccurredAt == "" {
		a.OccurredAt = time.Now().UTC().Format(time.RFC3339)
	}
	body, _ := json.Marshal(a) // strings only: cannot fail
	corr := m.Header(knutpunkt.HeaderCorrelationID)
	if corr == "" {
		corr = m.ID
	}
	r := &knutpunkt.Message{
		Headers: map[string]string{
			knutpunkt.HeaderContentType:   "application/json",
			knutpunkt.HeaderSourceSystem:  "provider:" + w.name,
			knutpunkt.HeaderExternalID:    a.MessageID + ":ack",
			knutpunkt.HeaderCorrelationID: corr,
			HeaderAckStatus:               string(a.Status),
		},
		Body: body,
	}
	if w.cfg.OrderIDHeader != "" && a.OrderID != "" {
		r.Headers[w.cfg.OrderIDHeader] = a.OrderID
	}
	return r
}

// classify turns a provider's status into nil, a transient or a permanent
// error.
func classify(code int, target string, body []byte) error {
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("POST %s: status %d: %s", target, code, answerReason(body))
	switch {
	case code >= 500,
		code == http.StatusRequestTimeout,  // 408: the provider gave up waiting
		code == http.StatusConflict,        // 409: the same Idempotency-Key is still in flight
		code == http.StatusTooEarly,        // 425
		code == http.StatusTooManyRequests: // 429
		return err
	}
	return adapters.Permanent(err)
}

// personIDPattern matches a personnummer or samordningsnummer, with or
// without century and separator.
var personIDPattern = regexp.MustCompile(`\b(?:\d{2})?\d{6}[-+]?\d{4}\b`)

// answerReason is the provider's explanation for a dead letter: the
// reason, error, message, detail or title of a JSON answer (never its other
// fields), else its text, on one
// line, personnummer masked, at most 200 bytes. The request body is never
// echoed.
func answerReason(body []byte) string {
	var obj map[string]any
	s := string(body)
	if json.Unmarshal(body, &obj) == nil {
		// Other fields may echo the order, personal data included.
		s = "(the answer has no reason, error, message, detail or title)"
		for _, k := range []string{"reason", "error", "message", "detail", "title"} {
			if v, ok := obj[k].(string); ok && v != "" {
				s = v
				break
			}
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	s = personIDPattern.ReplaceAllString(s, "[personnummer]")
	if s == "" {
		return "(no answer body)"
	}
	return truncate(s, 200)
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats method
// and URL.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

func (w *webhook) check(ctx context.Context) error {
	resp, err := w.client.R().SetContext(ctx).Head(w.cfg.URL)
	if err != nil {
		return fmt.Errorf("check %s: %w", w.target, unwrapURLError(err))
	}
	if resp.StatusCode() >= 500 {
		return fmt.Errorf("check %s: status %d", w.target, resp.StatusCode())
	}
	return nil
}
