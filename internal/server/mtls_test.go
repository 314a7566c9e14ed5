package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// pki is a throwaway SITHS-like hierarchy: a CA, a server certificate for
// 127.0.0.1 and client certificates whose subject serialNumber is an HSA-ID.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test SITHS e-id CA", Organization: []string{"Knutpunkt test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.ca)
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

// issue returns a certificate for subject signed by ca (or self-signed by a
// stranger when ca is nil).
func (p *pki) issue(t *testing.T, subject pkix.Name, server bool, ca *pki) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	parent, parentKey := ca.ca, ca.caKey
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMutualTLS: with tls.client_ca set, a request without a certificate
// from that CA is refused, and the certificate's subject serialNumber (the
// caller's HSA-ID) is recorded with the message.
func TestMutualTLS(t *testing.T) {
	hub := newPKI(t)
	serverCert := hub.issue(t, pkix.Name{CommonName: "knut.test"}, true, hub)
	keyDER, _ := x509.MarshalECPrivateKey(serverCert.PrivateKey.(*ecdsa.PrivateKey))
	writePEM(t, filepath.Join(hub.dir, "server.pem"), "CERTIFICATE", serverCert.Certificate[0])
	writePEM(t, filepath.Join(hub.dir, "server-key.pem"), "EC PRIVATE KEY", keyDER)

	cfg := repoConfig(t, "")
	cfg.HTTP.TLS.Cert = filepath.Join(hub.dir, "server.pem")
	cfg.HTTP.TLS.Key = filepath.Join(hub.dir, "server-key.pem")
	cfg.HTTP.TLS.ClientCA = filepath.Join(hub.dir, "ca.pem")
	srv := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	url := "https://" + srv.Addr() + "/ingest/tes_visits"

	const hsaID = "TSTNMT2321000156-1024"
	staff := hub.issue(t, pkix.Name{CommonName: "Test Testsson", SerialNumber: hsaID}, false, hub)
	stranger := newPKI(t)
	strangerCert := stranger.issue(t, pkix.Name{CommonName: "Intruder", SerialNumber: "TSTNMT2321000156-9999"}, false, stranger)

	seq := 0
	v := demo.NewMunicipality(1).Visits(time.Date(2026, 11, 20, 0, 0, 0, 0, demo.Stockholm()), 1, &seq)[0]
	body, _ := json.Marshal(v)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: hub.caPool, Certificates: certs}}}
	}
	postWith := func(c *http.Client) (int, error) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-External-Id", v.VisitID)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	tests := []struct {
		name    string
		client  *http.Client
		refused bool
	}{
		{"no client certificate", client(), true},
		{"certificate from another CA", client(strangerCert), true},
		{"certificate from the configured CA", client(staff), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := postWith(tt.client)
			if tt.refused {
				if err == nil {
					t.Fatalf("request accepted with status %d, want the TLS handshake refused", code)
				}
				return
			}
			if err != nil || code != http.StatusAccepted {
				t.Fatalf("POST = %d, %v; want 202", code, err)
			}
		})
	}
	settle(t, srv.Store(), 1)
	msgs, err := srv.Store().ListMessages(t.Context(), store.MessageFilter{Pipeline: "tes_visits"})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages = %d, %v; want 1", len(msgs), err)
	}
	if msgs[0].Caller != hsaID {
		t.Errorf("caller = %q, want the certificate's HSA-ID %q", msgs[0].Caller, hsaID)
	}
	if strings.Contains(msgs[0].Caller, "9999") {
		t.Error("the stranger's identity was recorded")
	}
}
