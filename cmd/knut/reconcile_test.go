package main

import (
	"os"
	"strings"
	"testing"
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
