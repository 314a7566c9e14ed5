package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestTry runs the repository's sample files and broken ones through
// pipelines with knut try: ok with the canonical output, dead with step,
// field and reason, exit 1 if any is dead, and nothing stored.
func TestTry(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	root := filepath.Join("..", "..")
	broken := filepath.Join(dir, "broken.jsonl")
	good, err := os.ReadFile(filepath.Join(root, "schemas/tes/testdata/valid/export_nfc.json"))
	if err != nil {
		t.Fatal(err)
	}
	goodLine := strings.Join(strings.Fields(strings.ReplaceAll(string(good), "\": ", "\":")), " ")
	badLine := strings.Replace(goodLine, `"method":"`, `"method":"X`, 1)
	if badLine == goodLine {
		t.Fatal("sample has no method to break")
	}
	if err := os.WriteFile(broken, []byte(goodLine+"\n\n"+badLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
		dead    bool
	}{
		{name: "a vendor's JSON sample", args: []string{"--pipeline", "tes_visits", filepath.Join(root, "schemas/tes/testdata/valid/export_nfc.json")},
			want: []string{"ok    export_nfc.json", "visit: {", `"external_id"`, "1 ok, 0 dead"}},
		{name: "XML samples", args: []string{"--pipeline", "tes_visits_xml", filepath.Join(root, "schemas/tes/testdata/valid/visit_full.xml"), filepath.Join(root, "schemas/tes/testdata/valid/visit_minimal_prefixed.xml")},
			want: []string{"ok    visit_full.xml", "ok    visit_minimal_prefixed.xml", "2 ok, 0 dead"}},
		{name: "JSON lines, one broken", args: []string{"--pipeline", "tes_visits", broken},
			want: []string{"ok    broken.jsonl:1", "dead  broken.jsonl:3  step steps[0].validate  field /method", "1 ok, 1 dead"}, dead: true},
		{name: "a sample through the wrong pipeline", args: []string{"--pipeline", "tes_visits_xml", filepath.Join(root, "schemas/tes/testdata/valid/export_nfc.json")},
			want: []string{"dead  export_nfc.json  step steps[0].validate", "0 ok, 1 dead"}, dead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := knut(t, append([]string{"try", "--config", cfg}, tt.args...)...)
			if tt.dead != (err != nil) {
				t.Errorf("knut try: error %v, want one: %v\n%s", err, tt.dead, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
	if _, _, err := knut(t, "try", "--config", cfg, "--pipeline", "no_such_pipeline", broken); err == nil || !strings.Contains(err.Error(), "no_such_pipeline") {
		t.Errorf("unknown pipeline: error %v, want it named", err)
	}
	st := openStore(t, cfg)
	if c, err := st.Counts(t.Context()); err != nil || c[store.StatusReceived]+c[store.StatusProcessed]+c[store.StatusDead] != 0 {
		t.Errorf("store after knut try: %v %v, want nothing stored", c, err)
	}
}
