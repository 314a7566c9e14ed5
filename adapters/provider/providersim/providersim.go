// Package providersim simulates a home care provider's system (utförare) on
// loopback, for tests and the demo: a webhook receiver that verifies the
// hub's signatures, records deliveries, deduplicates them by
// Idempotency-Key and answers each with an acknowledgement; it can be told
// to fail, be slow, reject, decline, or go down. It also posts signed
// acknowledgements to the hub's callback endpoint (SendAck). NewSFTP is a
// provider that takes orders as files over SFTP instead.
//
// The signature checks are written here from the scheme in the provider
// adapter's README, not borrowed from the adapter, so the two are tested
// against each other the way a real provider would meet the hub.
package providersim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/provider"
)

// Options configures a Server.
type Options struct {
	// Secret is the HMAC-SHA256 key shared with the hub, for deliveries
	// and for SendAck. Required.
	Secret string
	// TLS serves HTTPS with a fresh self-signed certificate for 127.0.0.1
	// (see CertPEM). Default plain HTTP.
	TLS bool
	// ClientCAs, with TLS, requires a client certificate that one of them
	// signed (mutual TLS). Default: no client certificate asked for.
	ClientCAs *x509.CertPool
	// MaxClockSkew bounds how far a delivery's timestamp may be from the
	// simulator's clock. Default 5m.
	MaxClockSkew time.Duration
}

// Delivery is one delivery the simulator accepted.
type Delivery struct {
	// IdempotencyKey is the hub's message ID.
	IdempotencyKey string
	// Event is the X-Knutpunkt-Event header, "" if absent.
	Event string
	// ContentType is the Content-Type header.
	ContentType string
	// Header holds every request header.
	Header http.Header
	// Body is the request body, byte-exact.
	Body []byte
	// ClientCert is the common name of the client certificate, "" without one.
	ClientCert string
	// Ack is what the simulator answered.
	Ack provider.Ack
	// At is when the delivery arrived.
	At time.Time
}

// answer is a stored response, replayed to a repeated Idempotency-Key.
type answer struct {
	status int
	body   []byte
}

// Server is a simulated provider's webhook endpoint.
type Server struct {
	opts    Options
	addr    string
	tlsConf *tls.Config
	certPEM []byte
	client  *http.Client // for SendAck

	mu        sync.Mutex
	srv       *http.Server
	wg        sync.WaitGroup
	closed    bool
	received  []Delivery
	answers   map[string]answer
	requests  int
	dups      int
	unauth    int
	failures  int           // Fail: the next n deliveries get 500
	delay     time.Duration // Slow
	reject    string        // Reject: 400 with this reason
	decline   string        // Decline: ack avvisad with this reason
	rejecting bool
	declining bool
	misnamed  string        // Misname: the acks name this order instead
	release   chan struct{} // closed by Up and Close to end a Slow wait
}

// New starts a simulator on 127.0.0.1 with a free port.
func New(opts Options) (*Server, error) {
	if opts.Secret == "" {
		return nil, errors.New("providersim: Options.Secret is required")
	}
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = 5 * time.Minute
	}
	s := &Server{
		opts:    opts,
		answers: map[string]answer{},
		release: make(chan struct{}),
		client:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second},
	}
	if opts.TLS {
		cert, certPEM, err := selfSigned("providersim", x509.ExtKeyUsageServerAuth)
		if err != nil {
			return nil, err
		}
		s.certPEM = certPEM
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if opts.ClientCAs != nil {
			s.tlsConf.ClientCAs = opts.ClientCAs
			s.tlsConf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// URL is the webhook endpoint: the hub's webhook.url.
func (s *Server) URL() string {
	scheme := "http"
	if s.tlsConf != nil {
		scheme = "https"
	}
	return scheme + "://" + s.addr + "/orders"
}

// CertPEM is the server's self-signed certificate with TLS, for the hub's
// webhook.tls.ca; nil without TLS.
func (s *Server) CertPEM() []byte { return s.certPEM }

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second, TLSConfig: s.tlsConf}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.wg.Go(func() {
		if s.tlsConf != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	})
}

// Received returns the accepted deliveries in arrival order, each once.
func (s *Server) Received() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.received...)
}

// Requests counts every delivery request, refused and repeated ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Duplicates counts deliveries answered from the idempotency store.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// Unauthorized counts requests refused for their signature.
func (s *Server) Unauthorized() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unauth
}

// Fail makes the next n deliveries fail with 500.
func (s *Server) Fail(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = n
}

