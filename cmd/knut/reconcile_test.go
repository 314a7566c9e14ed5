package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestReconcileRules: knut reconcile rules prints the example's name and hash, and a bad
// file's problems with their lines.
func TestReconcileRules(t *testing.T) {
	t.Parallel()
	out, _, err := knut(t, "reconcile", "rules", "../../rulesets/demo.yaml")
	if err != nil || !strings.Contains(out, "Demo kommun hemtjänst 2026, version 1, from 2026-01-01\nhash ") ||
		!strings.Contains(out, "omvardnad 464.00 kr/h, service 382.00 kr/h; 10 insatser") {
		t.Errorf("knut reconcile rules = %v:\n%s", err, out)
	}
	bad := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("name: X\nvalid_from: 2026-01-01\nrates: {omvardnad: 464}\ninsatser:\n  STAD: {category: service}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := knut(t, "reconcile", "rules", bad); err == nil || !strings.Contains(err.Error(), bad+`:5: insatser.STAD.category: "service" is no category of rates`) {
		t.Errorf("knut reconcile rules of a bad file = %v", err)
	}
}

// TestReconcileMonth: visits imported through tes_visits, reconciled for their month from
// the CLI twice (the second run supersedes the first, which is kept), and the month's
// report written as CSV and HTML from the current lines.
func TestReconcileMonth(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cfg, dir := repoConfig(t, "reconciliation: {rule_set: "+filepath.Join(root, "rulesets", "demo.yaml")+"}")
	file, _ := demoVisits(t, dir, "visits.jsonl", 200)
	if _, stderr, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file); err != nil {
		t.Fatalf("knut import: %v\n%s", err, stderr)
	}
	visits, err := openStore(t, cfg).ListVisits(t.Context(), store.VisitFilter{Limit: 1})
	if err != nil || len(visits) == 0 {
		t.Fatalf("visits: %v", err)
	}
	month := report.MonthOf(visits[0].LocalDate).String()

	for _, args := range [][]string{
		{"reconcile", "--config", cfg},
		{"reconcile", "--config", cfg, "--month", month, "--from", "2026-10-01"},
		{"reconcile", "--config", cfg, "--from", "2026-10-05", "--to", "2026-10-01"},
		{"reconcile", "--config", cfg, "--month", "2026-13"},
		{"report", "month", "--config", cfg, "--month", "2020-01"},
	} {
		if _, _, err := knut(t, args...); err == nil {
			t.Errorf("knut %s: no error", strings.Join(args, " "))
		}
	}
	out, _, err := knut(t, "reconcile", "--config", cfg, "--month", month, "--read-only")
	if err != nil || !regexp.MustCompile(`read \S+ to \S+: \d+ days, [1-9]\d* visits, 0 lock events in [\d.]+ s, peak RSS \d+ MiB`).MatchString(out) {
		t.Errorf("knut reconcile --read-only = %v:\n%s", err, out)
	}
	var first string
	for i := range 2 {
		out, _, err := knut(t, "reconcile", "--config", cfg, "--month", month)
		m := regexp.MustCompile(`(?m)^run (\S+), \S+ to \S+ under Demo kommun hemtjänst 2026 \([0-9a-f]{12}\)\n.*[1-9]\d* visits.*NO_ORDER [1-9]`).FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("knut reconcile --month %s (%d) = %v:\n%s", month, i, err, out)
		}
		if i == 0 {
			first = m[1]
		}
	}
	out, _, err = knut(t, "reconcile", "runs", "--config", cfg, "--month", month)
	if err != nil || !strings.Contains(out, first) || !strings.Contains(out, "superseded by ") || strings.Count(out, " current ") != 1 {
		t.Errorf("knut reconcile runs = %v:\n%s", err, out)
	}
	html, csv := filepath.Join(dir, "month.html"), filepath.Join(dir, "basis.csv")
	if _, _, err := knut(t, "report", "month", "--config", cfg, "--month", month, "--html", html, "--csv", csv); err != nil {
		t.Fatalf("knut report month: %v", err)
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), "<svg") || strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("the HTML report (%v) is not a self-contained page with charts", err)
	}
	basis, err := os.ReadFile(csv)
	if err != nil || !strings.HasPrefix(string(basis), "provider,month,category,") {
		t.Errorf("the payment basis CSV (%v):\n%s", err, basis)
	}
}
