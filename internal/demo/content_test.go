package demo

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/config"
)

// TestEmbeddedConfig keeps the built-in demo's vars equal to those of the
// repository's knut.yaml, which a checkout runs.
func TestEmbeddedConfig(t *testing.T) {
	repo, err := config.Load(filepath.Join("..", "..", "knut.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range embeddedVars {
		if repo.Vars[k] != v {
			t.Errorf("built-in var %s = %q, knut.yaml has %q", k, v, repo.Vars[k])
		}
	}
	if !slices.Equal(repo.Orders.InferExecutionFromVisits, embeddedOrders.InferExecutionFromVisits) ||
		repo.Orders.ReceiptsPipeline != embeddedOrders.ReceiptsPipeline {
		t.Errorf("built-in orders %+v, knut.yaml has %+v", embeddedOrders, repo.Orders)
	}
	if !slices.Equal(repo.DisabledPipelines, embeddedDisabled) {
		t.Errorf("built-in disabled pipelines %v, knut.yaml has %v", embeddedDisabled, repo.DisabledPipelines)
	}
	if repo.Reconciliation != embeddedReconciliation {
		t.Errorf("built-in reconciliation %+v, knut.yaml has %+v", embeddedReconciliation, repo.Reconciliation)
	}
	if repo.Locks != embeddedLocks {
		t.Errorf("built-in locks %+v, knut.yaml has %+v", embeddedLocks, repo.Locks)
	}
	if repo.Visits != embeddedVisits {
		t.Errorf("built-in visits %+v, knut.yaml has %+v", embeddedVisits, repo.Visits)
	}
	cfg, err := writeEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	world, _, err := StartOrderWorld(t.TempDir(), cfg) // points the rest at the simulators
	if err != nil {
		t.Fatal(err)
	}
	defer world.Close()
	for k := range repo.Vars {
		if _, ok := cfg.Vars[k]; !ok {
			t.Errorf("knut.yaml's var %s is neither built in nor set by the demo's simulators", k)
		}
	}
}
