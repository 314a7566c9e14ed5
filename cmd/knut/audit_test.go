package main

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestAuditCommands: reading a message through the CLI leaves a record
// naming the OS user and the purpose; knut audit list prints the log list
// (and is itself recorded); knut audit verify says the chain is intact.
func TestAuditCommands(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	file, _ := demoVisits(t, dir, "visits.jsonl", 1)
	if out, _, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file); err != nil {
		t.Fatalf("knut import: %v\n%s", err, out)
	}
	_, ids := idsByStatus(t, cfg)
	id := ids[store.StatusProcessed]
	if id == "" {
		t.Fatalf("no processed message: %v", ids)
	}
	if _, _, err := knut(t, "messages", "show", "--config", cfg, "--purpose", "felsökning", id); err != nil {
		t.Fatalf("knut messages show: %v", err)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"audit", "list"}, []string{operator(), "message.show", "message:" + id, "felsökning", "1 records"}},
		{[]string{"audit", "list", "--csv"}, []string{"seq,at,actor,action,outcome,resource,client,purpose,detail", "message.show", "audit.list"}},
		{[]string{"audit", "list", "--staff", "SE2321000016-NONE"}, []string{"0 records"}},
		{[]string{"audit", "verify"}, []string{"4 records", "intact"}},
	}
	for _, tt := range tests {
		out, _, err := knut(t, append(tt.args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("knut %s: %v\n%s", strings.Join(tt.args, " "), err, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("knut %s: output lacks %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
	}
	if _, _, err := knut(t, "audit", "list", "--config", cfg, "--client", "not-a-number"); err == nil {
		t.Error("knut audit list --client with no personnummer succeeded")
	}
}
