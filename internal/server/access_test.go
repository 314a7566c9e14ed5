package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestAuthorizationMatrix: any certificate from the client CA could post
// to any pipeline and read /metrics; the caller was only recorded. Now each
// HTTP pipeline lets in only the callers its allow list names, by HSA-ID,
// organisation number or subject, and /metrics only http.operators;
// everyone else gets 403 and an audit record, and a request without a
// valid certificate does not get past TLS.
func TestAuthorizationMatrix(t *testing.T) {
	hub := newPKI(t)
	serverCert := hub.issue(t, pkix.Name{CommonName: "knut.test"}, true, hub)
	keyDER, _ := x509.MarshalECPrivateKey(serverCert.PrivateKey.(*ecdsa.PrivateKey))
	writePEM(t, filepath.Join(hub.dir, "server.pem"), "CERTIFICATE", serverCert.Certificate[0])
	writePEM(t, filepath.Join(hub.dir, "server-key.pem"), "EC PRIVATE KEY", keyDER)

	cfg := repoConfig(t, "")
	cfg.HTTP.TLS.Cert = filepath.Join(hub.dir, "server.pem")
	cfg.HTTP.TLS.Key = filepath.Join(hub.dir, "server-key.pem")
	cfg.HTTP.TLS.ClientCA = filepath.Join(hub.dir, "ca.pem")
	cfg.Vars["tes_callers"] = "[{hsa_id: SE2321000016-TES1}, {subject: 'CN=TES export robot'}]"
	cfg.Vars["lifecare_callers"] = "[{org_no: '2120001234'}]"
	cfg.HTTP.Operators = &config.Allow{HSAIDs: []string{"SE2120001234-OPS1"}}
	srv := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))

	tesSystem := hub.issue(t, pkix.Name{CommonName: "TES", SerialNumber: "SE2321000016-TES1"}, false, hub)
	tesRobot := hub.issue(t, pkix.Name{CommonName: "TES export robot"}, false, hub)
	caseSystem := hub.issue(t, pkix.Name{CommonName: "Lifecare", SerialNumber: "SE2120001234-LC01"}, false, hub)
	otherStaff := hub.issue(t, pkix.Name{CommonName: "Test Testsson", SerialNumber: "SE2321000016-ANNA"}, false, hub)
	stranger := newPKI(t)
	strangerCert := stranger.issue(t, pkix.Name{CommonName: "TES", SerialNumber: "SE2321000016-TES1"}, false, stranger)
	expired := hub.issue(t, pkix.Name{CommonName: "TES", SerialNumber: "SE2321000016-TES1"}, false, hub)
	expiredCert := expiredCopy(t, hub, expired)
	monitoring := hub.issue(t, pkix.Name{CommonName: "Prometheus", SerialNumber: "SE2120001234-OPS1"}, false, hub)

	seq := 0
	visit := demo.NewMunicipality(1).Visits(time.Date(2026, 11, 20, 0, 0, 0, 0, demo.Stockholm()), 1, &seq)[0]
	visitJSON, _ := json.Marshal(visit)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: hub.caPool, Certificates: certs}}}
	}
	const tes, lifecare, metrics, healthz = "/ingest/tes_visits", "/ingest/lifecare_orders", "/metrics", "/healthz"
	tests := []struct {
		name   string
		client *http.Client
		path   string
		want   int // 0: refused in the TLS handshake
		actor  string
	}{
		{"no certificate", client(), tes, 0, ""},
		{"a stranger CA", client(strangerCert), tes, 0, ""},
		{"an expired certificate", client(expiredCert), tes, 0, ""},
		{"the client CA, an HSA-ID not allowed", client(otherStaff), tes, http.StatusForbidden, "hsa:SE2321000016-ANNA"},
		{"the right caller on the wrong pipeline", client(tesSystem), lifecare, http.StatusForbidden, "hsa:SE2321000016-TES1"},
		{"the case system on the TES pipeline", client(caseSystem), tes, http.StatusForbidden, "hsa:SE2120001234-LC01"},
		{"allowed by HSA-ID", client(tesSystem), tes, http.StatusAccepted, ""},
		{"allowed by subject", client(tesRobot), tes, http.StatusAccepted, ""},
		{"metrics without a certificate", client(), metrics, 0, ""},
		{"metrics for a staff member", client(otherStaff), metrics, http.StatusForbidden, "hsa:SE2321000016-ANNA"},
		{"metrics for a sending system", client(tesSystem), metrics, http.StatusForbidden, "hsa:SE2321000016-TES1"},
		{"metrics for the monitoring system", client(monitoring), metrics, http.StatusOK, ""},
		{"the monitoring system posting a visit", client(monitoring), tes, http.StatusForbidden, "hsa:SE2120001234-OPS1"},
		{"healthz for any certificate of the CA", client(otherStaff), healthz, http.StatusOK, ""},
	}
	var denied []string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, body := http.MethodPost, bytes.NewReader(visitJSON)
			if !strings.HasPrefix(tt.path, "/ingest/") {
				method = http.MethodGet
			}
			req, _ := http.NewRequestWithContext(t.Context(), method, "https://"+srv.Addr()+tt.path, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-External-Id", visit.VisitID+"-"+string(rune('a'+i)))
			resp, err := tt.client.Do(req)
			if tt.want == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered %d, want the TLS handshake refused", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d, want %d", method, tt.path, resp.StatusCode, tt.want)
			}
			if tt.actor != "" {
				denied = append(denied, tt.actor)
			}
		})
	}
	// The case system's organisation may post orders: the org_no entry
	// matches its HSA-ID's organisation part. (A malformed order is
	// accepted and dead-lettered later: acceptance is what is allowed.)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+srv.Addr()+"/ingest/lifecare_orders", strings.NewReader("<x/>"))
	req.Header.Set("Content-Type", "application/xml")
	if resp, err := client(caseSystem).Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("the case system on lifecare_orders: %v %v, want 202", resp, err)
	} else {
		resp.Body.Close()
	}

	records, err := srv.Store().ListAudit(t.Context(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range records {
		if strings.HasPrefix(r.Actor, "hub:") {
			continue // the nightly jobs' own records (the reconciliation's runs)
		}
		if r.Outcome != store.AuditDenied || !strings.HasPrefix(r.Resource, "pipeline:") && r.Resource != "endpoint:/metrics" {
			t.Errorf("audit record %+v, want a denied pipeline or metrics call", r)
		}
		got = append(got, r.Actor)
	}
	if strings.Join(got, " ") != strings.Join(denied, " ") {
		t.Errorf("audited refusals %v, want one per 403: %v", got, denied)
	}
}

// expiredCopy is cert's subject and key again, issued by ca but valid only
// in the past.
func expiredCopy(t *testing.T, ca *pki, cert tls.Certificate) tls.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	leaf.NotBefore, leaf.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	key := cert.PrivateKey.(*ecdsa.PrivateKey)
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca.ca, &key.PublicKey, ca.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestProductionRefusesUnguardedPipelines: production does not start with
// an HTTP pipeline that names no callers or lets everyone in.
func TestProductionRefusesUnguardedPipelines(t *testing.T) {
	tests := []struct {
		name, allow, want string
	}{
		{"allow: any", "allow: any\n", "allow: any, which production refuses"},
		{"no allow list", "", "has no allow: list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := repoConfig(t, "")
			cfg.Environment = config.Production
			cfg.HTTP.Listen = "127.0.0.1:0"
			cfg.DisabledPipelines = nil // knut.yaml's name pipelines this directory does not have
			cfg.Pipelines = writePipelines(t, map[string]string{"tes_visits": "from:\n  http:\n    source_system: tes\n" + tt.allow +
				"steps:\n  - validate: {schema: tes/export.schema.json}\n"})
			_, err := server.New(t.Context(), cfg, server.Options{Logger: zap.NewNop(), Secrets: demo.Secrets(nil)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("server.New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestStaffCallers: an allow list may name a provider, whose staff (as the directory
// sync lists them) are let in; a person the sync found gone is refused from then on,
// also where the list names their HSA-ID, without a restart; the refusal is audited
// with the reason.
func TestStaffCallers(t *testing.T) {
	hub := newPKI(t)
	serverCert := hub.issue(t, pkix.Name{CommonName: "knut.test"}, true, hub)
	keyDER, _ := x509.MarshalECPrivateKey(serverCert.PrivateKey.(*ecdsa.PrivateKey))
	writePEM(t, filepath.Join(hub.dir, "server.pem"), "CERTIFICATE", serverCert.Certificate[0])
	writePEM(t, filepath.Join(hub.dir, "server-key.pem"), "EC PRIVATE KEY", keyDER)
	cfg := repoConfig(t, "")
	cfg.HTTP.TLS.Cert = filepath.Join(hub.dir, "server.pem")
	cfg.HTTP.TLS.Key = filepath.Join(hub.dir, "server-key.pem")
	cfg.HTTP.TLS.ClientCA = filepath.Join(hub.dir, "ca.pem")
	cfg.Vars["tes_callers"] = "[{provider: omsorg-norr}, {hsa_id: SE2321000016-CARL}]"
	srv := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))

	person := func(hsa, provider string) homecare.DirectoryPerson {
		return homecare.DirectoryPerson{Directory: "hsa", ProviderID: provider, HSAIDs: []homecare.HSAID{homecare.HSAID(hsa)}}
	}
	anna, bert, carl := person("SE2321000016-ANNA", "omsorg-norr"), person("SE2321000016-BERT", "hemtjanst-soder"), person("SE2321000016-CARL", "omsorg-norr")
	others := []homecare.DirectoryPerson{person("SE2321000016-D001", "omsorg-norr"), person("SE2321000016-D002", "omsorg-norr"),
		person("SE2321000016-D003", "omsorg-norr"), person("SE2321000016-D004", "omsorg-norr")}
	if _, err := srv.Store().SyncStaff(t.Context(), "hsa", append([]homecare.DirectoryPerson{anna, bert, carl}, others...), store.DefaultSyncGuard, "test"); err != nil {
		t.Fatal(err)
	}
	post := func(hsa string) int {
		t.Helper()
		cert := hub.issue(t, pkix.Name{CommonName: "Staff", SerialNumber: hsa}, false, hub)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: hub.caPool, Certificates: []tls.Certificate{cert}}}}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+srv.Addr()+"/ingest/tes_visits", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for hsa, want := range map[string]int{"SE2321000016-ANNA": 202, "SE2321000016-BERT": 403, "SE2321000016-CARL": 202, "SE2321000016-NOBODY": 403} {
		if got := post(hsa); got != want {
			t.Errorf("before: %s = %d, want %d", hsa, got, want)
		}
	}
	// Anna and Carl leave: the next sync lists neither.
	if _, err := srv.Store().SyncStaff(t.Context(), "hsa", append([]homecare.DirectoryPerson{bert}, others...), store.DefaultSyncGuard, "test"); err != nil {
		t.Fatal(err)
	}
	for _, hsa := range []string{"SE2321000016-ANNA", "SE2321000016-CARL"} {
		if got := post(hsa); got != http.StatusForbidden {
			t.Errorf("after leaving: %s = %d, want 403", hsa, got)
		}
	}
	records, err := srv.Store().ListAudit(t.Context(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, r := range records {
		details = append(details, r.Actor+": "+r.Detail)
	}
	all := strings.Join(details, "\n")
	for _, want := range []string{"hsa:SE2321000016-BERT: not on the allow list (staff of hemtjanst-soder)",
		"hsa:SE2321000016-CARL: the certificate's holder left omsorg-norr on"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, all)
		}
	}
}
