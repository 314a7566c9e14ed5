package provider_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/provider"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
)

// The shared HMAC key of the test provider, and the references the
// configs use for it and for the simulator's CA certificate.
const (
	secretRef = adapters.Secret("env:PROVIDER_WEBHOOK_SECRET")
	secret    = "whsec-test-5b1e9c2d7a"
	caRef     = adapters.Secret("file:/etc/knut/tls/providersim-ca.pem")
)

// newSim starts a provider simulator that stops when t ends.
func newSim(t testing.TB, opts providersim.Options) *providersim.Server {
	t.Helper()
	if opts.Secret == "" {
		opts.Secret = secret
	}
	sim, err := providersim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// webhookVendor is the simulator as the conformance kit's SinkVendor.
type webhookVendor struct {
	t   testing.TB
	sim *providersim.Server
}

func (v webhookVendor) Secrets() adapters.MapSecrets {
	return adapters.MapSecrets{secretRef: secret, caRef: string(v.sim.CertPEM())}
}

func (v webhookVendor) Down() { v.sim.Down() }

func (v webhookVendor) Up() {
	if err := v.sim.Up(); err != nil {
		v.t.Error(err)
	}
}

func (v webhookVendor) Reject(r adapterstest.Rejection) {
	switch r {
	case adapterstest.RejectFinal:
		v.sim.Reject("ordern saknar insats")
	case adapterstest.RejectRetryable:
		v.sim.Fail(1 << 30)
	case adapterstest.Stall:
		v.sim.Slow(time.Hour)
	}
}

// Received maps the simulator's deliveries back to knutpunkt headers.
func (v webhookVendor) Received() []knutpunkt.Message {
	var out []knutpunkt.Message
	for _, d := range v.sim.Received() {
		out = append(out, knutpunkt.Message{ID: d.IdempotencyKey, Body: d.Body, Headers: map[string]string{
			"idempotency-key":             d.IdempotencyKey,
			knutpunkt.HeaderContentType:   d.ContentType,
			knutpunkt.HeaderSourceSystem:  d.Header.Get(kphttp.HeaderSourceSystem),
			knutpunkt.HeaderExternalID:    d.Header.Get(kphttp.HeaderExternalID),
			knutpunkt.HeaderCorrelationID: d.Header.Get(kphttp.HeaderCorrelationID),
		}})
	}
	return out
}

// webhookConfig points a webhook sink at sim over HTTPS.
func webhookConfig(sim *providersim.Server, extra string) []byte {
	return fmt.Appendf(nil, "name: omsorg_test\ntransport: webhook\nwebhook:\n  url: %s\n  secret: %s\n  timeout: 5s\n  tls:\n    ca: %s\n%s",
		sim.URL(), secretRef, caRef, extra)
}

func TestWebhookSink(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: provider.SinkDef,
		// The simulator deduplicates by Idempotency-Key, as the README asks
		// of every provider, so a resent message is recorded once.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			sim := newSim(t, providersim.Options{TLS: true})
			return webhookConfig(sim, ""), webhookVendor{t: t, sim: sim}
		},
	})
}

// sftpVendor is the SFTP provider as the kit's SinkVendor.
type sftpVendor struct {
	t testing.TB
	p *providersim.SFTP
}

const sftpPasswordRef = adapters.Secret("env:PROVIDER_SFTP_PASSWORD")

func (v sftpVendor) Secrets() adapters.MapSecrets {
	return adapters.MapSecrets{sftpPasswordRef: v.p.Password}
}
func (v sftpVendor) Down() { v.p.Down() }
func (v sftpVendor) Up()   { v.p.Up() }

// Reject: SFTP has no final rejection; a retryable failure is an outage.
func (v sftpVendor) Reject(r adapterstest.Rejection) {
	switch r {
	case adapterstest.RejectRetryable:
		v.p.Down()
	case adapterstest.Stall:
		v.p.Stall()
	default:
		v.t.Fatalf("sftp provider cannot simulate rejection %d", r)
	}
}

func (v sftpVendor) Received() []knutpunkt.Message {
	files, err := v.p.Received()
	if err != nil {
		v.t.Errorf("read received files: %v", err)
	}
	var out []knutpunkt.Message
	for _, f := range files {
		out = append(out, knutpunkt.Message{ID: f.Name, Body: f.Body})
	}
	return out
}

func sftpConfig(p *providersim.SFTP, filename string) []byte {
	host, port, _ := net.SplitHostPort(p.Addr)
	return fmt.Appendf(nil, "name: omsorg_fil\ntransport: sftp\nsftp:\n  host: %s\n  port: %s\n  user: %s\n  password: %s\n  host_key: %s\n  timeout: 5s\n  dir: %s\n  filename: '%s'\n",
		host, port, p.User, sftpPasswordRef, p.Fingerprint(), p.Dir, filename)
}

func TestSFTPSink(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: provider.SinkDef,
		// Files carry no headers; SFTP has no final rejection. The sftp
		// sink is idempotent by file name itself.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true, NoFinalRejection: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			p := providersim.NewSFTP(t)
			return sftpConfig(p, `{{index .Headers "order-id"}}-{{.ID}}.json`), sftpVendor{t: t, p: p}
		},
	})
}

// callbackVendor is a provider posting acknowledgements to the callback
// source through the kit's Ingress: signed, one at a time, retrying until
// the hub answers 202, as the README asks of a provider.
type callbackVendor struct {
	*adapterstest.Pusher
}

func newCallbackVendor(t testing.TB) callbackVendor {
	sim := newSim(t, providersim.Options{})
	// No Idempotency-Key: the source takes the external id from the
	// body's "id", which every kit message has.
	return callbackVendor{adapterstest.NewPusher(t, "SE2321000016-P0T1", func(ctx context.Context, url string, m knutpunkt.Message) bool {
		code, _, err := sim.Post(ctx, url, m.Body, "", time.Now())
		return err == nil && code == http.StatusAccepted
	})}
}

// Secrets gives the source the callback secret the simulator signs with.
func (v callbackVendor) Secrets() adapters.MapSecrets { return adapters.MapSecrets{secretRef: secret} }

func TestCallbackSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: provider.SourceDef,
		// NoHeaders: the source fixes source-system to "provider:<name>"
		// whatever the sender claims, so the kit's source-system cannot
		// come through; TestCallbackHeaders checks every header instead.
		// Requests are served concurrently: no ordering promise. Nothing
		// to probe: the hub's own server is the endpoint.
		Features: adapterstest.Features{LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			return fmt.Appendf(nil, "name: omsorg_test\ncallback:\n  secret: %s\n  retry_after: 1s\n", secretRef), newCallbackVendor(t)
		},
	})
}
