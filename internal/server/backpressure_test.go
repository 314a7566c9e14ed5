package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// A full hub answers 503 with Retry-After before it reads a body, counts
// the refusal in /metrics, and takes the message once there is room.
func TestIngestBusyWhenFull(t *testing.T) {
	broker := memory.NewBroker()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	broker.SetSendFault(func(context.Context, string, knutpunkt.Message) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	cfg := stopConfig(t)
	cfg.Bus.MaxInFlight = 1 << 10
	h := runStopHub(t, cfg, broker, &closeSpy{})
	url := "http://" + h.srv.Addr()
	big := []byte(`{"pad":"` + strings.Repeat("x", 600) + `"}`)
	if code, answer := postAs(t, url+"/ingest/relay", jsonCT, "B-1", big); code != http.StatusAccepted {
		t.Fatalf("first POST = %d %s, want 202", code, answer)
	}
	<-entered // its delivery holds 600 bytes of the 1 KiB

	// The body is never read: the answer comes though the client has sent
	// only the headers and would block writing the rest.
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/ingest/relay", pr)
	req.ContentLength = int64(len(big))
	req.Header.Set("Content-Type", jsonCT)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !bytes.Contains(answer, []byte("as much in flight")) {
		t.Errorf("POST while full = %d %s (Retry-After %q), want 503 busy with Retry-After", resp.StatusCode, answer, resp.Header.Get("Retry-After"))
	}

	close(release)
	if c := settle(t, h.srv.Store(), 2); c[store.StatusDead] != 0 {
		t.Errorf("counts = %v", c)
	}
	if code, answer := postAs(t, url+"/ingest/relay", jsonCT, "B-2", big); code != http.StatusAccepted {
		t.Errorf("POST with room = %d %s, want 202", code, answer)
	}
	m, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(m.Body)
	m.Body.Close()
	for _, want := range []string{"\nknut_ingest_busy_total 1\n", "\nknut_in_flight_bytes "} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics has no %q", strings.TrimSpace(want))
		}
	}
}
