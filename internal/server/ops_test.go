package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt/internal/demo"
)

// TestOperations checks the endpoints operators point their tools at:
// liveness, readiness (store and adapters) and Prometheus metrics that count
// what the pipelines did.
func TestOperations(t *testing.T) {
	// Only the TES pipeline: /readyz probes every adapter, and the order
	// pipelines' providers and case system are not running here.
	cfg := repoConfig(t, "")
	tes, err := os.ReadFile("../../pipelines/tes_visits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipelines = writePipelines(t, map[string]string{"tes_visits": string(tes)})
	srv := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	base := "http://" + srv.Addr()
	seq := 0
	v := demo.NewMunicipality(1).Visits(time.Date(2026, 11, 20, 0, 0, 0, 0, demo.Stockholm()), 1, &seq)[0]
	body, _ := json.Marshal(v)
	post(t, base+"/ingest/tes_visits", v.VisitID, body)
	post(t, base+"/ingest/tes_visits", v.VisitID, body)
	settle(t, srv.Store(), 1)

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path     string
		wantCode int
		want     []string
	}{
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready"}},
		{"/metrics", 200, []string{
			`knut_messages_received_total{pipeline="tes_visits"} 1`,
			`knut_messages_duplicate_total{pipeline="tes_visits"} 1`,
			`knut_messages_processed_total{pipeline="tes_visits"} 1`,
			// the latency of the one message, from receipt to processed
			`knut_message_processing_seconds_count{pipeline="tes_visits"} 1`,
			`knut_message_processing_seconds_bucket{pipeline="tes_visits",le="+Inf"} 1`,
			// the Go runtime and the process
			"\ngo_goroutines ", "\ngo_memstats_heap_inuse_bytes ", "\nprocess_resident_memory_bytes ", "\nprocess_open_fds ",
		}},
		{"/ingest/nope", 405, nil},
	}
	// The message is processed in the store before messageLog.Commit returns and counts
	// it: wait for the count (the store saw it already, so it comes at once).
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, body := get("/metrics")
		if strings.Contains(body, `knut_messages_processed_total{pipeline="tes_visits"} 1`) || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := get(tt.path)
			if code != tt.wantCode {
				t.Fatalf("GET %s = %d, want %d: %s", tt.path, code, tt.wantCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s does not contain %q", tt.path, w)
				}
			}
		})
	}
	if code, body := post(t, base+"/ingest/nope", "x", []byte(`{}`)); code != http.StatusNotFound || !strings.Contains(body, "no pipeline receives on this /ingest path") {
		t.Errorf("POST to an unknown ingest path = %d %s, want 404 naming it", code, body)
	}
}
