package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// BenchmarkOrderLatency is the order benchmark of the README: b.N new
// orders (Lifecare Bestallning XML, each with its own bestallningsId and
// handelseId, clients cycling over the official test personnummer, all for
// Omsorg Norr) pushed over HTTPS to the hub at KNUT_BENCH_RATE orders/s
// (default 200), open loop: each order leaves at its scheduled time whether
// or not earlier ones are answered. The hub runs as deployed: the durable
// SQLite store and the embedded bus, lifecare_orders → store → route
// → provider_omsorg_norr → map → the signed JSON webhook of the provider
// simulator, which acknowledges in its answer.
//
// Latency of one order = when the provider simulator received (and
// acknowledged) the delivery (providersim Delivery.At) minus when the case
// system started the POST: the HTTPS request, the hub's durable receipt
// (202), three hops over the bus, two pipeline commits (lazy: see
// store.Writer.DoLazy) and the webhook. Reported as p50/p95/p99/max in ms; accept_p50/p99 is the part
// until the hub answered 202. One op is one order, so -benchtime 12000x
// at 200/s is 60 s:
//
//	go test -run '^$' -bench OrderLatency -benchtime 12000x ./internal/server/
func BenchmarkOrderLatency(b *testing.B) {
	rate := benchRate(b)
	n := b.N
	h := startBenchHub(b, strconv.Itoa(n), nil)
	b.ResetTimer()
	e2e, accept, sendTime := h.orders(b, "BENCH", n, rate)
	b.StopTimer()
	h.noDeadLetters(b)
	reportLatency(b, e2e, accept)
	// The same hops with no hub logic, same bodies and rate: knut's
	// latency as a ratio to it travels between machines.
	bodies, _ := benchOrdersFrom(b, n, "BASE")
	base := baseline(b, h.dir, h.caPool, h.certFile, h.keyFile, bodies, rate)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(base, 50)), "base_p50_ms")
	b.ReportMetric(ms(pct(base, 99)), "base_p99_ms")
	b.ReportMetric(float64(pct(e2e, 50))/float64(pct(base, 50)), "x_base_p50")
	b.ReportMetric(float64(pct(e2e, 99))/float64(pct(base, 99)), "x_base_p99")
	b.ReportMetric(float64(h.retries.Load()), "retries_503")
	b.ReportMetric(float64(n)/sendTime.Seconds(), "orders/s")
	b.ReportMetric(0, "ns/op") // the wall time per op is the pacing, not a cost
}

// benchRate is KNUT_BENCH_RATE, orders per second, default 200.
func benchRate(b *testing.B) float64 {
	rate := 200.0
	if s := os.Getenv("KNUT_BENCH_RATE"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 {
			b.Fatalf("KNUT_BENCH_RATE=%q: want a positive number of orders per second", s)
		}
		rate = r
	}
	return rate
}

// benchHub is the hub as deployed for the benchmarks: HTTPS from a
// throwaway CA, the durable store, the order world's simulators and Omsorg
// Norr's webhook simulator, warmed up.
type benchHub struct {
	ctx    context.Context
	srv    *server.Server
	client *http.Client
	base   string
	norr   *providersim.Server
	// dir and the TLS files, for the baseline to use the same.
	dir, certFile, keyFile string
	caPool                 *x509.CertPool
	// retries counts the orders sent again after a 503 or a broken
	// connection.
	retries atomic.Int64
}

