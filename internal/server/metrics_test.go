package server

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLatency checks the per-pipeline latency from receipt to finish on an
// injected clock: each finished message is observed once, with its own
// time; one whose receipt this process did not see is not, and nothing is
// left behind.
func TestLatency(t *testing.T) {
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	l := newLatency(reg, func() time.Time { return now })
	l.received("a")
	l.received("b")
	now = now.Add(3 * time.Millisecond)
	l.finished("tes_visits", "a")
	now = now.Add(2 * time.Second)
	l.finished("tes_visits", "b")
	l.finished("tes_visits", "received-before-start")
	l.finished("tes_visits", "a") // finished twice: only the first counts

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || len(fams[0].Metric) != 1 {
		t.Fatalf("metrics %v, want one histogram for tes_visits", fams)
	}
	h := fams[0].Metric[0].Histogram
	if got, want := h.GetSampleCount(), uint64(2); got != want {
		t.Errorf("%d observations, want %d", got, want)
	}
	if got, want := h.GetSampleSum(), 0.003+2.003; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("sum %v s, want %v s", got, want)
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		switch {
		case b.GetUpperBound() >= 2.003:
			want = 2
		case b.GetUpperBound() >= 0.003:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v has %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if len(l.since) != 0 {
		t.Errorf("%d receipt times left after every message finished", len(l.since))
	}
}
