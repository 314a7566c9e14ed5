package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// TestCheckOrders: an inferred execution handed to a pipeline that does not exist would
// fail every night; the check names it (production then does not start).
func TestCheckOrders(t *testing.T) {
	cfg := config.Default(t.TempDir())
	plans := []*pipeline.Plan{{Name: "lifecare_receipts"}}
	for _, tt := range []struct {
		pipeline string
		wantErr  string
	}{
		{"", ""},
		{"lifecare_receipts", ""},
		{"lifecare_kvitton", `orders.receipts_pipeline: no pipeline "lifecare_kvitton" in ` + filepath.Join(cfg.Path(cfg.Pipelines))},
	} {
		cfg.Orders.ReceiptsPipeline = tt.pipeline
		err := checkOrders(cfg, plans)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkOrders(%q) = %v, want %q", tt.pipeline, err, tt.wantErr)
		}
	}
}

// TestCheckReconciliation: the payment basis handed to a pipeline that does not exist, or
// a rule set that does not read, would fail the nightly jobs; the check names them.
func TestCheckReconciliation(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("name: X\nvalid_from: 2026-01-01\nrates: {omvardnad: 464}\ninsatser: {DUSCH: {category: omvardnad}}\nmin_visit_minutes: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plans := []*pipeline.Plan{{Name: "lifecare_payment_basis"}}
	for _, tt := range []struct {
		ruleSet, pipeline string
		wantErr           string
	}{
		{"", "", ""},
		{"../../rulesets/demo.yaml", "lifecare_payment_basis", ""},
		{"../../rulesets/demo.yaml", "lifecare_manad", `reconciliation.report_pipeline: no pipeline "lifecare_manad"`},
		{broken, "", "reconciliation.rule_set: " + broken + ":5: min_visit_minutes"},
		{filepath.Join(dir, "none.yaml"), "", "reconciliation.rule_set: rule set: open"},
	} {
		cfg := config.Default(".")
		cfg.Reconciliation.RuleSet, cfg.Reconciliation.ReportPipeline = tt.ruleSet, tt.pipeline
		err := checkOrders(cfg, plans)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkOrders(%q, %q) = %v, want %q", tt.ruleSet, tt.pipeline, err, tt.wantErr)
		}
	}
}
