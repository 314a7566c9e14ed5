package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestDeadAndMessages imports one good and one broken visit and looks at
// them the way an operator does: knut dead list and show, knut messages
// show; personnummer stay masked in everything printed.
func TestDeadAndMessages(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	_, good := demoVisits(t, dir, "visits.jsonl", 1)
	var visit struct {
		ClientPnr string `json:"clientPnr"`
	}
	if err := json.Unmarshal([]byte(good[0]), &visit); err != nil || len(visit.ClientPnr) < 10 {
		t.Fatalf("demo visit has no clientPnr: %v %s", err, good[0])
	}
	// The broken one: a visit whose method is unknown, client and all.
	bad := strings.Replace(good[0], `"method":"`, `"method":"X`, 1)
	file := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(file, []byte(good[0]+"\n"+bad+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file)
	if err != nil || !strings.Contains(out, "stored=1 dead=1") {
		t.Fatalf("knut import: %v\n%s", err, out)
	}
	// Its warning says where the dead one is.
	if !strings.Contains(stderr, "dead letter") || !strings.Contains(stderr, "mixed.jsonl:2") || strings.Contains(stderr, visit.ClientPnr) {
		t.Errorf("knut import's warnings do not name mixed.jsonl:2 (or show the personnummer):\n%s", stderr)
	}
	_, ids := idsByStatus(t, cfg)
	dead, processed := ids[store.StatusDead], ids[store.StatusProcessed]
	if dead == "" || processed == "" {
		t.Fatalf("want a processed and a dead message, have %v", ids)
	}
	tomorrow := time.Now().Add(24 * time.Hour).Format("2006-01-02")

	tests := []struct {
		name    string
		args    []string
		want    []string // in stdout
		notWant []string
		wantErr string
	}{
		{name: "dead list", args: []string{"dead", "list"},
			want: []string{dead, "tes_visits", "steps[0].validate", "/method", "1 dead letters"}},
		{name: "dead list of a pipeline", args: []string{"dead", "list", "--pipeline", "tes_visits"}, want: []string{dead, "1 dead letters"}},
		{name: "dead list of another pipeline", args: []string{"dead", "list", "--pipeline", "lifecare_orders"}, want: []string{"0 dead letters"}, notWant: []string{dead}},
		{name: "dead list since an hour ago", args: []string{"dead", "list", "--since", "1h"}, want: []string{dead, "1 dead letters"}},
		{name: "dead list since tomorrow", args: []string{"dead", "list", "--since", tomorrow}, want: []string{"0 dead letters"}},
		{name: "dead list bad since", args: []string{"dead", "list", "--since", "last week"}, wantErr: `--since "last week": want RFC 3339`},
		{name: "dead show", args: []string{"dead", "show", "--body", dead},
			want:    []string{"message   " + dead, "step      steps[0].validate", "field     /method", "attempts (", "body (", visit.ClientPnr[:len(visit.ClientPnr)-4] + "****"},
			notWant: []string{visit.ClientPnr}},
		{name: "dead show of a processed message", args: []string{"dead", "show", processed}, wantErr: "is processed, not dead-lettered"},
		{name: "messages show", args: []string{"messages", "show", processed},
			want: []string{"message   " + processed, "status    processed", "attempts (", "trace (0 more"}, notWant: []string{visit.ClientPnr}},
		{name: "messages show unknown", args: []string{"messages", "show", "01a20000-0000-7000-8000-000000000000"}, wantErr: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := knut(t, append(tt.args, "--config", cfg)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("knut %v: error %v, want %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("knut %v: %v", tt.args, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("knut %v output lacks %q:\n%s", tt.args, w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("knut %v output has %q:\n%s", tt.args, w, out)
				}
			}
		})
	}
}
