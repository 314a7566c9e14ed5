package nuki_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/nuki"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

// The test token and the reference configs use for it.
const (
	token    = "nuki-test-token-7c1f0e"
	tokenRef = adapters.Secret("env:KNUT_NUKI_TEST_TOKEN")
)

// Test identities: HSA-IDs of HSA's test environment.
const (
	anna   = "TSTNMT2321000156-P00001"
	bertil = "TSTNMT2321000156-P00002"
)

// shared finds a file under ../shared (the repository root's sibling):
// the tests skip without it, and fail when CI is set.
func shared(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("../../../shared", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set, so this is an error): %v", p, err)
		}
		t.Skipf("%s not found (../shared is not checked out here); set CI to make this fatal", p)
	}
	return p
}

// clock is a fake clock the simulator runs by.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// monday0800 is a Monday, 08:00 in Stockholm (UTC+1 in December).
var monday0800 = time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)

// startSim starts a simulator with locks 1001 and 1002 that stops when t
// ends.
func startSim(t testing.TB, opts nukisim.Options) *nukisim.Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = token
	}
	sim, err := nukisim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.AddLock(1001, "Storgatan 1")
	sim.AddLock(1002, "Lillgatan 2")
	return sim
}

func secrets() adapters.MapSecrets { return adapters.MapSecrets{tokenRef: token} }

// sinkYAML points a sink at sim; extra YAML lines replace the keys they
// name.
func sinkYAML(sim *nukisim.Server, extra string) []byte {
	return withLines(extra, "base_url: "+sim.URL, "token: "+string(tokenRef), "timeout: 5s", "create_timeout: 2s",
		"create_poll: 5ms", "user_email_domain: nyckel.kommun.example")
}

// sourceYAML points a source at sim; extra YAML lines replace the keys
// they name.
func sourceYAML(sim *nukisim.Server, read, extra string) []byte {
	return withLines(extra, "base_url: "+sim.URL, "token: "+string(tokenRef), "timeout: 5s", "read: "+read, "poll_interval: 20ms")
}

func withLines(extra string, lines ...string) []byte {
	var out []string
	for _, l := range lines {
		key, _, _ := strings.Cut(l, ":")
		if !strings.Contains("\n"+extra, "\n"+key+":") {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n" + extra)
}

func newSink(t testing.TB, yml []byte, sec adapters.MapSecrets) *nuki.Sink {
	t.Helper()
	cfg, err := adapters.DecodeConfig(nuki.NewSinkConfig, yml)
	if err != nil {
		t.Fatal(err)
	}
	if sec == nil {
		sec = secrets()
	}
	s, err := nuki.NewSink(*cfg.(*nuki.SinkConfig), adapters.Env{Secrets: sec, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newSource(t testing.TB, yml []byte, cursors adapters.CursorStore) *nuki.Source {
	t.Helper()
	cfg, err := adapters.DecodeConfig(nuki.NewSourceConfig, yml)
	if err != nil {
		t.Fatal(err)
	}
	s, err := nuki.NewSource(*cfg.(*nuki.SourceConfig), adapters.Env{Secrets: secrets(), Logger: zaptest.NewLogger(t), Cursors: cursors})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ptr[T any](v T) *T { return &v }

// change returns the message of a key grant change.
func change(c nuki.GrantChange) knutpunkt.Message {
	if c.ChangeID == "" {
		c.ChangeID = fmt.Sprintf("key/%s/%s/%d", c.LockRef, c.Holder, c.Seq)
	}
	if c.Reason == "" {
		c.Reason = "order O-1 in force"
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return knutpunkt.Message{ID: "msg-" + strings.ReplaceAll(c.ChangeID, "/", "-"), Body: b,
		Headers: map[string]string{knutpunkt.HeaderContentType: "application/json"}}
}

// memCursors is an in-memory adapters.CursorStore.
type memCursors struct {
	mu    sync.Mutex
	m     map[string]string
	saves int
}

func newCursors() *memCursors { return &memCursors{m: map[string]string{}} }

func (c *memCursors) Cursor(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok, nil
}

func (c *memCursors) SaveCursor(_ context.Context, key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = value
	c.saves++
	return nil
}

func (c *memCursors) get(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}
