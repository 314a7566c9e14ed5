package http_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
)

// The fake vendor's bearer token; the sink must present it.
const (
	tokenRef = adapters.Secret("env:VENDOR_TOKEN")
	token    = "vendor-token-7d41c0e2"
)

// receiver is a fake vendor API the sink posts to. It listens on a fixed
// loopback address so that Down (connection refused) and Up work.
type receiver struct {
	t    testing.TB
	addr string

	mu     sync.Mutex
	srv    *http.Server
	got    []knutpunkt.Message
	reject adapterstest.Rejection
	stall  chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, addr: ln.Addr().String(), stall: make(chan struct{})}
	r.serve(ln)
	t.Cleanup(func() {
		r.Up() // release stalled handlers
		r.Down()
	})
	return r
}

func (r *receiver) URL() string { return "http://" + r.addr }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (r *receiver) Secrets() adapters.MapSecrets { return adapters.MapSecrets{tokenRef: token} }

func (r *receiver) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		_ = r.srv.Close()
		r.srv = nil
	}
}

func (r *receiver) Up() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reject = 0
	close(r.stall)
	r.stall = make(chan struct{})
	if r.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Errorf("receiver up: %v", err)
		return
	}
	r.serve(ln)
}

func (r *receiver) Reject(rej adapterstest.Rejection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reject = rej
}

func (r *receiver) Received() []knutpunkt.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]knutpunkt.Message(nil), r.got...)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if req.URL.Path == "/healthz" || req.Method == http.MethodHead {
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	rej, stall := r.reject, r.stall
	r.mu.Unlock()
	switch rej {
	case adapterstest.RejectFinal:
		http.Error(w, `{"error":"order has no client"}`, http.StatusBadRequest)
		return
	case adapterstest.RejectRetryable:
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	case adapterstest.Stall:
		select {
		case <-stall:
		case <-req.Context().Done():
		}
		return
	}
	m := knutpunkt.Message{ID: req.Header.Get(kphttp.HeaderIdempotencyKey), Body: body, Headers: map[string]string{
		"idempotency-key":             req.Header.Get(kphttp.HeaderIdempotencyKey),
		knutpunkt.HeaderContentType:   req.Header.Get("Content-Type"),
		knutpunkt.HeaderSourceSystem:  req.Header.Get(kphttp.HeaderSourceSystem),
		knutpunkt.HeaderExternalID:    req.Header.Get(kphttp.HeaderExternalID),
		knutpunkt.HeaderCorrelationID: req.Header.Get(kphttp.HeaderCorrelationID),
	}}
	r.mu.Lock()
	r.got = append(r.got, m)
	r.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

// newSender is a fake vendor client that pushes to the http source
// through the kit's Ingress, one request at a time, retrying on 503 like a
// well-behaved client.
func newSender(t testing.TB) *adapterstest.Pusher {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return adapterstest.NewPusher(t, "SE2321000016-ABCD", func(ctx context.Context, url string, m knutpunkt.Message) bool {
		return post(ctx, client, url, m)
	})
}

// post reports whether the hub accepted m.
func post(ctx context.Context, client *http.Client, url string, m knutpunkt.Message) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", m.Header(knutpunkt.HeaderContentType))
	req.Header.Set(kphttp.HeaderSourceSystem, m.Header(knutpunkt.HeaderSourceSystem))
	req.Header.Set(kphttp.HeaderExternalID, m.Header(knutpunkt.HeaderExternalID))
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusAccepted
}
