package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/provider"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
)

// callbackHub is a callback source mounted on a test Ingress with Receive
// running, recording what it delivers.
type callbackHub struct {
	url string
	mu  sync.Mutex
	got []knutpunkt.Message
}

const callerHSAID = "SE2321000016-P0T1" // a fictitious HSA-ID

func startCallback(t *testing.T) *callbackHub {
	t.Helper()
	return startCallbackWith(t, nil)
}

// startCallbackWith lets tune set the source's Env before it opens.
func startCallbackWith(t *testing.T, tune func(*adapters.Env)) *callbackHub {
	t.Helper()
	in := adapterstest.NewIngress(t, callerHSAID)
	yml := fmt.Appendf(nil, "name: omsorg_test\ncallback:\n  path: omsorg-acks\n  secret: %s\n  max_body_size: 4KiB\n", secretRef)
	cfg, err := adapters.DecodeConfig(provider.SourceDef.Config, yml)
	if err != nil {
		t.Fatal(err)
	}
	env := adapters.Env{
		Name: "acks_from_omsorg_test", Logger: zaptest.NewLogger(t), Ingress: in,
		Secrets: adapters.MapSecrets{secretRef: secret},
	}
	if tune != nil {
		tune(&env)
	}
	src, err := provider.SourceDef.Open(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	h := &callbackHub{url: in.URL("omsorg-acks")}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Receive(ctx, func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.got = append(h.got, m)
			return adapters.Receipt{ID: m.ID}, nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *callbackHub) delivered() []knutpunkt.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]knutpunkt.Message(nil), h.got...)
}

// post sends body with the given headers, returning the status and the
// answer's "error".
func post(t *testing.T, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &answer)
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	return resp.StatusCode, answer.Error
}

// signed are the headers of body signed with key at ts, with extra added;
// an Idempotency-Key in extra is signed with the body.
func signed(key string, ts time.Time, body []byte, extra map[string]string) map[string]string {
	stamp, sig := provider.Sign([]byte(key), ts, extra[provider.HeaderIdempotencyKey], body)
	h := map[string]string{provider.HeaderTimestamp: stamp, provider.HeaderSignature: sig}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func TestCallbackVerification(t *testing.T) {
	ack := []byte(`{"id":"ack-0001","message_id":"m-0001","order_id":"U-2026-0001","status":"mottagen"}`)
	other := []byte(`{"id":"ack-0001","message_id":"m-0001","order_id":"U-2026-0001","status":"avvisad","reason":"ingen kapacitet"}`)
	now := time.Now()
	tests := []struct {
		name      string
		body      []byte
		header    map[string]string
		want      int
		wantError string
	}{
		{"good", ack, signed(secret, now, ack, nil), http.StatusAccepted, ""},
		{"good, signed a minute ago", ack, signed(secret, now.Add(-time.Minute), ack, nil), http.StatusAccepted, ""},
		{"unsigned", ack, nil, http.StatusUnauthorized, "missing X-Knutpunkt-Signature"},
		{"no timestamp", ack, map[string]string{provider.HeaderSignature: signed(secret, now, ack, nil)[provider.HeaderSignature]}, http.StatusUnauthorized, "missing X-Knutpunkt-Timestamp"},
		{"wrong secret", ack, signed("whsec-someone-else", now, ack, nil), http.StatusUnauthorized, "does not match"},
		{"body changed after signing", other, signed(secret, now, ack, nil), http.StatusUnauthorized, "does not match"},
		{"garbled signature", ack, map[string]string{provider.HeaderTimestamp: "1", provider.HeaderSignature: "sha1=abc"}, http.StatusUnauthorized, `must be "sha256="`},
		{"stale", ack, signed(secret, now.Add(-6*time.Minute), ack, nil), http.StatusUnauthorized, "off the receiver's clock"},
		{"from the future", ack, signed(secret, now.Add(6*time.Minute), ack, nil), http.StatusUnauthorized, "off the receiver's clock"},
		{"no id", []byte(`{"status":"mottagen"}`), signed(secret, now, []byte(`{"status":"mottagen"}`), nil), http.StatusBadRequest, "Idempotency-Key header or an \"id\" field"},
		{"too large", bytes.Repeat([]byte("x"), 5000), nil, http.StatusRequestEntityTooLarge, "max_body_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startCallback(t)
			code, reason := post(t, h.url, tt.body, tt.header)
			if code != tt.want || !strings.Contains(reason, tt.wantError) {
				t.Errorf("POST = %d %q, want %d with an error containing %q", code, reason, tt.want, tt.wantError)
			}
			wantDelivered := 0
			if tt.want == http.StatusAccepted {
				wantDelivered = 1
			}
			if n := len(h.delivered()); n != wantDelivered {
				t.Errorf("%d messages delivered to the hub, want %d", n, wantDelivered)
			}
		})
	}
}

