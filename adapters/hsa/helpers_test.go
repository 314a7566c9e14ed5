package hsa_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/hsa"
	"github.com/knutpunkt/knutpunkt/adapters/hsa/hsasim"
)

// Test identities: the test HSA-ID prefix of HSA's test environment.
const (
	logicalAddress = "TSTNMT2321000156-HSA0"
	unit           = "TSTNMT2321000156-U001"
	purpose        = "Vård och behandling"
	keyRef         = adapters.Secret("env:KNUT_HSA_TEST_KEY")
)

// shared finds a file under ../shared (the repository root's sibling):
// the tests skip without it, and fail when CI is set.
func shared(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("../../../shared", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set, so this is an error): %v", p, err)
		}
		t.Skipf("%s not found (../shared is not checked out here); set CI to make this fatal", p)
	}
	return p
}

func contractsDir(t testing.TB) string { return shared(t, "ext/riv-ta-hsa") }

// testPNRs are Skatteverket's official test personnummer (12 digits) from
// ../shared/ext/personnummer/allPins.json.
func testPNRs(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(shared(t, "ext/personnummer/allPins.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) < 20_000 {
		t.Fatalf("only %d test personnummer in allPins.json", len(list))
	}
	return list
}

// env is a PKI and a simulator.
type env struct {
	pki *hsasim.PKI
	sim *hsasim.Server
}

func start(t testing.TB) *env {
	t.Helper()
	dir := contractsDir(t)
	pki, err := hsasim.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sim, err := hsasim.Start(hsasim.Options{Contracts: dir, PKI: pki, LogicalAddress: logicalAddress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return &env{pki: pki, sim: sim}
}

func (e *env) secrets() adapters.MapSecrets {
	return adapters.MapSecrets{keyRef: e.pki.ClientKeyPEM}
}

// config points the source at e's simulator; extra YAML lines replace the
// keys they name.
func (e *env) config(t testing.TB, extra string) []byte {
	lines := []string{"directory: hsa-test", "provider_id: omsorg-norr", "url: " + e.sim.URL,
		"logical_address: " + logicalAddress, "contracts: " + contractsDir(t), "cert_file: " + e.pki.ClientCert,
		"key: " + string(keyRef), "ca_file: " + e.pki.CAFile,
		"commissions: [{unit: " + unit + ", purpose: " + purpose + "}]", "pause: 0s", "timeout: 5s", "allow_test_ids: true"}
	var out []string
	for _, l := range lines {
		key, _, _ := strings.Cut(l, ":")
		if !strings.Contains("\n"+extra, "\n"+key+":") {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n" + extra)
}

func (e *env) source(t testing.TB, extra string, secrets adapters.MapSecrets) (*hsa.Source, error) {
	t.Helper()
	cfg, err := adapters.DecodeConfig(hsa.NewSourceConfig, e.config(t, extra))
	if err != nil {
		t.Fatal(err)
	}
	if secrets == nil {
		secrets = e.secrets()
	}
	src, err := hsa.NewSource(*cfg.(*hsa.SourceConfig), adapters.Env{Secrets: secrets})
	if err == nil {
		t.Cleanup(func() { src.Close() })
	}
	return src, err
}

// staff is a member of the test unit.
func staff(n int, pnr string) hsasim.Staff {
	return hsasim.Staff{
		HSAID: fmt.Sprintf("TSTNMT2321000156-P%05d", n), PersonID: pnr,
		GivenName: "Förnamn", FamilyName: fmt.Sprintf("Efternamn%05d", n), Mail: fmt.Sprintf("p%05d@kommun.example", n),
		Title: "Undersköterska",
		Commissions: []hsasim.Commission{{
			HSAID: fmt.Sprintf("TSTNMT2321000156-C%05d", n), Name: "Hemtjänst Norr", Purpose: purpose,
			UnitHSAID: unit, UnitName: "Hemtjänst Norr", ProviderHSAID: "TSTNMT2321000156-V001",
			ProviderName: "Omsorg Norr", ProviderOrgNo: "5566778899",
		}},
	}
}