// startBenchHub starts the hub; run names its directory under
// KNUT_BENCH_DIR, and tune, if set, adjusts the config.
func startBenchHub(b *testing.B, run string, tune func(*config.Config)) *benchHub {
	b.Helper()
	dir := b.TempDir()
	// KNUT_BENCH_DIR keeps the store and bus for a look afterwards (the
	// attempts table has each step's time), in a directory per run.
	if d := os.Getenv("KNUT_BENCH_DIR"); d != "" {
		dir = filepath.Join(d, run)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			b.Fatal(err)
		}
	}
	caPool, certFile, keyFile := benchTLS(b, dir)
	cfg, err := config.Load("../../knut.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Environment = config.Test
	cfg.Store.DSN = filepath.Join(dir, "knut.db")
	// KNUT_BENCH_POSTGRES_DSN measures on PostgreSQL instead, in a fresh
	// database of that server (PGTEST_FSYNC=on bash .ci/pgtest.sh DIR
	// starts a durable one).
	if dsn := os.Getenv("KNUT_BENCH_POSTGRES_DSN"); dsn != "" {
		cfg.Store.DSN = storetest.FreshPostgres(b, dsn)
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.TLS.Cert, cfg.HTTP.TLS.Key = certFile, keyFile
	if tune != nil {
		tune(cfg)
	}
	world, secrets, err := demo.StartOrderWorld(filepath.Join(dir, "world"), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { world.Close() })
	// Omsorg Norr's webhook: a simulator of our own, with the demo's secret,
	// so its deliveries can be read here.
	secret, err := secrets.Resolve("env:KNUT_OMSORG_NORR_WEBHOOK_SECRET")
	if err != nil {
		b.Fatal(err)
	}
	norr, err := providersim.New(providersim.Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { norr.Close() })
	cfg.Vars["omsorg_norr_webhook_url"] = norr.URL()
	srv, err := server.New(b.Context(), cfg, server.Options{Logger: zap.NewNop(), Secrets: secrets})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
		srv.Close()
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		b.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("hub not ready after 10s")
	}
	h := &benchHub{ctx: ctx, srv: srv, norr: norr, base: "https://" + srv.Addr(),
		dir: dir, certFile: certFile, keyFile: keyFile, caPool: caPool,
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     time.Minute,
		}}}
	// A few warm-up orders (TLS session, prepared statements), not counted.
	warm, warmIDs := benchOrdersFrom(b, 5, "BENCHWARM")
	for _, body := range warm {
		if err := benchPost(ctx, h.client, h.base+"/ingest/lifecare_orders", body); err != nil {
			b.Fatalf("warm-up order: %v", err)
		}
	}
	if err := waitDeliveries(ctx, norr, warmIDs, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	return h
}

// orders pushes n new orders (ids from prefix) at rate per second, open
// loop: each leaves at its scheduled time whether or not earlier ones are
// answered. It waits for every delivery and returns each order's latency
// from the case system's POST to the provider's acknowledgement, the part
// until the hub's 202, and how long the sending took.
func (h *benchHub) orders(b *testing.B, prefix string, n int, rate float64) (e2e, accept []time.Duration, sendTime time.Duration) {
	order := benchOrderMaker(prefix)
	ids := make([]string, n)
	index := make(map[string]int, n)
	for i := range n {
		ids[i] = benchNewOrderID(prefix, i)
		index[ids[i]] = i
	}
	url := h.base + "/ingest/lifecare_orders"
	sent := make([]time.Time, n)
	accepted := make([]time.Time, n)
	var (
		mu     sync.Mutex
		failed []error
	)
	sendTime = paced(n, rate, func(i int) {
		body, err := order(i) // encoded now: the run holds no backlog of bodies
		if err != nil {
			mu.Lock()
			failed = append(failed, fmt.Errorf("order %s: %w", ids[i], err))
			mu.Unlock()
			return
		}
		sent[i] = time.Now()
		// As a case system does: after a 503 wait its Retry-After,
		// after a broken connection a second, and send again (at
		// most ten times); the latency includes the waits.
		err = benchPost(h.ctx, h.client, url, body)
		for try := 0; err != nil && try < 10 && h.ctx.Err() == nil; try++ {
			wait := time.Second
			var busy *busyError
			if errors.As(err, &busy) {
				wait = busy.retryAfter
			} else if _, status := errors.AsType[*statusError](err); status {
				break // the hub refused the order: not worth sending again
			}
			h.retries.Add(1)
			time.Sleep(wait)
			err = benchPost(h.ctx, h.client, url, body)
		}
		accepted[i] = time.Now()
		if err != nil {
			mu.Lock()
			failed = append(failed, fmt.Errorf("order %s: %w", ids[i], err))
			mu.Unlock()
		}
	})
	if len(failed) > 0 {
		b.Fatalf("%d of %d orders not accepted, first: %v", len(failed), n, failed[0])
	}
	if err := waitDeliveries(h.ctx, h.norr, ids, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	e2e = make([]time.Duration, n)
	accept = make([]time.Duration, n)
	seen := make([]bool, n)
	for _, d := range h.norr.Received() {
		i, ok := index[benchOrderID(d.Ack.OrderID, d.Body)]
		if !ok || seen[i] {
			continue
		}
		seen[i] = true
		e2e[i] = d.At.Sub(sent[i])
		accept[i] = accepted[i].Sub(sent[i])
	}
	slices.Sort(e2e)
	slices.Sort(accept)
	return e2e, accept, sendTime
}

// noDeadLetters fails the benchmark if the hub dead-lettered anything.
func (h *benchHub) noDeadLetters(b *testing.B) {
	dls, err := h.srv.Store().ListDeadLetters(h.ctx, store.DeadLetterFilter{})
	if err != nil {
		b.Fatal(err)
	}
	if len(dls) > 0 {
		b.Fatalf("%d dead letters, first in %s at %s: %s", len(dls), dls[0].Pipeline, dls[0].Step, dls[0].Reason)
	}
}

// reportLatency reports sorted order latencies as p50/p95/p99/max in ms.
func reportLatency(b *testing.B, e2e, accept []time.Duration) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(e2e, 50)), "p50_ms")
	b.ReportMetric(ms(pct(e2e, 95)), "p95_ms")
	b.ReportMetric(ms(pct(e2e, 99)), "p99_ms")
	b.ReportMetric(ms(e2e[len(e2e)-1]), "max_ms")
	b.ReportMetric(ms(pct(accept, 50)), "accept_p50_ms")
	b.ReportMetric(ms(pct(accept, 99)), "accept_p99_ms")
}