// TestCallbackHeaders checks the message an accepted acknowledgement
// becomes, posted by the simulator as a provider would.
func TestCallbackHeaders(t *testing.T) {
	tests := []struct {
		name   string
		ack    provider.Ack
		key    string // Idempotency-Key; "" sends none
		header map[string]string
		want   map[string]string
	}{
		{
			name: "id from Idempotency-Key",
			ack:  provider.Ack{ID: "ack-0001", MessageID: "m-0001", OrderID: "U-2026-0001", Status: provider.Mottagen},
			key:  "ack-0001-retry-safe",
			want: map[string]string{
				"content-type": "application/json", "source-system": "provider:omsorg_test", "external-id": "ack-0001-retry-safe",
				"caller": callerHSAID, "provider-ack-status": "mottagen",
			},
		},
		{
			name: "id from the body, avvisad",
			ack:  provider.Ack{ID: "ack-0002", MessageID: "m-0002", OrderID: "U-2026-0002", Status: provider.Avvisad, Reason: "brukaren har flyttat"},
			want: map[string]string{
				"content-type": "application/json", "source-system": "provider:omsorg_test", "external-id": "ack-0002",
				"caller": callerHSAID, "provider-ack-status": "avvisad",
			},
		},
		{
			name:   "claims are ignored",
			ack:    provider.Ack{ID: "ack-0003", Status: "okänd"},
			header: map[string]string{"X-Source-System": "lifecare", "X-External-Id": "forged", "X-Correlation-Id": "corr-7"},
			want: map[string]string{
				"content-type": "application/json", "source-system": "provider:omsorg_test", "external-id": "ack-0003",
				"caller": callerHSAID, "correlation-id": "corr-7",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startCallback(t)
			sim := newSim(t, providersim.Options{})
			body, _ := json.Marshal(tt.ack)
			if tt.header == nil {
				code, answer, err := sim.Post(t.Context(), h.url, body, tt.key, time.Now())
				if err != nil || code != http.StatusAccepted {
					t.Fatalf("Post = %d %s %v, want 202", code, answer, err)
				}
			} else {
				if code, reason := post(t, h.url, body, signed(secret, time.Now(), body, tt.header)); code != http.StatusAccepted {
					t.Fatalf("POST = %d %q, want 202", code, reason)
				}
			}
			got := h.delivered()
			if len(got) != 1 {
				t.Fatalf("%d messages delivered, want 1", len(got))
			}
			if diff := cmp.Diff(tt.want, got[0].Headers); diff != "" {
				t.Errorf("headers mismatch (-want +got):\n%s", diff)
			}
			if !bytes.Equal(got[0].Body, body) {
				t.Errorf("body = %s, want %s byte-exact", got[0].Body, body)
			}
		})
	}
}

