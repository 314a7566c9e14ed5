package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVisitsShow: a visit imported, then sent again changed (a supervisor's correction):
// knut visits show prints it as it stands and the correction — field, old, new — with the
// personnummer masked, and the read is audited.
func TestVisitsShow(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	_, lines := demoVisits(t, dir, "visits.jsonl", 1)
	var visit map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &visit); err != nil {
		t.Fatal(err)
	}
	pnr := strings.ReplaceAll(visit["clientPnr"].(string), "-", "")
	visit["offline"] = !visit["offline"].(bool)
	changed, _ := json.Marshal(visit)
	second := filepath.Join(dir, "corrected.jsonl")
	if err := os.WriteFile(second, append(changed, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(dir, "visits.jsonl"), second} {
		if out, _, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", f); err != nil || !strings.Contains(out, "stored=1") {
			t.Fatalf("knut import %s: %v\n%s", f, err, out)
		}
	}
	id := visit["visitId"].(string)
	out, _, err := knut(t, "visits", "show", id, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"visit     tes/" + id, "1 corrections", "#1", "by tes", "recorded_offline: "} {
		if !strings.Contains(out, want) {
			t.Errorf("knut visits show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, pnr) {
		t.Errorf("knut visits show prints the personnummer:\n%s", out)
	}
	if _, _, err := knut(t, "visits", "show", "TES-NOPE", "--config", cfg); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("knut visits show of an unknown visit = %v, want not found", err)
	}
	if out, _, _ := knut(t, "audit", "list", "--config", cfg); !strings.Contains(out, "visit.show") {
		t.Errorf("audit list has no visit.show:\n%s", out)
	}
}
