package soap_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/hsa/internal/soap"
)

func contracts(t *testing.T) *soap.Contracts {
	t.Helper()
	const dir = "../../../../../shared/ext/riv-ta-hsa"
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set, so this is an error): %v", dir, err)
		}
		t.Skipf("%s not found (../shared is not checked out here); set CI to make this fatal", dir)
	}
	c, err := soap.LoadContracts(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// members is a GetCommissionMembers answer of n persons; person bad (if
// not -1) lacks its required middleAndSurName.
func members(n, bad int) []byte {
	var b bytes.Buffer
	b.WriteString(`<GetCommissionMembersResponse xmlns="` + soap.GetCommissionMembers.NS +
		`" xmlns:c="urn:riv:infrastructure:directory:employee:2" xmlns:m2="urn:riv:infrastructure:directory:employee:2.2">`)
	for i := range n {
		fmt.Fprintf(&b, "<personInformation><c:personHsaId>TSTNMT2321000156-P%05d</c:personHsaId>", i)
		if i != bad {
			b.WriteString("<c:middleAndSurName>Efternamn</c:middleAndSurName>")
		}
		b.WriteString("<c:title>Undersköterska</c:title><c:dn>CN=X,O=Testkommun,C=SE</c:dn><m2:gender>0</m2:gender></personInformation>\n")
	}
	b.WriteString("</GetCommissionMembersResponse>")
	return b.Bytes()
}

// TestValidateInParts: an answer larger than internal/schema's element
// limit is validated in parts, and a violation in any part is found.
func TestValidateInParts(t *testing.T) {
	c := contracts(t)
	if err := c.Validate(soap.GetCommissionMembers, members(20_000, -1)); err != nil {
		t.Errorf("valid answer of 20,000: %v", err)
	}
	for _, bad := range []int{0, 9_999, 19_999} {
		err := c.Validate(soap.GetCommissionMembers, members(20_000, bad))
		if err == nil || !strings.Contains(err.Error(), "middleAndSurName") {
			t.Errorf("person %d invalid: %v, want the missing middleAndSurName", bad, err)
		}
	}
}

// TestSplit: the payload keeps the namespaces it inherits from the
// envelope, the LogicalAddress is read, a fault is a Fault.
func TestSplit(t *testing.T) {
	c := contracts(t)
	env := []byte(`<s:Envelope xmlns:s="` + soap.EnvelopeNS + `" xmlns:r="` + soap.GetEmployee.NS + `"><s:Header>` +
		`<a:LogicalAddress xmlns:a="` + soap.RegistryNS + `"> SE165565594230-1000 </a:LogicalAddress></s:Header>` +
		`<s:Body><r:GetEmployeeIncludingProtectedPerson><r:personHsaId>TSTNMT2321000156-P1</r:personHsaId></r:GetEmployeeIncludingProtectedPerson></s:Body></s:Envelope>`)
	m, err := soap.Split(env)
	if err != nil {
		t.Fatal(err)
	}
	if m.LogicalAddress != "SE165565594230-1000" || m.PayloadName.Local != "GetEmployeeIncludingProtectedPerson" {
		t.Errorf("split = %+v", m)
	}
	if err := c.Validate(soap.GetEmployee, m.Payload); err != nil {
		t.Errorf("payload %s: %v", m.Payload, err)
	}
	f, err := soap.Split(soap.FaultEnvelope("Server", "no such person 19121212-1212"))
	if err != nil || f.Fault == nil || strings.Contains(f.Fault.Error(), "1212") {
		t.Errorf("fault = %+v, %v", f.Fault, err)
	}
	for _, bad := range []string{`<x/>`, `<!DOCTYPE x><x/>`, `<s:Envelope xmlns:s="` + soap.EnvelopeNS + `"><s:Body><a/><b/></s:Body></s:Envelope>`} {
		if _, err := soap.Split([]byte(bad)); err == nil {
			t.Errorf("Split(%q) = nil error", bad)
		}
	}
}