func TestSendAck(t *testing.T) {
	h := startCallback(t)
	sim := newSim(t, providersim.Options{})
	if err := sim.SendAck(t.Context(), h.url, provider.Ack{ID: "ack-0001", OrderID: "U-2026-0001", Status: provider.Mottagen}); err != nil {
		t.Fatalf("SendAck: %v", err)
	}
	wrong := newSim(t, providersim.Options{Secret: "whsec-someone-else"})
	err := wrong.SendAck(t.Context(), h.url, provider.Ack{ID: "ack-0002", Status: provider.Mottagen})
	var se *providersim.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("SendAck with the wrong secret = %v, want a 401 StatusError", err)
	}
	if n := len(h.delivered()); n != 1 {
		t.Errorf("%d acks delivered, want 1", n)
	}
}

// replays is an in-memory adapters.ReplayGuard; the hub's, in the store,
// is tested in internal/server.
type replays struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (r *replays) Seen(_ context.Context, scope, sig string, _ time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	was := r.seen[scope+" "+sig]
	r.seen[scope+" "+sig] = true
	return was, nil
}

func (r *replays) Forget(_ context.Context, scope, sig string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, scope+" "+sig)
	return nil
}

// owners is an adapters.OrderScope over a fixed map of order → provider.
type owners map[string]string

func (o owners) CheckProvider(_ context.Context, provider, orderID, _ string) error {
	if o[orderID] != provider {
		return fmt.Errorf("%w: not the provider's order", adapters.ErrForbidden)
	}
	return nil
}

func TestCallbackReplayRefused(t *testing.T) {
	guard := &replays{}
	h := startCallbackWith(t, func(env *adapters.Env) { env.Replays = guard })
	ack := []byte(`{"id":"ack-0001","order_id":"U-2026-0001","status":"avvisad","reason":"ingen kapacitet"}`)
	first := signed(secret, time.Now(), ack, map[string]string{provider.HeaderIdempotencyKey: "ack-0001"})
	if code, reason := post(t, h.url, ack, first); code != http.StatusAccepted {
		t.Fatalf("first POST = %d %q, want 202", code, reason)
	}
	for i := range 5 {
		if code, reason := post(t, h.url, ack, first); code != http.StatusConflict || !strings.Contains(reason, "received before") {
			t.Errorf("copy %d: POST = %d %q, want 409", i+1, code, reason)
		}
	}
	// Under another key the captured signature no longer matches.
	forged := map[string]string{}
	for k, v := range first {
		forged[k] = v
	}
	forged[provider.HeaderIdempotencyKey] = "ack-0001-again"
	if code, _ := post(t, h.url, ack, forged); code != http.StatusUnauthorized {
		t.Errorf("copy under another Idempotency-Key: %d, want 401", code)
	}
	// Signed anew, the provider's retry is a new request (the log
	// deduplicates it by its key).
	if code, reason := post(t, h.url, ack, signed(secret, time.Now().Add(time.Second), ack,
		map[string]string{provider.HeaderIdempotencyKey: "ack-0001"})); code != http.StatusAccepted {
		t.Errorf("re-signed retry = %d %q, want 202", code, reason)
	}
	if n := len(h.delivered()); n != 2 {
		t.Errorf("%d messages delivered to the hub, want 2 (the first and the re-signed retry)", n)
	}
}

func TestCallbackForeignOrderRefused(t *testing.T) {
	h := startCallbackWith(t, func(env *adapters.Env) {
		env.Orders = owners{"U-OWN": "omsorg_test", "U-OTHER": "hemtjanst-soder"}
	})
	tests := []struct {
		order string
		want  int
	}{
		{"U-OWN", http.StatusAccepted},
		{"U-OTHER", http.StatusForbidden},
		{"U-NONE", http.StatusForbidden},
	}
	for _, tt := range tests {
		ack := fmt.Appendf(nil, `{"id":"ack-%s","order_id":%q,"status":"avvisad","reason":"nej"}`, tt.order, tt.order)
		if code, reason := post(t, h.url, ack, signed(secret, time.Now(), ack, nil)); code != tt.want {
			t.Errorf("ack of %s = %d %q, want %d", tt.order, code, reason, tt.want)
		}
	}
	if n := len(h.delivered()); n != 1 {
		t.Errorf("%d messages delivered to the hub, want only the provider's own", n)
	}
}

