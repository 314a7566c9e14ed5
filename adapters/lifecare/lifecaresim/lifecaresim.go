// Package lifecaresim is a municipal case system on loopback, speaking
// the lifecare adapter's XML contract (schemas/lifecare/): it emits order
// messages (pushed over HTTP to the hub's /ingest/{path}, or dropped as
// files into a drop directory) and receives receipts (Kvittens) on its own
// HTTP server at POST /kvittens, executed time per client and day
// (UtfordTid) at POST /utford-tid and each provider's monthly payment basis
// (Manadsrapport) at POST /manadsrapport, validating them against
// receipt.xsd, executed.xsd and payment_basis.xsd and recording them. Down,
// Up and SetFailure simulate outages and refusals, for the conformance kit
// and the demo. Test and demo code only: it holds everything in memory.
package lifecaresim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// ReceiptPath is where the case system receives receipts.
const ReceiptPath = "/kvittens"

// Options configure a CaseSystem. The zero value works.
type Options struct {
	// BearerToken, when set, must be presented on every receipt
	// ("Authorization: Bearer ..."); otherwise the answer is 401.
	BearerToken string
	// ReceiptSchema is the path of receipt.xsd. Default: the repository's
	// schemas/lifecare/receipt.xsd, found from this source file.
	ReceiptSchema string
	// ExecutedSchema is the path of executed.xsd. Default: the
	// repository's schemas/lifecare/executed.xsd.
	ExecutedSchema string
	// PaymentBasisSchema is the path of payment_basis.xsd. Default: the
	// repository's schemas/lifecare/payment_basis.xsd.
	PaymentBasisSchema string
	// AcceptAny skips schema validation of receipts, executed time and
	// payment bases, so any body is recorded (the conformance kit sends its
	// own test bodies).
	AcceptAny bool
	// HTTPClient pushes order messages. Default: a client with a 30s timeout.
	HTTPClient *http.Client
}

// Failure is how the receipt endpoint answers while SetFailure is in effect.
type Failure int

// The failures.
const (
	// Healthy answers normally.
	Healthy Failure = iota
	// Reject answers 400, the case system's final refusal.
	Reject
	// Unavailable answers 503.
	Unavailable
	// Stall holds each request without answering until Up.
	Stall
	// LoseAnswer records the receipt and then answers 504, as a gateway
	// that timed out after the case system committed: the hub cannot
	// tell it arrived, and only the Idempotency-Key keeps a resend from
	// being a second receipt.
	LoseAnswer
)

// Receipt is one receipt the case system accepted.
type Receipt struct {
	// IdempotencyKey is the Idempotency-Key header: the message ID, or for
	// a replay the first run's.
	IdempotencyKey string
	// ContentType is the Content-Type header.
	ContentType string
	// Header holds every request header.
	Header http.Header
	// Body is the request body, byte-exact.
	Body []byte
	// Kvittens is Body decoded; zero when Options.AcceptAny let a body
	// through that is not a Kvittens.
	Kvittens Kvittens
	// ReceivedAt is when it arrived.
	ReceivedAt time.Time
}

// CaseSystem is the simulated case system. Its methods are safe for
// concurrent use.
type CaseSystem struct {
	opts           Options
	addr           string
	schema         schema.Validator
	executedSchema schema.Validator
	client         *http.Client

	mu       sync.Mutex
	srv      *http.Server
	failure  Failure
	stall    chan struct{} // closed by Up to release stalled requests
	receipts []Receipt
	executed []Executed
	seen     map[string]bool // path and idempotency key of what was recorded
	outbox   *outbox

	// The monthly payment basis (paymentbasis.go): its schema, and what was
	// recorded (guarded by mu).
	paymentBasisSchema schema.Validator
	paymentBases       []PaymentBasis
}

