package hsa_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/hsa"
	"github.com/knutpunkt/knutpunkt/adapters/hsa/hsasim"
	"github.com/knutpunkt/knutpunkt/adapters/hsa/internal/soap"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

func records(t *testing.T, body []byte) []hsa.Record {
	t.Helper()
	v, err := schema.LoadJSONSchema("../../schemas/canonical/staff.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []hsa.Record
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if err := v.Validate(sc.Bytes()); err != nil {
			t.Errorf("record %d violates staff.schema.json: %v", len(out)+1, err)
		}
		var r hsa.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func ids(rs []hsa.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.HSAIDs[0])
	}
	return out
}

// TestSyncOverDays: joiners, a protected person, an ended commission and a
// leaver over simulated days, each sync one snapshot of valid canonical
// records; no log line names anyone.
func TestSyncOverDays(t *testing.T) {
	e := start(t)
	pnrs := testPNRs(t)
	for i := range 3 {
		e.sim.AddEmployee(staff(i, pnrs[i]))
	}
	prot := staff(3, pnrs[3])
	prot.GivenName, prot.FamilyName, prot.Protected = "Hemlig", "Skyddadsson", true
	e.sim.AddEmployee(prot)
	ended := staff(4, pnrs[4])
	ended.EndDate = e.sim.Today().AddDate(0, 1, 0)
	e.sim.AddEmployee(ended)
	other := staff(5, pnrs[5])
	other.Commissions[0].UnitHSAID = "TSTNMT2321000156-U999" // not synced
	e.sim.AddEmployee(other)

	core, logs := observer.New(zap.DebugLevel)
	cfg, err := adapters.DecodeConfig(hsa.NewSourceConfig, e.config(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	src, err := hsa.NewSource(*cfg.(*hsa.SourceConfig), adapters.Env{Secrets: e.secrets(), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	snap, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs := records(t, snap.Body)
	if want := []string{"TSTNMT2321000156-P00000", "TSTNMT2321000156-P00001", "TSTNMT2321000156-P00002",
		"TSTNMT2321000156-P00003", "TSTNMT2321000156-P00004"}; !slices.Equal(ids(rs), want) || snap.Count != 5 || snap.Protected != 1 {
		t.Fatalf("day 1: %v (count %d, protected %d), want %v", ids(rs), snap.Count, snap.Protected, want)
	}
	r := rs[3]
	if !r.ProtectedPerson || r.PersonID != pnrs[3] || r.Directory != "hsa-test" || r.ProviderID != "omsorg-norr" ||
		!slices.Equal(r.Units, []string{unit}) || len(r.Commissions) != 1 || r.Commissions[0].CareUnitHSAID != unit {
		t.Errorf("protected record = %+v", r)
	}
	if rs[0].ProtectedPerson || rs[0].GivenName != "Förnamn" || rs[0].Title != "Undersköterska" {
		t.Errorf("record 0 = %+v", rs[0])
	}
	if rs[4].EmploymentEnd != ended.EndDate.Format("2006-01-02") {
		t.Errorf("employment_end = %q, want %s", rs[4].EmploymentEnd, ended.EndDate.Format("2006-01-02"))
	}
	// The GetEmployee calls went one per member, by HSA-ID, no more.
	if n := e.sim.Requests(soap.GetEmployee.Name); n != 5 {
		t.Errorf("GetEmployee calls = %d, want 5", n)
	}

	// Day 2: a joiner, a commission ending today, a leaver.
	e.sim.AddEmployee(staff(6, pnrs[6]))
	e.sim.EndCommission("TSTNMT2321000156-P00001", "TSTNMT2321000156-C00001", e.sim.Today())
	e.sim.RemoveEmployee("TSTNMT2321000156-P00002")
	snap2, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs = records(t, snap2.Body)
	if want := []string{"TSTNMT2321000156-P00000", "TSTNMT2321000156-P00001", "TSTNMT2321000156-P00003",
		"TSTNMT2321000156-P00004", "TSTNMT2321000156-P00006"}; !slices.Equal(ids(rs), want) {
		t.Fatalf("day 2: %v, want %v", ids(rs), want)
	}
	if got := rs[1].Commissions[0].To; got != e.sim.Today().Format("2006-01-02") {
		t.Errorf("ended commission's valid_to = %q", got)
	}
	e.sim.NextDay()
	snap3, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(records(t, snap3.Body)); slices.Contains(got, "TSTNMT2321000156-P00001") || len(got) != 4 {
		t.Errorf("day 3: %v, want P00001 gone with its commission", got)
	}

	// Receive delivers one snapshot with the headers.
	var got []knutpunkt.Message
	done := make(chan struct{})
	ctx := t.Context()
	go func() {
		defer close(done)
		_ = src.Receive(ctx, func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
			got = append(got, m)
			src.Close()
			return adapters.Receipt{ID: "1"}, nil
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Receive did not deliver")
	}
	if len(got) != 1 || got[0].Headers[knutpunkt.HeaderContentType] != "application/x-ndjson" ||
		got[0].Headers[hsa.HeaderSnapshotCount] != "4" || got[0].Headers[knutpunkt.HeaderSourceSystem] != "hsa-test" ||
		!strings.HasPrefix(got[0].Headers[knutpunkt.HeaderExternalID], "hsa-") {
		t.Errorf("delivered %d messages, headers %v", len(got), got[0].Headers)
	}
	for _, l := range logs.All() {
		line := l.Message + " " + fmtFields(l)
		for _, secret := range []string{"Hemlig", "Skyddadsson", "Förnamn", "Efternamn", pnrs[3], pnrs[0]} {
			if strings.Contains(line, secret) {
				t.Errorf("log line names a person: %s", line)
			}
		}
	}
}

// TestBadInput: each way a sync fails gives no snapshot and an error that
// names the operation and the reason, never a person's data.
func TestBadInput(t *testing.T) {
	pnrs := testPNRs(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env) (extra string, secrets adapters.MapSecrets)
		want  []string
		is    error
	}{
		{name: "answer violating the XSD", is: hsa.ErrInvalidResponse,
			setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
				e.sim.SetFault(hsasim.Invalid, soap.GetEmployee.Name, 2)
				return "", nil
			}, want: []string{"hsa GetEmployeeIncludingProtectedPerson:", "member 2 of 3", "violates the contract", "line"}},
		{name: "SOAP fault", setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			e.sim.SetFault(hsasim.SOAPFault, soap.GetCredentials.Name, 3)
			return "", nil
		}, want: []string{"hsa GetCredentialsForPersonIncludingProtectedPerson:", "member 3 of 3", "SOAP fault soap:Server: simulated directory failure"}},
		{name: "fault on the member list", setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			e.sim.SetFault(hsasim.SOAPFault, soap.GetCommissionMembers.Name, 1)
			return "", nil
		}, want: []string{"commission members of " + unit, "hsa GetCommissionMembers:", "SOAP fault"}},
		{name: "truncated answer", setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			e.sim.SetFault(hsasim.Truncated, soap.GetEmployee.Name, 1)
			return "", nil
		}, want: []string{"hsa GetEmployeeIncludingProtectedPerson:"}},
		{name: "unknown person", is: hsa.ErrUnknownPerson, setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			e.sim.SetFault(hsasim.UnknownAll, soap.GetEmployee.Name, 1)
			return "", nil
		}, want: []string{"hsa GetEmployeeIncludingProtectedPerson: unknown person"}},
		{name: "invalid HSA-ID format", is: hsa.ErrInvalidHSAID, setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			e.sim.SetFault(hsasim.InvalidHSAID, soap.GetCommissionMembers.Name, 1)
			return "", nil
		}, want: []string{"hsa GetCommissionMembers: member 1: invalid HSA-ID"}},
		{name: "test HSA-IDs without allow_test_ids", is: hsa.ErrInvalidHSAID, setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			p := staff(9, pnrs[9])
			p.Commissions[0].UnitHSAID = "SE2321000016-HT01"
			e.sim.AddEmployee(p)
			return "allow_test_ids: false\nlogical_address: " + logicalAddress + "\ncommissions: [{unit: SE2321000016-HT01, purpose: " + purpose + "}]\n", nil
		}, want: []string{"hsa GetCommissionMembers: member 1: invalid HSA-ID", "test prefixes are not allowed"}},
		{name: "expired client certificate", setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			cert, key, err := e.pki.IssueClient("expired", time.Now().AddDate(-2, 0, 0), time.Now().AddDate(-1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			return "cert_file: " + cert + "\n", adapters.MapSecrets{keyRef: key}
		}, want: []string{"hsa GetCommissionMembers:", "certificate"}},
		{name: "server certificate from a foreign CA", setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			foreign, err := hsasim.NewPKI(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return "ca_file: " + foreign.CAFile + "\n", nil
		}, want: []string{"hsa GetCommissionMembers:", "certificate signed by unknown authority"}},
		{name: "directory down", setup: func(t *testing.T, e *env) (string, adapters.MapSecrets) {
			e.sim.Down()
			return "", nil
		}, want: []string{"hsa GetCommissionMembers:", "dial tcp 127.0.0.1:"}}, // refused, or reset by a closing listener
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			for i := range 3 {
				p := staff(i, pnrs[i])
				p.Protected = i == 1
				e.sim.AddEmployee(p)
			}
			extra, secrets := tt.setup(t, e)
			src, err := e.source(t, extra, secrets)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := src.Snapshot(t.Context())
			if err == nil {
				t.Fatalf("snapshot of %d records, want an error", snap.Count)
			}
			if snap.Body != nil || snap.Count != 0 {
				t.Errorf("a failed sync returned a snapshot of %d records", snap.Count)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want errors.Is %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, secret := range append([]string{"Förnamn", "Efternamn"}, pnrs[:3]...) {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds personal data", err)
				}
			}
		})
	}
}

