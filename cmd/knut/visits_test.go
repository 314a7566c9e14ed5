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

// TestTagsAndReview: a visit imported with its client's tag, then the register: before
// the tag is registered the review flags it unknown_tag; registered at another client's
// door, foreign_tag; moved to the right door, nothing. The register prints masked, and
// registering is audited.
func TestTagsAndReview(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	_, lines := demoVisits(t, dir, "visits.jsonl", 1)
	var visit map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &visit); err != nil {
		t.Fatal(err)
	}
	if out, _, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", filepath.Join(dir, "visits.jsonl")); err != nil || !strings.Contains(out, "stored=1") {
		t.Fatalf("knut import: %v\n%s", err, out)
	}
	id, tag, pnr := visit["visitId"].(string), visit["tagUid"].(string), strings.ReplaceAll(visit["clientPnr"].(string), "-", "")
	day := strings.Fields(visit["start"].(string))[0]
	flags := func() string {
		t.Helper()
		out, _, err := knut(t, "visits", "show", id, "--config", cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "flags") {
				return strings.TrimSpace(strings.TrimPrefix(line, "flags"))
			}
		}
		return ""
	}
	review := func(want string) {
		t.Helper()
		out, _, err := knut(t, "visits", "review", "--from", day, "--config", cfg)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("knut visits review: %v\n%s\nwant %q", err, out, want)
		}
	}
	review("1 visits reviewed, 1 flagged or cleared; now 0 foreign_tag, 1 unknown_tag")
	if got := flags(); !strings.Contains(got, "unknown_tag") {
		t.Errorf("flags %q, want unknown_tag", got)
	}
	const other = "19400104-2383" // Skatteverket test number, another client
	if pnr == "194001042383" {
		t.Fatal("the demo's first client is the other client of this test")
	}
	if _, _, err := knut(t, "tags", "register", tag, "--client", other, "--from", "2025-06-01", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	review("now 1 foreign_tag, 0 unknown_tag")
	if _, _, err := knut(t, "tags", "register", tag, "--client", pnr, "--from", day, "--config", cfg); err == nil || !strings.Contains(err.Error(), "another client's door") {
		t.Errorf("a tag at two doors: %v", err)
	}
	if _, _, err := knut(t, "tags", "remove", tag, "--on", day, "--config", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := knut(t, "tags", "register", tag, "--client", pnr, "--from", day, "--location", "inside the door frame", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	review("1 flagged or cleared; now 0 foreign_tag, 0 unknown_tag")
	if got := flags(); strings.Contains(got, "tag") {
		t.Errorf("flags %q, want no tag flag", got)
	}
	out, _, err := knut(t, "tags", "list", "--config", cfg)
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, "inside the door frame") || strings.Contains(out, pnr) {
		t.Errorf("knut tags list: %v\n%s", err, out)
	}
	if out, _, _ := knut(t, "audit", "list", "--config", cfg); strings.Count(out, "tag.register") != 2 || !strings.Contains(out, "tag.remove") {
		t.Errorf("audit list lacks the tag changes:\n%s", out)
	}
}
