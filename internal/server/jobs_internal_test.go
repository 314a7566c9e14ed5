package server

import (
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
