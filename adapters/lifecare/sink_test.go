package lifecare_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
)

const kvittens = `<?xml version="1.0" encoding="UTF-8"?>
<Kvittens xmlns="urn:knutpunkt:lifecare:receipt:1" version="1.0">
  <handelseId>KP-KV-1</handelseId>
  <tidpunkt>2026-11-10T15:00:00Z</tidpunkt>
  <bestallningsId>BEST-2026-0101</bestallningsId>
  <typ>verkstalld</typ>
  <datum>2026-11-10</datum>
  <utforare>omsorg-norr</utforare>
</Kvittens>
`

func openSink(t *testing.T, yml string, env adapters.Env) adapters.Sink {
	t.Helper()
	cfg, err := adapters.DecodeConfig(lifecare.SinkDef.Config, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	s, err := lifecare.SinkDef.Open(cfg, env)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.(*lifecare.Sink).Close() })
	return s
}

// TestSinkReceipts sends receipts to the simulated case system, which
// validates them against receipt.xsd.
func TestSinkReceipts(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		headers       map[string]string
		wantPermanent bool
		wantType      string
		wantCT        string
	}{
		{name: "valid receipt, content type defaulted", body: kvittens, wantType: "verkstalld", wantCT: "application/xml"},
		{name: "content type kept", body: kvittens, headers: map[string]string{"content-type": "text/xml; charset=utf-8"}, wantType: "verkstalld", wantCT: "text/xml; charset=utf-8"},
		{name: "invalid receipt is refused for good", body: strings.Replace(kvittens, "verkstalld", "klar", 1), wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCaseSystem(t, lifecaresim.Options{})
			sink := openSink(t, fmt.Sprintf("url: %s\ntimeout: 5s\n", cs.ReceiptURL()), adapters.Env{})
			err := sink.Send(t.Context(), knutpunkt.Message{ID: "m-1", Headers: tt.headers, Body: []byte(tt.body)})
			if tt.wantPermanent {
				if !adapters.IsPermanent(err) {
					t.Fatalf("Send = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := cs.Receipts()
			if len(got) != 1 {
				t.Fatalf("%d receipts recorded, want 1", len(got))
			}
			if got[0].Kvittens.Type != tt.wantType || got[0].ContentType != tt.wantCT || got[0].IdempotencyKey != "m-1" {
				t.Errorf("recorded %q with content type %q and key %q, want %q, %q, m-1",
					got[0].Kvittens.Type, got[0].ContentType, got[0].IdempotencyKey, tt.wantType, tt.wantCT)
			}
		})
	}
}

// TestSinkMutualTLS sends to a case system that requires a client
// certificate signed by its CA.
func TestSinkMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "Testkommun CA", true)
	serverCert, serverKey := newCert(t, ca, caKey, "127.0.0.1", false)
	clientCert, clientKey := newCert(t, ca, caKey, "Knutpunkt test", false)
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", certPEM(ca))
	certFile := write("client.pem", certPEM(clientCert))
	keyFile := write("client-key.pem", keyPEM(t, clientKey))

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	var gotCN atomic.Value // string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			gotCN.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
	}))
	srv.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		extra   string
		wantErr bool
	}{
		{name: "client certificate and CA", extra: fmt.Sprintf("client_cert: %s\nclient_key: file:%s\nca_file: %s\n", certFile, keyFile, caFile)},
		{name: "no client certificate", extra: fmt.Sprintf("ca_file: %s\n", caFile), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotCN.Store("")
			sink := openSink(t, fmt.Sprintf("url: %s/kvittens\ntimeout: 5s\n%s", srv.URL, tt.extra), adapters.Env{})
			err := sink.Send(t.Context(), knutpunkt.Message{ID: "m-1", Body: []byte(kvittens)})
			if tt.wantErr {
				if err == nil || adapters.IsPermanent(err) {
					t.Errorf("Send without a client certificate = %v, want a transient error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if cn := gotCN.Load(); cn != "Knutpunkt test" {
				t.Errorf("server saw client certificate %q, want %q", cn, "Knutpunkt test")
			}
		})
	}
}

func TestSinkOpenErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"missing cert file", "client_cert: " + filepath.Join(dir, "none.pem") + "\nclient_key: env:KEY\n", "client_cert:"},
		{"unresolvable key", "client_cert: " + junk + "\nclient_key: env:NOT_SET_ANYWHERE\n", "client_key:"},
		{"bad pair", "client_cert: " + junk + "\nclient_key: env:KEY\n", "not a matching PEM certificate and private key"},
		{"bad CA file", "ca_file: " + junk + "\n", "no PEM certificate found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := adapters.DecodeConfig(lifecare.SinkDef.Config, []byte("url: https://x.example/\n"+tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = lifecare.SinkDef.Open(cfg, adapters.Env{Secrets: adapters.MapSecrets{"env:KEY": "-----BEGIN PRIVATE KEY-----secret-key-text"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret-key-text") {
				t.Errorf("Open error reveals the key: %v", err)
			}
		})
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func certPEM(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}
