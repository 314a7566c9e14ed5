package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// BenchmarkMemoryUnderLoad is the memory benchmark of the README (issue 7):
// for KNUT_BENCH_SECONDS (default 60) 50 clients post 9 MB JSON bodies to
// the TES pipeline as fast as the hub takes them (after a 503 a client
// waits its Retry-After and sends again), while orders arrive at 200/s
// (KNUT_BENCH_RATE) on the same hub. The 50 clients run in a process of
// their own (TestBigBodySenders). It reports the peak RSS of the hub's
// process (VmHWM: the hub with the simulators and the order sender), the
// big bodies accepted and refused, the orders' latency, and
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
	// The senders of big bodies run in a process of their own, so the peak
	// RSS is the hub's (with the simulators and the order sender).
	out := filepath.Join(b.TempDir(), "senders.json")
	senders := exec.CommandContext(h.ctx, os.Args[0], "-test.run=^TestBigBodySenders$")
	senders.Env = append(os.Environ(), "KNUT_BENCH_SENDERS_URL="+h.base, "KNUT_BENCH_SENDERS_CA="+filepath.Join(h.dir, "ca.pem"),
		"KNUT_BENCH_SENDERS_OUT="+out, "KNUT_BENCH_SECONDS="+strconv.Itoa(seconds))
	senders.Stderr = os.Stderr
	if err := senders.Start(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	e2e, accept, _ := h.orders(b, "MEM", seconds*int(rate), rate)
	if err := senders.Wait(); err != nil {
		b.Fatalf("the big-body senders: %v", err)
	}
	b.StopTimer()
	var sent sendersReport
	if data, err := os.ReadFile(out); err != nil || json.Unmarshal(data, &sent) != nil {
		b.Fatalf("the big-body senders' report: %v", err)
	}
	if len(sent.Failures) > 0 {
		b.Fatalf("%d big posts failed other than busy, first: %s", len(sent.Failures), sent.Failures[0])
	}
	accepted := sent.Accepted
	lost := settledLost(b, h, accepted)
	reportLatency(b, e2e, accept)
	b.ReportMetric(float64(h.retries.Load()), "order_retries_503")
	b.ReportMetric(float64(before)/(1<<20), "rss_before_MB")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak_rss_MB")
	b.ReportMetric(float64(len(accepted)), "big_accepted")
	b.ReportMetric(float64(sent.Refused), "big_refused_503")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(0, "ns/op")
	if lost > 0 {
		b.Errorf("%d accepted messages lost", lost)
	}
}

// sendersReport is what TestBigBodySenders reports to the benchmark.
type sendersReport struct {
	Accepted []string
	Refused  int64
	Failures []string
}

// TestBigBodySenders is BenchmarkMemoryUnderLoad's load, run by the
// benchmark in a process of its own: 50 clients post 9 MB bodies to
// KNUT_BENCH_SENDERS_URL for KNUT_BENCH_SECONDS, each waiting out a 503's
// Retry-After, and it writes what the hub answered to
// KNUT_BENCH_SENDERS_OUT. Run on its own it has nothing to do.
func TestBigBodySenders(t *testing.T) {
	base := os.Getenv("KNUT_BENCH_SENDERS_URL")
	if base == "" {
		t.Skip("the load of BenchmarkMemoryUnderLoad, which starts it in a process of its own")
	}
	seconds, _ := strconv.Atoi(os.Getenv("KNUT_BENCH_SECONDS"))
	caPEM, err := os.ReadFile(os.Getenv("KNUT_BENCH_SENDERS_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64}}
	big := bigVisit(9 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(seconds, 1))*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		rep     sendersReport
		clients sync.WaitGroup
	)
	for c := range 50 {
		clients.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				id, retryAfter, err := postBig(ctx, client, base, big, fmt.Sprintf("BIG-%02d-%06d", c, n))
				mu.Lock()
				switch {
				case id != "":
					rep.Accepted = append(rep.Accepted, id)
				case retryAfter > 0:
					rep.Refused++
				case err != nil && ctx.Err() == nil:
					rep.Failures = append(rep.Failures, err.Error())
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(retryAfter):
				}
			}
		})
	}
	clients.Wait()
	data, _ := json.Marshal(rep)
	if err := os.WriteFile(os.Getenv("KNUT_BENCH_SENDERS_OUT"), data, 0o600); err != nil {
		t.Fatal(err)
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