// A repeated key cannot make the scope check read one order and the
// mapping another: the callback is refused at the door.
func TestCallbackDuplicateKeysRefused(t *testing.T) {
	h := startCallbackWith(t, func(env *adapters.Env) {
		env.Orders = owners{"U-OWN": "omsorg_test", "U-OTHER": "hemtjanst-soder"}
	})
	for _, tt := range []struct{ ack, reason string }{
		{`{"id":"ack-d1","order_id":"U-OWN","order_id":"U-OTHER","status":"avvisad"}`, "duplicate key"},
		{`{"id":"ack-d2","order_id":"U-OTHER","order_id":"U-OWN","status":"avvisad"}`, "duplicate key"},
		{`{"id":"ack-d3","order_id":"U-OWN","status":"mottagen","status":"avvisad"}`, "duplicate key"},
		// What the scope check cannot read is not taken either.
		{`<ack id="ack-d4" order_id="U-OTHER"/>`, "not a JSON object"},
		{`{"id":"ack-d5","order_id":["U-OTHER"],"status":"avvisad"}`, "not a JSON object"},
		{strings.Repeat("[", 2000), "not a JSON object"},
	} {
		if code, reason := post(t, h.url, []byte(tt.ack), signed(secret, time.Now(), []byte(tt.ack), map[string]string{provider.HeaderIdempotencyKey: "k"})); code != http.StatusBadRequest || !strings.Contains(reason, tt.reason) {
			t.Errorf("ack %.60s = %d %q, want 400 saying %q", tt.ack, code, reason, tt.reason)
		}
	}
	if n := len(h.delivered()); n != 0 {
		t.Errorf("%d messages delivered to the hub, want none", n)
	}
}

// A key rotates without a restart: the secret is read anew on each
// request, and holds the new key above the old one while both are in use.
func TestCallbackSecretRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	write := func(v string) {
		if err := os.WriteFile(file, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(secret + "\n")
	in := adapterstest.NewIngress(t, callerHSAID)
	yml := fmt.Appendf(nil, "name: omsorg_test\ncallback:\n  path: omsorg-acks\n  secret: file:%s\n", file)
	cfg, err := adapters.DecodeConfig(provider.SourceDef.Config, yml)
	if err != nil {
		t.Fatal(err)
	}
	src, err := provider.SourceDef.Open(cfg, adapters.Env{Name: "acks", Logger: zaptest.NewLogger(t), Ingress: in})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Receive(ctx, func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
			return adapters.Receipt{ID: m.ID}, nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	const next = "whsec-next-0002"
	steps := []struct {
		name, file, signWith string
		want                 int
	}{
		{"before: the old key", secret + "\n", secret, http.StatusAccepted},
		{"before: the new key", secret + "\n", next, http.StatusUnauthorized},
		{"during: the new key", next + "\n" + secret + "\n", next, http.StatusAccepted},
		{"during: the old key", next + "\n" + secret + "\n", secret, http.StatusAccepted},
		{"after: the old key", next + "\n", secret, http.StatusUnauthorized},
		{"after: the new key", next + "\n", next, http.StatusAccepted},
	}
	for i, st := range steps {
		write(st.file)
		ack := fmt.Appendf(nil, `{"id":"ack-%d","order_id":"U-1","status":"mottagen"}`, i)
		if code, reason := post(t, in.URL("omsorg-acks"), ack, signed(st.signWith, time.Now(), ack, nil)); code != st.want {
			t.Errorf("%s: POST = %d %q, want %d", st.name, code, reason, st.want)
		}
	}
}
