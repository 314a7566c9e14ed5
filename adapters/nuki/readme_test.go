package nuki_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMESamples: the config blocks of README.md are the sample files
// (`yaml @sample_*.yaml` blocks), so the documentation cannot drift from
// what the conformance kit checks.
func TestREADMESamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sample_sink.yaml", "sample_source.yaml"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		_, block, ok := strings.Cut(string(readme), "```yaml @"+name+"\n")
		if !ok {
			t.Errorf("README.md has no ```yaml @%s block", name)
			continue
		}
		block, _, _ = strings.Cut(block, "```")
		if block != string(want) {
			t.Errorf("README.md's @%s block differs from %s", name, name)
		}
	}
}
