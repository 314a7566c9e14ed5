package lifecare_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// TestREADMEExamples validates every XML example in README.md against its
// schema (order.xsd or receipt.xsd, by namespace; examples in one block are
// separated by a blank line), and checks that the full 1.1 example is the
// schema fixture the mapping tests use, so the documented contract and the
// tested one cannot drift apart.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	order, err := schema.Load(lifecaresim.OrderSchemaPath())
	if err != nil {
		t.Fatal(err)
	}
	receipt, err := schema.Load(lifecaresim.ReceiptSchemaPath())
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join(filepath.Dir(lifecaresim.OrderSchemaPath()), "testdata", "valid", "order_bestallning_v11_full.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	blocks := strings.Split(string(readme), "```xml\n")
	for _, b := range blocks[1:] {
		b, _, ok := strings.Cut(b, "```")
		if !ok {
			t.Fatal("README.md: an xml block is not closed")
		}
		if strings.Contains(b, `version="1.1"`) && b != string(fixture) {
			t.Error("README.md: the 1.1 example differs from schemas/lifecare/testdata/valid/order_bestallning_v11_full.xml")
		}
		for d := range strings.SplitSeq(b, "\n\n") {
			if strings.TrimSpace(d) != "" {
				docs = append(docs, d)
			}
		}
	}
	if len(docs) < 6 {
		t.Fatalf("found %d XML examples in README.md, want at least 6", len(docs))
	}
	for i, d := range docs {
		v := order
		if strings.Contains(d, "urn:knutpunkt:lifecare:receipt:1") {
			v = receipt
		}
		if err := v.Validate([]byte(d)); err != nil {
			t.Errorf("README.md example %d is invalid: %v\n%s", i+1, err, d)
		}
	}
}
