package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the baseline's store is the hub's SQLite
)

// baseline runs the order benchmark's hops with no hub logic, on the same
// machine in the same run, so knut's latency can be read as a ratio that
// travels between machines: an HTTPS POST whose handler makes one fsync'ed
// insert and answers 202, then POSTs the body to a webhook, whose answer is
// recorded with one fsync'ed update. n bodies at rate per second, open
// loop, as BenchmarkOrderLatency sends them. It returns the sorted
// latencies from the start of each POST to the webhook's receipt.
func baseline(b *testing.B, dir string, caPool *x509.CertPool, certFile, keyFile string, bodies [][]byte, rate float64) []time.Duration {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "baseline.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one writer, as the hub's store has
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS msgs (id INTEGER PRIMARY KEY, body BLOB, delivered INTEGER)`); err != nil {
		b.Fatal(err)
	}
	n := len(bodies)
	got := make([]time.Time, n)
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscan(r.Header.Get("X-Index"), &i)
		io.Copy(io.Discard, r.Body)
		got[i] = time.Now()
		w.WriteHeader(http.StatusOK)
	}))
	defer webhook.Close()
	hookClient := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	var deliveries sync.WaitGroup
	hub := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var i int
		fmt.Sscan(r.Header.Get("X-Index"), &i)
		if _, err := db.Exec(`INSERT INTO msgs (id, body, delivered) VALUES (?, ?, 0)`, i, body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		deliveries.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, webhook.URL, bytes.NewReader(body))
			req.Header.Set("X-Index", fmt.Sprint(i))
			resp, err := hookClient.Do(req)
			if err != nil {
				b.Errorf("baseline webhook: %v", err)
				return
			}
			resp.Body.Close()
			if _, err := db.Exec(`UPDATE msgs SET delivered = 1 WHERE id = ?`, i); err != nil {
				b.Errorf("baseline update: %v", err)
			}
		})
	})}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		b.Fatal(err)
	}
	go hub.Serve(ln)
	defer hub.Close()
	url := "https://" + ln.Addr().(*net.TCPAddr).String() + "/"
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 256,
	}}
	sent := make([]time.Time, n)
	paced(n, rate, func(i int) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(bodies[i]))
		req.Header.Set("X-Index", fmt.Sprint(i))
		sent[i] = time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Errorf("baseline post: %v", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	deliveries.Wait()
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = got[i].Sub(sent[i])
	}
	slices.Sort(lat)
	return lat
}

// paced calls send(i) for i in [0, n) at rate per second, each on a
// goroutine of its own, open loop: each call starts at its scheduled time
// whether or not earlier ones have returned. It returns when all have.
func paced(n int, rate float64, send func(i int)) time.Duration {
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() { send(i) })
	}
	wg.Wait()
	return time.Since(start)
}