// New starts a case system listening on 127.0.0.1 on a free port. Close
// stops it.
func New(opts Options) (*CaseSystem, error) {
	cs := &CaseSystem{opts: opts, stall: make(chan struct{}), seen: map[string]bool{}, client: opts.HTTPClient}
	if cs.client == nil {
		cs.client = &http.Client{Timeout: 30 * time.Second}
	}
	if !opts.AcceptAny {
		path := opts.ReceiptSchema
		if path == "" {
			path = repoSchema("receipt.xsd")
		}
		v, err := schema.Load(path)
		if err != nil {
			return nil, fmt.Errorf("lifecaresim: load receipt schema: %w", err)
		}
		cs.schema = v
		path = opts.ExecutedSchema
		if path == "" {
			path = repoSchema("executed.xsd")
		}
		if cs.executedSchema, err = schema.Load(path); err != nil {
			return nil, fmt.Errorf("lifecaresim: load executed schema: %w", err)
		}
		path = opts.PaymentBasisSchema
		if path == "" {
			path = repoSchema("payment_basis.xsd")
		}
		if cs.paymentBasisSchema, err = schema.Load(path); err != nil {
			return nil, fmt.Errorf("lifecaresim: load payment basis schema: %w", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lifecaresim: listen: %w", err)
	}
	cs.addr = ln.Addr().String()
	cs.serve(ln)
	cs.outbox = newOutbox(cs)
	return cs, nil
}

// repoSchema returns the path of schemas/lifecare/name in the repository
// this file was compiled from.
func repoSchema(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "schemas", "lifecare", name)
}

// OrderSchemaPath returns the repository's schemas/lifecare/order.xsd.
func OrderSchemaPath() string { return repoSchema("order.xsd") }

// ReceiptSchemaPath returns the repository's schemas/lifecare/receipt.xsd.
func ReceiptSchemaPath() string { return repoSchema("receipt.xsd") }

// URL returns the base URL, e.g. http://127.0.0.1:40123.
func (cs *CaseSystem) URL() string { return "http://" + cs.addr }

// ReceiptURL returns the URL the hub's lifecare sink posts receipts to.
func (cs *CaseSystem) ReceiptURL() string { return cs.URL() + ReceiptPath }

func (cs *CaseSystem) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(cs.handle), ReadHeaderTimeout: 5 * time.Second}
	cs.mu.Lock()
	cs.srv = srv
	cs.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Close stops the server and the outbox. It is idempotent.
func (cs *CaseSystem) Close() error {
	cs.outbox.stop()
	cs.Up() // release stalled handlers
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.srv != nil {
		err := cs.srv.Close()
		cs.srv = nil
		return err
	}
	return nil
}

// Down makes the case system unreachable: the receipt server refuses
// connections and the outbox stops pushing, until Up.
func (cs *CaseSystem) Down() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.srv != nil {
		_ = cs.srv.Close()
		cs.srv = nil
	}
	cs.outbox.setDown(true)
}

// Up ends an outage, a stall and any failure set with SetFailure.
func (cs *CaseSystem) Up() {
	cs.mu.Lock()
	cs.failure = Healthy
	close(cs.stall)
	cs.stall = make(chan struct{})
	listening := cs.srv != nil
	cs.mu.Unlock()
	cs.outbox.setDown(false)
	if listening || cs.outbox.stopped() {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", cs.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return // stays down; callers see connection refused
	}
	cs.serve(ln)
}

// SetFailure makes the receipt endpoint answer with f until Up.
func (cs *CaseSystem) SetFailure(f Failure) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.failure = f
}

// Receipts returns the receipts accepted so far, in arrival order. A
// receipt resent with the same Idempotency-Key is recorded once.
func (cs *CaseSystem) Receipts() []Receipt {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]Receipt(nil), cs.receipts...)
}

