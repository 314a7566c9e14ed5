package provider_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/provider"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// The request-reply capability proposed for package adapters (Replier).
var _ interface {
	SendWithReply(context.Context, knutpunkt.Message) (*knutpunkt.Message, error)
} = (*provider.Sink)(nil)

// openSink opens a provider sink from yml; it is closed when t ends.
func openSink(t *testing.T, yml []byte, secrets adapters.MapSecrets) *provider.Sink {
	t.Helper()
	cfg, err := adapters.DecodeConfig(provider.SinkDef.Config, yml)
	if err != nil {
		t.Fatalf("DecodeConfig: %v\n%s", err, yml)
	}
	s, err := provider.NewSink(*cfg.(*provider.SinkConfig), adapters.Env{Name: "orders_to_omsorg_test", Secrets: secrets, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientID is an official Skatteverket test personnummer: no real person.
var clientID = homecare.OfficialTestPersonIDs()[0].Reveal()

// orderMessage is a created order as the pipeline's mapping hands it to the
// sink; the client's name is fictitious.
func orderMessage(id string) knutpunkt.Message {
	return knutpunkt.Message{
		ID: id,
		Headers: map[string]string{
			knutpunkt.HeaderContentType:   "application/json",
			knutpunkt.HeaderCorrelationID: "corr-" + id,
			"event-type":                  "created",
			"order-id":                    "U-2026-0001",
		},
		Body: fmt.Appendf(nil, `{"order_id":"U-2026-0001","type":"created","client":{"person_id":%q,"given_name":"Testa","family_name":"Testsson"}}`, clientID),
	}
}

func simSecrets(sim *providersim.Server) adapters.MapSecrets {
	return adapters.MapSecrets{secretRef: secret, caRef: string(sim.CertPEM())}
}

func decodeAck(t *testing.T, body []byte) provider.Ack {
	t.Helper()
	var a provider.Ack
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("reply body is not an Ack: %v\n%s", err, body)
	}
	if _, err := time.Parse(time.RFC3339, a.OccurredAt); err != nil {
		t.Errorf("reply occurred_at %q is not RFC 3339", a.OccurredAt)
	}
	return a
}

var ignoreOccurredAt = cmpopts.IgnoreFields(provider.Ack{}, "OccurredAt")

func TestSendWithReply(t *testing.T) {
	noCorrelation := orderMessage("m-0003")
	delete(noCorrelation.Headers, knutpunkt.HeaderCorrelationID)
	noCorrelation.Headers["order-id"] = "U-2026-0003"
	noCorrelation.Body = []byte(`{"type":"created"}`)

	tests := []struct {
		name        string
		decline     string
		msg         knutpunkt.Message
		wantHeaders map[string]string
		wantAck     provider.Ack
	}{
		{
			name: "mottagen",
			msg:  orderMessage("m-0001"),
			wantHeaders: map[string]string{
				"content-type": "application/json", "source-system": "provider:omsorg_test", "external-id": "m-0001:ack",
				"correlation-id": "corr-m-0001", "provider-ack-status": "mottagen", "order-id": "U-2026-0001",
			},
			wantAck: provider.Ack{ID: "ack-m-0001", MessageID: "m-0001", OrderID: "U-2026-0001", Status: provider.Mottagen, Provider: "omsorg_test"},
		},
		{
			name:    "avvisad",
			decline: "ingen kapacitet i området",
			msg:     orderMessage("m-0002"),
			wantHeaders: map[string]string{
				"content-type": "application/json", "source-system": "provider:omsorg_test", "external-id": "m-0002:ack",
				"correlation-id": "corr-m-0002", "provider-ack-status": "avvisad", "order-id": "U-2026-0001",
			},
			wantAck: provider.Ack{ID: "ack-m-0002", MessageID: "m-0002", OrderID: "U-2026-0001", Status: provider.Avvisad, Reason: "ingen kapacitet i området", Provider: "omsorg_test"},
		},
		{
			name: "order id and correlation from the message",
			msg:  noCorrelation,
			wantHeaders: map[string]string{
				"content-type": "application/json", "source-system": "provider:omsorg_test", "external-id": "m-0003:ack",
				"correlation-id": "m-0003", "provider-ack-status": "mottagen", "order-id": "U-2026-0003",
			},
			wantAck: provider.Ack{ID: "ack-m-0003", MessageID: "m-0003", OrderID: "U-2026-0003", Status: provider.Mottagen, Provider: "omsorg_test"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t, providersim.Options{TLS: true})
			if tt.decline != "" {
				sim.Decline(tt.decline)
			}
			sink := openSink(t, webhookConfig(sim, ""), simSecrets(sim))
			reply, err := sink.SendWithReply(t.Context(), tt.msg)
			if err != nil {
				t.Fatalf("SendWithReply: %v", err)
			}
			if reply == nil {
				t.Fatal("SendWithReply returned no reply")
			}
			if reply.ID != "" {
				t.Errorf("reply ID = %q, want empty (the hub assigns it)", reply.ID)
			}
			if diff := cmp.Diff(tt.wantHeaders, reply.Headers); diff != "" {
				t.Errorf("reply headers mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAck, decodeAck(t, reply.Body), ignoreOccurredAt); diff != "" {
				t.Errorf("reply body mismatch (-want +got):\n%s", diff)
			}

			got := sim.Received()
			if len(got) != 1 {
				t.Fatalf("provider received %d deliveries, want 1", len(got))
			}
			d := got[0]
			want := providersim.Delivery{IdempotencyKey: tt.msg.ID, Event: "created", ContentType: "application/json", Body: tt.msg.Body}
			if diff := cmp.Diff(want, d, cmpopts.IgnoreFields(providersim.Delivery{}, "Header", "Ack", "At")); diff != "" {
				t.Errorf("delivery mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClassification drives the sink against a provider answering each
// status in turn: 2xx delivers, the retryable statuses and network
// failures are transient, every other 4xx and 3xx is permanent.
func TestClassification(t *testing.T) {
	const (
		delivered = "delivered"
		transient = "transient"
		permanent = "permanent"
	)
	ack := `{"status":"mottagen","id":"a-1"}`
	echo := fmt.Sprintf(`{"error":"brukare %s saknas i vårt register","order":{"client":{"given_name":"Testa","family_name":"Testsson"}}}`, clientID)
	tests := []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		stall      bool // never answer: the sink's 300ms timeout hits
		refused    bool // nothing listens
		want       string
		wantReply  bool
		wantReason string   // in the error
		notInError []string // never in the error
	}{
		{name: "200 with ack", status: 200, body: ack, want: delivered, wantReply: true},
		{name: "201 with ack", status: 201, body: ack, want: delivered, wantReply: true},
		{name: "202 with ack, acknowledged later", status: 202, body: ack, want: delivered},
		{name: "204", status: 204, want: delivered},
		{name: "200 text", status: 200, body: "OK", want: delivered},
		{name: "200 unknown status", status: 200, body: `{"status":"ok"}`, want: delivered},
		{name: "301 not followed", status: 301, header: map[string]string{"Location": "https://elsewhere.example/"}, want: permanent, wantReason: "status 301"},
		{name: "400 echoing personal data", status: 400, body: echo, want: permanent,
			wantReason: "status 400: brukare [personnummer] saknas i vårt register", notInError: []string{clientID, "Testa", "Testsson"}},
		{name: "400 without a reason field", status: 400, body: `{"order":{"client":{"given_name":"Testa"}}}`, want: permanent,
			wantReason: "the answer has no reason", notInError: []string{"Testa"}},
		{name: "400 long text", status: 400, body: strings.Repeat("fel ", 500), want: permanent, wantReason: "fel fel"},
		{name: "401", status: 401, body: `{"error":"bad signature"}`, want: permanent, wantReason: "bad signature"},
		{name: "403", status: 403, want: permanent, wantReason: "(no answer body)"},
		{name: "404", status: 404, want: permanent},
		{name: "422", status: 422, body: `{"reason":"okänd insatskod HT99"}`, want: permanent, wantReason: "okänd insatskod HT99"},
		{name: "408", status: 408, want: transient},
		{name: "409 key in flight", status: 409, want: transient},
		{name: "425", status: 425, want: transient},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "30"}, want: transient},
		{name: "500", status: 500, body: "internal error", want: transient, wantReason: "status 500: internal error"},
		{name: "502", status: 502, want: transient},
		{name: "503", status: 503, want: transient},
		{name: "timeout", stall: true, want: transient},
		{name: "connection refused", refused: true, want: transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := scriptedProvider(t, tt.status, tt.body, tt.header, tt.stall, tt.refused)
			yml := fmt.Appendf(nil, "name: omsorg_test\nwebhook:\n  url: %s\n  secret: %s\n  timeout: 300ms\n", url, secretRef)
			sink := openSink(t, yml, adapters.MapSecrets{secretRef: secret})
			reply, err := sink.SendWithReply(t.Context(), orderMessage("m-0001"))
			var got string
			switch {
			case err == nil:
				got = delivered
			case adapters.IsPermanent(err):
				got = permanent
			default:
				got = transient
			}
			if got != tt.want {
				t.Fatalf("SendWithReply = %v (%s), want %s", err, got, tt.want)
			}
			if (reply != nil) != tt.wantReply {
				t.Errorf("reply = %v, want a reply: %v", reply, tt.wantReply)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("error %q does not contain %q", err, tt.wantReason)
			}
			for _, s := range tt.notInError {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q echoes %q", err, s)
				}
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long, want the provider's answer truncated", len(err.Error()))
			}
		})
	}
}

// scriptedProvider returns the URL of a server that answers every POST
// with status, body and header; or never answers (stall); or of a port
// nothing listens on (refused).
func scriptedProvider(t *testing.T, status int, body string, header map[string]string, stall, refused bool) string {
	t.Helper()
	if refused {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return "http://" + addr + "/orders"
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // else the server never notices the client leave
		if stall {
			<-r.Context().Done()
			return
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/orders"
}

func TestIdempotency(t *testing.T) {
	sim := newSim(t, providersim.Options{TLS: true})
	sink := openSink(t, webhookConfig(sim, ""), simSecrets(sim))
	m := orderMessage("m-0001")
	var replies []*knutpunkt.Message
	for i := range 2 {
		r, err := sink.SendWithReply(t.Context(), m.Clone())
		if err != nil {
			t.Fatalf("SendWithReply #%d: %v", i+1, err)
		}
		replies = append(replies, r)
	}
	if n := len(sim.Received()); n != 1 {
		t.Errorf("provider recorded %d deliveries of one message ID, want 1", n)
	}
	if n := sim.Duplicates(); n != 1 {
		t.Errorf("provider answered %d duplicates, want 1", n)
	}
	if diff := cmp.Diff(replies[0], replies[1]); diff != "" {
		t.Errorf("the repeated delivery's reply differs (-first +second):\n%s", diff)
	}

	// A replay has a new ID but stands in for m: the provider sees the
	// same delivery and the reply is the same acknowledgement.
	replay := m.Clone()
	replay.ID = "m-0001-replay"
	replay.Headers[knutpunkt.HeaderIdempotencyKey] = m.ID
	r, err := sink.SendWithReply(t.Context(), replay)
	if err != nil {
		t.Fatalf("SendWithReply of the replay: %v", err)
	}
	if n := len(sim.Received()); n != 1 {
		t.Errorf("provider recorded %d deliveries after a replay, want 1", n)
	}
	if diff := cmp.Diff(replies[0], r); diff != "" {
		t.Errorf("the replay's reply differs (-first +replay):\n%s", diff)
	}
}

// TestProviderOutage is "provider down" on a small scale: failures and an
// outage are transient, so the hub's retries deliver the order once.
func TestProviderOutage(t *testing.T) {
	sim := newSim(t, providersim.Options{TLS: true})
	sink := openSink(t, webhookConfig(sim, ""), simSecrets(sim))
	m := orderMessage("m-0001")
	sim.Fail(2)
	for i := range 2 {
		if err := sink.Send(t.Context(), m); err == nil || adapters.IsPermanent(err) {
			t.Fatalf("Send #%d while failing = %v, want a transient error", i+1, err)
		}
	}
	sim.Down()
	if err := sink.Send(t.Context(), m); err == nil || adapters.IsPermanent(err) {
		t.Fatalf("Send while down = %v, want a transient error", err)
	}
	if err := sim.Up(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(t.Context(), m); err != nil {
		t.Fatalf("Send after Up: %v", err)
	}
	if n := len(sim.Received()); n != 1 {
		t.Errorf("provider recorded %d deliveries, want 1", n)
	}
	if n := sim.Requests(); n != 3 {
		t.Errorf("provider saw %d requests, want 3 (two failed, one delivered)", n)
	}
}

func TestWrongSecretIsPermanent(t *testing.T) {
	sim := newSim(t, providersim.Options{TLS: true, Secret: "whsec-the-provider-has-another"})
	sink := openSink(t, webhookConfig(sim, ""), simSecrets(sim))
	err := sink.Send(t.Context(), orderMessage("m-0001"))
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("Send with a secret the provider does not share = %v, want a permanent 401", err)
	}
	if sim.Unauthorized() != 1 || len(sim.Received()) != 0 {
		t.Errorf("provider: %d unauthorized, %d received; want 1 and 0", sim.Unauthorized(), len(sim.Received()))
	}
}

func TestMutualTLS(t *testing.T) {
	certPEM, keyPEM, err := providersim.ClientCertificate("knutpunkt-test")
	if err != nil {
		t.Fatal(err)
	}
	const certRef, keyRef = adapters.Secret("file:/etc/knut/tls/client.pem"), adapters.Secret("file:/etc/knut/tls/client-key.pem")
	tests := []struct {
		name     string
		tls      string
		wantCert string // the common name the provider saw; "" means the handshake must fail
	}{
		{"client certificate", fmt.Sprintf("    client_cert: %s\n    client_key: %s\n", certRef, keyRef), "knutpunkt-test"},
		{"none", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := x509Pool(t, certPEM)
			sim := newSim(t, providersim.Options{TLS: true, ClientCAs: pool})
			secrets := simSecrets(sim)
			secrets[certRef], secrets[keyRef] = string(certPEM), string(keyPEM)
			sink := openSink(t, webhookConfig(sim, tt.tls), secrets)
			err := sink.Send(t.Context(), orderMessage("m-0001"))
			if tt.wantCert == "" {
				if err == nil || adapters.IsPermanent(err) {
					t.Errorf("Send without a client certificate = %v, want a transient error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := sim.Received()[0].ClientCert; got != tt.wantCert {
				t.Errorf("provider saw client certificate %q, want %q", got, tt.wantCert)
			}
		})
	}
}

func TestOpenResolvesSecrets(t *testing.T) {
	yml := fmt.Appendf(nil, "name: p\nwebhook:\n  url: https://orders.example/x\n  secret: %s\n  tls: {ca: %s}\n", secretRef, caRef)
	cfg, err := adapters.DecodeConfig(provider.SinkDef.Config, yml)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		secrets adapters.MapSecrets
		wantErr string
	}{
		{"missing secret", adapters.MapSecrets{caRef: "x"}, "webhook.secret:"},
		{"ca not PEM", adapters.MapSecrets{secretRef: secret, caRef: "not a certificate"}, "webhook.tls.ca " + string(caRef) + ": no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provider.SinkDef.Open(cfg, adapters.Env{Secrets: tt.secrets})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open = %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Open error %q reveals the secret", err)
			}
		})
	}
}

func TestSendAfterClose(t *testing.T) {
	sim := newSim(t, providersim.Options{TLS: true})
	sink := openSink(t, webhookConfig(sim, ""), simSecrets(sim))
	_ = sink.Close()
	if _, err := sink.SendWithReply(t.Context(), orderMessage("m-0001")); !errors.Is(err, adapters.ErrClosed) {
		t.Errorf("SendWithReply after Close = %v, want ErrClosed", err)
	}
}

func x509Pool(t *testing.T, pemCerts []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCerts) {
		t.Fatal("no certificate in PEM")
	}
	return pool
}