// Slow delays every answer by d, until Up. A delayed request whose client
// gives up is not recorded.
func (s *Server) Slow(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Reject answers later deliveries 400 {"error": reason}, the provider's
// final refusal, until Up.
func (s *Server) Reject(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejecting, s.reject = true, reason
}

// Decline accepts later deliveries but acknowledges them with status
// avvisad and reason, until Up.
func (s *Server) Decline(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.declining, s.decline = true, reason
}

// Misname makes the simulator misbehave as a hostile or broken provider
// system: every acknowledgement names order instead of the order
// delivered, until Up.
func (s *Server) Misname(order string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.misnamed = order
}

// Down closes the listener and every connection: the hub sees connection
// refused until Up.
func (s *Server) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up restores normal service: it listens again on the same port after
// Down, and ends Fail, Slow (releasing waiting requests), Reject, Decline
// and Misname.
func (s *Server) Up() error {
	s.mu.Lock()
	s.failures, s.delay, s.rejecting, s.declining, s.misnamed = 0, 0, false, false, ""
	close(s.release)
	s.release = make(chan struct{})
	listening, closed := s.srv != nil, s.closed
	s.mu.Unlock()
	if listening || closed {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("providersim: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// Close stops the simulator for good and waits for its goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.release)
		s.release = make(chan struct{})
	}
	s.mu.Unlock()
	s.Down()
	s.wg.Wait()
	return nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead || r.Method == http.MethodGet {
		return // health probe
	}
	if r.Method != http.MethodPost {
		reply(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if err := s.verify(r.Header, body); err != nil {
		s.mu.Lock()
		s.unauth++
		s.mu.Unlock()
		reply(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	}
	key := r.Header.Get(provider.HeaderIdempotencyKey)
	if key == "" {
		reply(w, http.StatusBadRequest, map[string]string{"error": "missing Idempotency-Key"})
		return
	}

	s.mu.Lock()
	delay, release := s.delay, s.release
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-release:
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		reply(w, http.StatusInternalServerError, map[string]string{"error": "simulated failure"})
		return
	}
	if a, ok := s.answers[key]; ok {
		s.dups++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
		return
	}
	if s.rejecting {
		reply(w, http.StatusBadRequest, map[string]string{"error": s.reject})
		return
	}
	ack := provider.Ack{
		ID:         "ack-" + key,
		MessageID:  key,
		OrderID:    orderID(body),
		Status:     provider.Mottagen,
		OccurredAt: time.Now().UTC().Format(time.RFC3339),
	}
	if s.declining {
		ack.Status, ack.Reason = provider.Avvisad, s.decline
	}
	if s.misnamed != "" {
		ack.OrderID = s.misnamed
	}
	ackBody, _ := json.Marshal(ack)
	d := Delivery{
		IdempotencyKey: key,
		Event:          r.Header.Get(provider.HeaderEvent),
		ContentType:    r.Header.Get("Content-Type"),
		Header:         r.Header.Clone(),
		Body:           body,
		Ack:            ack,
		At:             time.Now(),
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		d.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	s.received = append(s.received, d)
	s.answers[key] = answer{status: http.StatusOK, body: ackBody}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ackBody)
}

// verify checks the signature as the README tells a provider to.
func (s *Server) verify(h http.Header, body []byte) error {
	ts, sig, key := h.Get(provider.HeaderTimestamp), h.Get(provider.HeaderSignature), h.Get(provider.HeaderIdempotencyKey)
	if ts == "" || sig == "" {
		return errors.New("unsigned request")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)).Abs(); d > s.opts.MaxClockSkew {
		return errors.New("stale timestamp")
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil || !strings.HasPrefix(sig, "sha256=") || !hmac.Equal(got, s.mac(ts, key, body)) {
		return errors.New("bad signature")
	}
	return nil
}

// mac is the README's signature: HMAC-SHA256 of timestamp.key.body.
func (s *Server) mac(ts, key string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(s.opts.Secret))
	m.Write([]byte(ts + "." + key + "."))
	m.Write(body)
	return m.Sum(nil)
}

// orderID finds the order's id in a JSON delivery: "order_id" or
// "order": {"external_id"}; "" for other bodies.
func orderID(body []byte) string {
	var v struct {
		OrderID string `json:"order_id"`
		Order   struct {
			ExternalID string `json:"external_id"`
		} `json:"order"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	if v.OrderID != "" {
		return v.OrderID
	}
	return v.Order.ExternalID
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// StatusError is a hub answer other than 202 to SendAck or Post.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.Code, e.Body) }

// SendAck posts ack, signed, to the hub's callback endpoint hubURL
// (https://HUB/ingest/{path}) with Idempotency-Key = ack.ID. It returns nil
// once the hub answered 202, else a *StatusError or the transport error.
func (s *Server) SendAck(ctx context.Context, hubURL string, ack provider.Ack) error {
	body, err := json.Marshal(ack)
	if err != nil {
		return err
	}
	code, answer, err := s.Post(ctx, hubURL, body, ack.ID, time.Now())
	if err != nil {
		return err
	}
	if code != http.StatusAccepted && code != http.StatusOK { // 200: the hub had it already
		return &StatusError{Code: code, Body: strings.TrimSpace(string(answer))}
	}
	return nil
}

// Post sends body as application/json to url, signed at ts with the shared
// secret, with Idempotency-Key when key is not empty. It returns the
// status and the answer's body.
func (s *Server) Post(ctx context.Context, url string, body []byte, key string, ts time.Time) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(provider.HeaderTimestamp, stamp)
	req.Header.Set(provider.HeaderSignature, "sha256="+hex.EncodeToString(s.mac(stamp, key, body)))
	if key != "" {
		req.Header.Set(provider.HeaderIdempotencyKey, key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, answer, err
}