func (cs *CaseSystem) handle(w http.ResponseWriter, r *http.Request) {
	if tok := cs.opts.BearerToken; tok != "" {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if r.URL.Path != ReceiptPath && r.URL.Path != ExecutedPath && r.URL.Path != PaymentBasisPath {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		return // health probe
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	cs.mu.Lock()
	failure, stall := cs.failure, cs.stall
	cs.mu.Unlock()
	switch failure {
	case Reject:
		http.Error(w, "kvittens avvisad: okänd beställning", http.StatusBadRequest)
		return
	case Unavailable:
		http.Error(w, "tillfälligt ur drift", http.StatusServiceUnavailable)
		return
	case Stall:
		select {
		case <-stall:
		case <-r.Context().Done():
		}
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		http.Error(w, "Idempotency-Key is required", http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case ExecutedPath:
		if !cs.recordExecuted(w, key, body) {
			return
		}
	case PaymentBasisPath:
		if !cs.recordPaymentBasis(w, key, body) {
			return
		}
	default:
		if !cs.recordReceipt(w, r, key, body) {
			return
		}
	}
	if failure == LoseAnswer {
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// recordReceipt validates, decodes and records a receipt; false when it
// answered 400.
func (cs *CaseSystem) recordReceipt(w http.ResponseWriter, r *http.Request, key string, body []byte) bool {
	rec := Receipt{IdempotencyKey: key, ContentType: r.Header.Get("Content-Type"), Header: r.Header.Clone(), Body: body, ReceivedAt: time.Now()}
	if cs.schema != nil {
		if err := cs.schema.Validate(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
	}
	// Decoded only after libxml2 validated it (or for AcceptAny, best effort).
	if err := xml.Unmarshal(body, &rec.Kvittens); err != nil && cs.schema != nil {
		http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
		return false
	}
	cs.mu.Lock()
	if !cs.seen[ReceiptPath+key] {
		cs.seen[ReceiptPath+key] = true
		cs.receipts = append(cs.receipts, rec)
	}
	cs.mu.Unlock()
	return true
}

// recordExecuted validates, decodes and records an executed day; false when
// it answered 400.
func (cs *CaseSystem) recordExecuted(w http.ResponseWriter, key string, body []byte) bool {
	rec := Executed{IdempotencyKey: key, Body: body, ReceivedAt: time.Now()}
	if cs.executedSchema != nil {
		if err := cs.executedSchema.Validate(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
	}
	if err := xml.Unmarshal(body, &rec.UtfordTid); err != nil && cs.executedSchema != nil {
		http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
		return false
	}
	cs.mu.Lock()
	if !cs.seen[ExecutedPath+key] {
		cs.seen[ExecutedPath+key] = true
		cs.executed = append(cs.executed, rec)
	}
	cs.mu.Unlock()
	return true
}

// PushError is a push the hub did not accept.
type PushError struct {
	Status int    // HTTP status
	Body   string // start of the answer
}

func (e *PushError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.Status, e.Body) }

// PushOrder encodes msg and POSTs it once to hubURL (the hub's
// https://HUB/ingest/{path}) as application/xml. It returns nil on 202,
// a *PushError for any other answer (503 means retry later).
func (cs *CaseSystem) PushOrder(ctx context.Context, hubURL string, msg OrderMessage) error {
	body, err := Encode(msg)
	if err != nil {
		return err
	}
	return cs.Push(ctx, hubURL, body, http.Header{"Content-Type": {"application/xml"}})
}

// Push POSTs body with header once to url, like PushOrder, for bodies
// made by hand (an invalid message, a test payload).
func (cs *CaseSystem) Push(ctx context.Context, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := cs.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK { // 200: the hub had it already
		return &PushError{Status: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	return nil
}

// Queue hands body to the case system's outbox, which POSTs queued
// messages to their URL one at a time, in queue order, retrying every
// interval until the hub answers 202, as a case system's integration
// does. It returns at once.
func (cs *CaseSystem) Queue(url string, body []byte, header http.Header) {
	cs.outbox.add(outgoing{url: url, body: body, header: header})
}

// QueueOrder encodes msg and queues it for url.
func (cs *CaseSystem) QueueOrder(url string, msg OrderMessage) error {
	body, err := Encode(msg)
	if err != nil {
		return err
	}
	cs.Queue(url, body, http.Header{"Content-Type": {"application/xml"}})
	return nil
}

// Sent counts the queued messages the hub accepted.
func (cs *CaseSystem) Sent() int { return cs.outbox.sentCount() }

// Pending counts the queued messages not yet accepted.
func (cs *CaseSystem) Pending() int { return cs.outbox.pendingCount() }

// DropOrder writes msg into dir the way a careful case system does: under
// a hidden temporary name, then renamed into place. The file name starts
// with the tidpunkt, so name order is event order:
// 20261102T091500Z_LC-EV-....xml. It returns the file name. With
// sftptest, dir is the server's local directory.
func DropOrder(dir string, msg OrderMessage) (string, error) {
	body, err := Encode(msg)
	if err != nil {
		return "", err
	}
	name := msg.EventTime().UTC().Format("20060102T150405Z") + "_" + safeName(msg.EventID()) + ".xml"
	return name, Drop(dir, name, body)
}

// Drop writes body as dir/name atomically (temporary file, fsync, rename).
func Drop(dir, name string, body []byte) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