// TestBothIdentifiersRefused: a request naming personHsaId and
// personalIdentityNumber is refused before anything is sent.
func TestBothIdentifiersRefused(t *testing.T) {
	e := start(t)
	c, err := soap.LoadContracts(contractsDir(t))
	if err != nil {
		t.Fatal(err)
	}
	client := hsa.NewClient(hsa.ClientConfig{URL: e.sim.URL, LogicalAddress: logicalAddress, Timeout: 5 * time.Second, AllowTestIDs: true,
		TLS: clientTLS(t, e)}, c)
	q := hsa.EmployeeQuery{PersonHSAID: "TSTNMT2321000156-P00000", PersonalIdentityNumber: testPNRs(t)[0]}
	if _, err := client.GetEmployee(t.Context(), q); !errors.Is(err, hsa.ErrBothIdentifiers) ||
		!strings.Contains(err.Error(), "hsa GetEmployeeIncludingProtectedPerson:") || strings.Contains(err.Error(), q.PersonalIdentityNumber) {
		t.Errorf("GetEmployee with both: %v", err)
	}
	if _, err := client.GetCredentials(t.Context(), q); !errors.Is(err, hsa.ErrBothIdentifiers) {
		t.Errorf("GetCredentials with both: %v", err)
	}
	if n := e.sim.Requests(soap.GetEmployee.Name) + e.sim.Requests(soap.GetCredentials.Name); n != 0 {
		t.Errorf("%d requests reached the directory", n)
	}
	// By personnummer alone the directory answers.
	e.sim.AddEmployee(staff(0, q.PersonalIdentityNumber))
	p, err := client.GetEmployee(t.Context(), hsa.EmployeeQuery{PersonalIdentityNumber: q.PersonalIdentityNumber})
	if err != nil || p.HSAID != q.PersonHSAID {
		t.Errorf("GetEmployee by personnummer = %+v, %v", p, err)
	}
	// The simulator itself refuses a request violating the XSD with a fault.
	raw := []byte(`<GetEmployeeIncludingProtectedPerson xmlns="` + soap.GetEmployee.NS + `"><personHsaId>A</personHsaId><personalIdentityNumber>B</personalIdentityNumber></GetEmployeeIncludingProtectedPerson>`)
	if err := c.Validate(soap.GetEmployee, raw); err == nil {
		t.Error("the contract accepts both identifiers")
	}
	req, _ := http.NewRequest(http.MethodPost, e.sim.URL, bytes.NewReader(soap.Envelope(logicalAddress, raw)))
	req.Header.Set("SOAPAction", `"`+soap.GetEmployee.Action+`"`)
	req.Header.Set("Content-Type", soap.ContentType)
	res, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, e)}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte("<faultcode>soap:Client</faultcode>")) ||
		!bytes.Contains(body, []byte("request violates GetEmployeeIncludingProtectedPerson")) {
		t.Errorf("hsasim answered %d %s to a request violating the XSD", res.StatusCode, body)
	}
}

func clientTLS(t *testing.T, e *env) *tls.Config {
	t.Helper()
	certPEM, err := os.ReadFile(e.pki.ClientCert)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, []byte(e.pki.ClientKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(e.pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func fmtFields(l observer.LoggedEntry) string {
	var b strings.Builder
	for k, v := range l.ContextMap() {
		b.WriteString(k + "=" + fmt.Sprint(v) + " ")
	}
	return b.String()
}

// TestPause: the calls of a sync go one at a time with the configured
// pause between them.
func TestPause(t *testing.T) {
	e := start(t)
	pnrs := testPNRs(t)
	for i := range 3 {
		e.sim.AddEmployee(staff(i, pnrs[i]))
	}
	src, err := e.source(t, "pause: 30ms\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := src.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	// 7 calls: the member list, then two per member; 6 pauses.
	if took := time.Since(began); took < 6*30*time.Millisecond {
		t.Errorf("sync of 7 calls took %v, want at least 6 pauses of 30ms", took)
	}
	if n := e.sim.MaxInFlight(); n != 1 {
		t.Errorf("%d calls at once, want 1", n)
	}
}
