package hsasim_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/hsa/hsasim"
	"github.com/knutpunkt/knutpunkt/adapters/hsa/internal/soap"
)

const dir = "../../../../shared/ext/riv-ta-hsa"

func start(t *testing.T) (*hsasim.PKI, *hsasim.Server) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set, so this is an error): %v", dir, err)
		}
		t.Skipf("%s not found (../shared is not checked out here); set CI to make this fatal", dir)
	}
	pki, err := hsasim.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := hsasim.Start(hsasim.Options{Contracts: dir, PKI: pki})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return pki, s
}

func client(t *testing.T, p *hsasim.PKI, certFile, keyPEM string) *http.Client {
	t.Helper()
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(p.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func members(t *testing.T, c *http.Client, url string) (int, string, error) {
	payload := `<GetCommissionMembers xmlns="` + soap.GetCommissionMembers.NS + `"><healthCareUnitHsaId>TSTNMT2321000156-U001</healthCareUnitHsaId><commissionPurpose>Vård och behandling</commissionPurpose></GetCommissionMembers>`
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(soap.Envelope("", []byte(payload))))
	req.Header.Set("SOAPAction", soap.GetCommissionMembers.Action)
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// TestMutualTLS: the simulator takes only client certificates of its CA
// that are in force.
func TestMutualTLS(t *testing.T) {
	p, s := start(t)
	if code, _, err := members(t, client(t, p, p.ClientCert, p.ClientKeyPEM), s.URL); err != nil || code != 200 {
		t.Fatalf("valid client: %d, %v", code, err)
	}
	exp, key, err := p.IssueClient("expired", time.Now().AddDate(-1, 0, -1), time.Now().AddDate(0, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := members(t, client(t, p, exp, key), s.URL); err == nil {
		t.Error("an expired client certificate was accepted")
	}
	foreign, err := hsasim.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The foreign client trusts the simulator's CA but presents its own.
	c := client(t, p, foreign.ClientCert, foreign.ClientKeyPEM)
	if _, _, err := members(t, c, s.URL); err == nil {
		t.Error("a client certificate of a foreign CA was accepted")
	}
}

// TestDays: a commission ending today still counts today, not tomorrow;
// Down refuses connections until Up.
func TestDays(t *testing.T) {
	p, s := start(t)
	c := client(t, p, p.ClientCert, p.ClientKeyPEM)
	s.AddEmployee(hsasim.Staff{HSAID: "TSTNMT2321000156-P1", FamilyName: "Efternamn", Commissions: []hsasim.Commission{{
		HSAID: "TSTNMT2321000156-C1", Name: "HT", Purpose: "Vård och behandling", UnitHSAID: "TSTNMT2321000156-U001",
		ProviderHSAID: "TSTNMT2321000156-V1", ProviderName: "Omsorg Norr", ProviderOrgNo: "5566778899"}}})
	s.EndCommission("TSTNMT2321000156-P1", "TSTNMT2321000156-C1", s.Today())
	if _, body, err := members(t, c, s.URL); err != nil || !strings.Contains(body, "TSTNMT2321000156-P1") {
		t.Fatalf("today: %v %s", err, body)
	}
	s.NextDay()
	if _, body, err := members(t, c, s.URL); err != nil || strings.Contains(body, "TSTNMT2321000156-P1") {
		t.Fatalf("tomorrow: %v %s", err, body)
	}
	s.Down()
	c.CloseIdleConnections()
	if _, _, err := members(t, c, s.URL); err == nil {
		t.Error("answered while down")
	}
	s.Up()
	if code, _, err := members(t, c, s.URL); err != nil || code != 200 {
		t.Errorf("after Up: %d, %v", code, err)
	}
}
