package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// BenchmarkMemoryUnderLoad is the memory benchmark of the README (issue 7):
// for KNUT_BENCH_SECONDS (default 60) 50 clients post 9 MB JSON bodies to
// the TES pipeline as fast as the hub takes them (after a 503 a client
// waits its Retry-After and sends again), while orders arrive at 200/s
// (KNUT_BENCH_RATE) on the same hub. It reports the peak RSS of the process
// (VmHWM: the hub with the simulators and the clients, so the hub's own is
// lower), the big bodies accepted and refused, the orders' latency, and
// lost: messages the hub answered 202 for that are not processed or dead
// once it has settled. One run is the whole benchmark:
//
//	go test -run '^$' -bench MemoryUnderLoad -benchtime 1x ./internal/server/
func BenchmarkMemoryUnderLoad(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the benchmark: -benchtime 1x")
	}
	seconds := 60
	if s := os.Getenv("KNUT_BENCH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("KNUT_BENCH_SECONDS=%q: want a positive number", s)
		}
		seconds = n
	}
	rate := benchRate(b)
	h := startBenchHub(b, "memory", nil)
	before := peakRSS(b)
	big := bigVisit(9 << 20)
	// The senders of big bodies have connections of their own.
	bigClient := &http.Client{Timeout: 2 * time.Minute, Transport: h.client.Transport.(*http.Transport).Clone()}
	ctx, cancel := context.WithTimeout(h.ctx, time.Duration(seconds)*time.Second)
	defer cancel()

	var (
		mu       sync.Mutex
		accepted []string
		failures []error
		refused  atomic.Int64
		clients  sync.WaitGroup
	)
	for c := range 50 {
		clients.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				id, retryAfter, err := postBig(ctx, bigClient, h.base, big, fmt.Sprintf("BIG-%02d-%06d", c, n))
				mu.Lock()
				switch {
				case id != "":
					accepted = append(accepted, id)
				case retryAfter > 0:
					refused.Add(1)
				case err != nil && ctx.Err() == nil:
					failures = append(failures, err)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(retryAfter):
				}
			}
		})
	}
	b.ResetTimer()
	e2e, accept, _ := h.orders(b, "MEM", seconds*int(rate), rate)
	clients.Wait()
	b.StopTimer()
	if len(failures) > 0 {
		b.Fatalf("%d big posts failed other than busy, first: %v", len(failures), failures[0])
	}
	lost := settledLost(b, h, accepted)
	reportLatency(b, e2e, accept)
	b.ReportMetric(float64(h.retries.Load()), "order_retries_503")
	b.ReportMetric(float64(before)/(1<<20), "rss_before_MB")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak_rss_MB")
	b.ReportMetric(float64(len(accepted)), "big_accepted")
	b.ReportMetric(float64(refused.Load()), "big_refused_503")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(0, "ns/op")
	if lost > 0 {
		b.Errorf("%d accepted messages lost", lost)
	}
}

// bigVisit is a TES visit of about size bytes: one visit with a very long
// list of performed insatser, valid JSON that the hub must read whole.
func bigVisit(size int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"visitId":"TES-BIG","clientPnr":"194001042383","start":"2026-11-23 08:02:00","end":"2026-11-23 08:34:00",` +
		`"staffHsaId":"TSTNMT2321000156-1024","method":"NFC","status":"UTFORD","insatser":[`)
	item := `{"kod":"DUSCH","min":20}`
	for buf.Len() < size-len(item)-2 {
		buf.WriteString(item)
		buf.WriteByte(',')
	}
	buf.WriteString(item + `]}`)
	return buf.Bytes()
}

// postBig posts one big body; it returns the hub's id for it, or how long
// to wait after a 503.
func postBig(ctx context.Context, client *http.Client, base string, body []byte, externalID string) (id string, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ingest/tes_visits", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-External-Id", externalID)
	resp, err := client.Do(req)
	if err != nil {
		// A refused body is cut off mid-send (the hub answers busy and
		// closes): like a 503, send again after a second.
		return "", time.Second, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusAccepted:
		var a struct{ ID string }
		if err := json.Unmarshal(answer, &a); err != nil || a.ID == "" {
			return "", 0, fmt.Errorf("202 without an id: %s", answer)
		}
		return a.ID, 0, nil
	case http.StatusServiceUnavailable:
		s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return "", time.Duration(max(s, 1)) * time.Second, nil
	}
	return "", 0, fmt.Errorf("hub answered %d: %s", resp.StatusCode, answer)
}

// settledLost waits until the hub holds nothing as received and counts the
// accepted messages that are not processed or dead.
func settledLost(b *testing.B, h *benchHub, accepted []string) int {
	st := h.srv.Store()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		c, err := st.Counts(h.ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c[store.StatusReceived] == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("still %d received after 10 minutes", c[store.StatusReceived])
		}
		time.Sleep(100 * time.Millisecond)
	}
	lost := 0
	for _, id := range accepted {
		s, err := st.MessageStatus(h.ctx, id)
		if err != nil || (s != store.StatusProcessed && s != store.StatusDead) {
			lost++
		}
	}
	return lost
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatalf("peak RSS needs Linux's /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