// pct is the p-th percentile (nearest rank) of sorted ds.
func pct(ds []time.Duration, p float64) time.Duration {
	k := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[max(0, min(k, len(ds)-1))]
}

func benchPost(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/xml")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode == http.StatusServiceUnavailable {
		s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &busyError{retryAfter: time.Duration(max(s, 1)) * time.Second}
	}
	if resp.StatusCode != http.StatusAccepted {
		return &statusError{resp.StatusCode, string(answer)}
	}
	return nil
}

// statusError is an answer other than 202 and 503.
type statusError struct {
	code   int
	answer string
}

func (e *statusError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.code, e.answer) }

// busyError is a 503 answer: send again after retryAfter.
type busyError struct{ retryAfter time.Duration }

func (e *busyError) Error() string { return fmt.Sprintf("hub busy, retry after %s", e.retryAfter) }

// benchOrders makes n new orders for Omsorg Norr, each with its own
// bestallningsId and handelseId, the clients cycling over the official
// test personnummer.
func benchOrders(b *testing.B, n int) (bodies [][]byte, ids []string) {
	return benchOrdersFrom(b, n, "BENCH")
}

func benchOrdersFrom(b *testing.B, n int, prefix string) (bodies [][]byte, ids []string) {
	b.Helper()
	order := benchOrderMaker(prefix)
	bodies, ids = make([][]byte, n), make([]string, n)
	for i := range n {
		body, err := order(i)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], ids[i] = body, benchNewOrderID(prefix, i)
	}
	return bodies, ids
}

// benchOrderMaker returns a function that encodes the i-th new order of
// prefix when asked, so a long run need not hold every body at once.
func benchOrderMaker(prefix string) func(i int) ([]byte, error) {
	clients := homecare.OfficialTestPersonIDs()
	decided := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	// One template per client from the case-system simulator's generator,
	// then renumbered: the generator's orders are realistic (insatser,
	// contacts, protected identities), the ids must be unique.
	templates := lifecaresim.Orders(1, clients, []string{"omsorg-norr"}, decided)
	var orders []lifecaresim.Order
	for _, m := range templates {
		if o, ok := m.(*lifecaresim.Bestallning); ok {
			orders = append(orders, o.Order)
		}
	}
	return func(i int) ([]byte, error) {
		o := orders[i%len(orders)]
		o.Head.ID = fmt.Sprintf("LC-EV-%s-%07d", prefix, i+1)
		o.Head.Time = decided.Add(time.Duration(i) * time.Second)
		o.ID = benchNewOrderID(prefix, i)
		o.DecisionID = fmt.Sprintf("BESL-%s-%07d", prefix, i+1)
		o.Provider = "omsorg-norr"
		return lifecaresim.Encode(&lifecaresim.Bestallning{Order: o})
	}
}

// benchNewOrderID is the bestallningsId of the i-th new order of prefix.
func benchNewOrderID(prefix string, i int) string { return fmt.Sprintf("%s-%07d", prefix, i+1) }

// benchOrderID is the order id of a delivery: the simulator's ack names
// it, else the JSON body does.
func benchOrderID(ackID string, body []byte) string {
	if ackID != "" {
		return ackID
	}
	var v struct {
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(body, &v)
	return v.OrderID
}

// waitDeliveries waits until Omsorg Norr has received every order in ids.
func waitDeliveries(ctx context.Context, norr *providersim.Server, ids []string, limit time.Duration) error {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(limit)
	for {
		got := 0
		for _, d := range norr.Received() {
			if want[benchOrderID(d.Ack.OrderID, d.Body)] {
				got++
			}
		}
		if got >= len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("provider received %d of %d orders after %s", got, len(ids), limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// benchTLS writes a throwaway CA and a server certificate for 127.0.0.1
// into dir, returning the pool that trusts the CA and the certificate and
// key files for cfg.HTTP.TLS.
func benchTLS(b *testing.B, dir string) (*x509.CertPool, string, string) {
	b.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Knutpunkt bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "knut.bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, certFile, keyFile
}
