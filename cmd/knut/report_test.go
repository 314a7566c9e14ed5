package main

import (
	"strings"
	"testing"
)

// TestReportAccessSign: the review runs on any store and is audited; a sign-off needs a
// provider and a valid HSA-ID and is itself a record of the audit trail.
func TestReportAccessSign(t *testing.T) {
	t.Parallel()
	cfg, _ := repoConfig(t)
	if out, _, err := knut(t, "report", "access", "--quarter", "2026Q4", "--config", cfg); err != nil {
		t.Fatalf("knut report access: %v\n%s", err, out)
	}
	if out, _, err := knut(t, "report", "access", "--quarter", "2026Q4", "--csv", "--config", cfg); err != nil || !strings.HasPrefix(out, "quarter,provider,directory,hsa_ids") {
		t.Fatalf("knut report access --csv: %v\n%s", err, out)
	}
	for _, bad := range [][]string{{"--provider", "omsorg-norr", "--by", "Anna"}, {"--by", "SE2321000016-CHEF"}} {
		args := append([]string{"report", "access", "sign", "--quarter", "2026Q4", "--config", cfg}, bad...)
		if _, _, err := knut(t, args...); err == nil {
			t.Errorf("knut %v: no error", bad)
		}
	}
	out, _, err := knut(t, "report", "access", "sign", "--quarter", "2026Q4", "--provider", "omsorg-norr", "--by", "SE2321000016-CHEF", "--config", cfg)
	if err != nil || !strings.Contains(out, "omsorg-norr's access review 2026Q4 signed off by SE2321000016-CHEF") {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	audit, _, _ := knut(t, "audit", "list", "--config", cfg)
	for _, want := range []string{"report.access.sign", "access_review:2026Q4:omsorg-norr", "hsa:SE2321000016-CHEF", "report.access"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit list lacks %q:\n%s", want, audit)
		}
	}
}
