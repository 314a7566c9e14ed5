package server_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	adhttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The stop tests run a hub whose one pipeline relays HTTP posts to a
// memory vendor that a test can hold: the delivery is what is in flight
// when the hub is told to stop.
const stopRelay = `
from:
  http: {source_system: tes}
to:
  memory: {topic: vendor.out}
`

// closeSpy is a sink that notes whether the store still answered when the
// hub closed it: sinks close before the store.
type closeSpy struct {
	adapters.Sink
	st          *store.Store
	storeOpenAt atomic.Int32 // 1: open when the sink closed; 2: closed
}

func (c *closeSpy) Close() error {
	if _, err := c.st.Counts(context.Background()); err != nil {
		c.storeOpenAt.Store(2)
	} else {
		c.storeOpenAt.Store(1)
	}
	return nil
}

// stopHub is a hub under test with its own Run, which the test stops.
type stopHub struct {
	srv      *server.Server
	stop     context.CancelFunc
	done     chan error
	logs     *observer.ObservedLogs
	stopping chan struct{} // closed when the hub logs that it is stopping
}

func runStopHub(t *testing.T, cfg *config.Config, broker *memory.Broker, spy *closeSpy) *stopHub {
	t.Helper()
	reg := &adapters.Registry{}
	reg.RegisterSource(adhttp.SourceDef)
	reg.RegisterSink(adhttp.SinkDef)
	sink := memory.SinkDef(broker)
	open := sink.Open
	sink.Open = func(c adapters.Config, env adapters.Env) (adapters.Sink, error) {
		s, err := open(c, env)
		spy.Sink = s
		return spy, err
	}
	reg.RegisterSource(memory.SourceDef(broker))
	reg.RegisterSink(sink)
	h := &stopHub{done: make(chan error, 1), stopping: make(chan struct{})}
	core, logs := observer.New(zapcore.InfoLevel)
	h.logs = logs
	var once atomic.Bool
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "stopping: new messages are refused; draining those in flight" && once.CompareAndSwap(false, true) {
			close(h.stopping)
		}
		return nil
	}))
	srv, err := server.New(t.Context(), cfg, server.Options{Registry: reg, Logger: log, Secrets: demo.Secrets(nil)})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	spy.st = srv.Store()
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); srv.Close() })
	select {
	case <-srv.Ready():
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	}
	return h
}

// stoppedLine is the one line a stop logs, as a map of its fields.
func (h *stopHub) stoppedLine(t *testing.T) map[string]any {
	t.Helper()
	lines := h.logs.FilterMessage("knut stopped: sinks, bus and store closed").All()
	if len(lines) != 1 {
		t.Fatalf("got %d stop lines, want 1", len(lines))
	}
	return lines[0].ContextMap()
}

func stopConfig(t *testing.T) *config.Config {
	cfg := repoConfig(t, "")
	cfg.Pipelines = writePipelines(t, map[string]string{"relay": stopRelay})
	return cfg
}

func TestStopAnswers503DrainsThenCloses(t *testing.T) {
	broker := memory.NewBroker()
	entered, release := make(chan struct{}), make(chan struct{})
	broker.SetSendFault(func(context.Context, string, knutpunkt.Message) error {
		close(entered)
		<-release
		return nil
	})
	spy := &closeSpy{}
	h := runStopHub(t, stopConfig(t), broker, spy)
	url := "http://" + h.srv.Addr()
	if code, answer := postAs(t, url+"/ingest/relay", jsonCT, "R-1", []byte(`{"n":1}`)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, answer)
	}
	<-entered
	h.stop()
	<-h.stopping

	resp, err := http.Post(url+"/ingest/relay", jsonCT, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST while stopping = %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, err := http.Get(url + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while stopping = %v %v, want 503", resp.StatusCode, err)
	}
	select {
	case err := <-h.done:
		t.Fatalf("Run returned %v with a delivery in flight", err)
	default:
	}

	close(release)
	if err := <-h.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The delivery was drained; the input it came from may have been
	// finishing too when the stop began.
	line := h.stoppedLine(t)
	if d, _ := line["drained"].(int64); d < 1 || d > 2 || line["left_for_next_start"] != int64(0) || line["drain_timed_out"] != false {
		t.Errorf("stop line = %v, want drained 1 or 2, left 0, not timed out", line)
	}
	if got := broker.Drain("vendor.out"); len(got) != 1 {
		t.Errorf("vendor got %d messages, want 1", len(got))
	}
	if spy.storeOpenAt.Load() != 1 {
		t.Errorf("the sink closed after the store (state %d), want sinks first", spy.storeOpenAt.Load())
	}
	if _, err := h.srv.Store().Counts(context.Background()); err == nil {
		t.Error("the store still answers after Run returned, want it closed")
	}
}

// What outlasts shutdown_timeout stays received in the log, and the next
// start delivers it: nothing is lost and nothing is dead-lettered.
func TestStopLeavesForTheNextStart(t *testing.T) {
	broker := memory.NewBroker()
	entered := make(chan struct{}, 1)
	broker.SetSendFault(func(ctx context.Context, _ string, _ knutpunkt.Message) error {
		entered <- struct{}{}
		<-ctx.Done() // the vendor hangs
		return ctx.Err()
	})
	cfg := stopConfig(t)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	h := runStopHub(t, cfg, broker, &closeSpy{})
	if code, answer := postAs(t, "http://"+h.srv.Addr()+"/ingest/relay", jsonCT, "R-2", []byte(`{"n":2}`)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, answer)
	}
	<-entered
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	line := h.stoppedLine(t)
	if d, _ := line["drained"].(int64); d > 1 || line["left_for_next_start"] != int64(1) || line["drain_timed_out"] != true {
		t.Errorf("stop line = %v, want left 1 (the delivery), timed out", line)
	}

	broker.SetSendFault(nil)
	h2 := runStopHub(t, cfg, broker, &closeSpy{})
	c := settle(t, h2.srv.Store(), 2)
	if c[store.StatusDead] != 0 {
		t.Errorf("counts after restart = %v, want nothing dead", c)
	}
	if got := broker.Drain("vendor.out"); len(got) != 1 {
		t.Errorf("vendor got %d messages after restart, want 1", len(got))
	}
	h2.stop()
	if err := <-h2.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}
