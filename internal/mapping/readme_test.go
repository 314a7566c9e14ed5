package mapping_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

var update = flag.Bool("update", false, "rewrite generated files (the function table in mappings/README.md)")

const readme = "../../mappings/README.md"

// TestREADMEFunctions keeps the function table in mappings/README.md equal
// to the registry in functions.go; -update regenerates it.
func TestREADMEFunctions(t *testing.T) {
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	const begin, end = "<!-- functions:begin", "<!-- functions:end -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: markers %q … %q not found", readme, begin, end)
	}
	i += strings.Index(doc[i:], "\n") + 1
	var table strings.Builder
	table.WriteString("| function | what it does |\n|---|---|\n")
	for _, f := range mapping.Functions() {
		table.WriteString("| `" + f.Signature + "` | " + strings.ReplaceAll(f.Doc, "|", `\|`) + " |\n")
	}
	got := doc[:i] + table.String() + doc[j:]
	if *update {
		if err := os.WriteFile(readme, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if d := cmp.Diff(doc, got); d != "" {
		t.Errorf("%s function table is stale; run go test ./internal/mapping -run TestREADME -update (-have +want):\n%s", readme, d)
	}
}
