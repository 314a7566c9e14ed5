package nuki_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/nuki"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

// The kit's messages are opaque bodies, and the sink takes key grant
// changes and the source gives vendor logs. So the harnesses below run
// the real adapters behind a thin translation, written out here for
// review: the sink's harness turns each kit message into a grant for a
// holder derived from the message ID (kitHolder) and reads the vendor's
// auths back as the messages "received"; the source's harness makes each
// emitted message an event at the vendor, and swaps the delivered
// SmartlockLog back for the kit body it stands for. Everything else, the
// config, the HTTP, the faults, the cursor as acknowledgement, is the
// adapters' own.

// kitLock is the lock the kit's grants go to.
const kitLock = 1001

// kitHolder is the HSA-ID a kit message's grant is for: the test
// directory's prefix and the ID's letters and digits.
func kitHolder(id string) string {
	var b strings.Builder
	for _, r := range id {
		if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		}
	}
	return "TSTNMT2321000156-" + b.String()
}

// sinkVendor is the simulator as the kit's SinkVendor.
type sinkVendor struct {
	sim *nukisim.Server
	mu  sync.Mutex
	kit map[string][]byte // kit body by holder
}

func (v *sinkVendor) Secrets() adapters.MapSecrets { return secrets() }
func (v *sinkVendor) Down()                        { v.sim.Down() }
func (v *sinkVendor) Up()                          { v.sim.Up() }

func (v *sinkVendor) Reject(r adapterstest.Rejection) {
	switch r {
	case adapterstest.RejectFinal:
		v.sim.Fail(402, 1<<30) // account not paid
	case adapterstest.RejectRetryable:
		v.sim.Fail(503, 1<<30)
	case adapterstest.Stall:
		v.sim.Slow(time.Hour)
	}
}

// Received is the kit message behind each auth the lock holds, in
// creation order: a message sent twice that made two auths shows twice.
func (v *sinkVendor) Received() []knutpunkt.Message {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []knutpunkt.Message
	for _, a := range v.sim.Grants(kitLock) {
		out = append(out, knutpunkt.Message{ID: a.ID, Body: v.kit[a.Name]})
	}
	return out
}

// kitSink is the sink with the kit's messages translated into grants.
type kitSink struct {
	*nuki.Sink
	v *sinkVendor
}

func (s kitSink) Send(ctx context.Context, m knutpunkt.Message) error {
	holder := kitHolder(m.ID)
	s.v.mu.Lock()
	s.v.kit[holder] = m.Body
	s.v.mu.Unlock()
	g := change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: fmt.Sprint(kitLock), Holder: holder})
	g.ID = m.ID
	return s.Sink.Send(ctx, g)
}

func TestSink(t *testing.T) {
	var mu sync.Mutex
	vendors := map[string]*sinkVendor{} // by base URL: Open finds its vendor
	def := nuki.SinkDef
	def.Open = func(cfg adapters.Config, env adapters.Env) (adapters.Sink, error) {
		s, err := nuki.NewSink(*cfg.(*nuki.SinkConfig), env)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		return kitSink{s, vendors[cfg.(*nuki.SinkConfig).BaseURL]}, nil
	}
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: def,
		// NoHeaders: the Web API carries no headers of ours; the auth is
		// the message. The sink is idempotent itself (it converges).
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			v := &sinkVendor{sim: startSim(t, nukisim.Options{}), kit: map[string][]byte{}}
			mu.Lock()
			vendors[v.sim.URL] = v
			mu.Unlock()
			return sinkYAML(v.sim, ""), v
		},
	})
}

// sourceVendor is the simulator as the kit's SourceVendor: an emitted
// message is a door-opened event, acknowledged once the source saved a
// cursor past it.
type sourceVendor struct {
	sim     *nukisim.Server
	cursors *memCursors
	mu      sync.Mutex
	kit     map[string][]byte // kit body by event id
	order   []string          // event ids, emitted order
}

func (v *sourceVendor) Secrets() adapters.MapSecrets { return secrets() }
func (v *sourceVendor) Down()                        { v.sim.Down() }
func (v *sourceVendor) Up()                          { v.sim.Up() }

// Env gives the source the vendor's cursor store, where its acks land.
func (v *sourceVendor) Env(env adapters.Env) adapters.Env {
	env.Cursors = v.cursors
	return env
}

func (v *sourceVendor) Emit(_ context.Context, m knutpunkt.Message) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := v.sim.Door(kitLock, true, time.Now())
	v.kit[id] = m.Body
	v.order = append(v.order, id)
	return nil
}

func (v *sourceVendor) Acked() int {
	var c nuki.Cursor
	if s := v.cursors.get("log"); s != "" {
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			panic(err)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, id := range v.order {
		if _, ok := c.Seen[id]; ok {
			n++
		}
	}
	return n
}

func (v *sourceVendor) Pending() int {
	v.mu.Lock()
	n := len(v.order)
	v.mu.Unlock()
	return n - v.Acked()
}

// kitSource is the source with each delivered event swapped back for the
// kit body it stands for.
type kitSource struct {
	*nuki.Source
	v *sourceVendor
}

func (s kitSource) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	return s.Source.Receive(ctx, func(ctx context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		id := strings.TrimPrefix(m.Headers[knutpunkt.HeaderExternalID], "nuki-log-")
		s.v.mu.Lock()
		body, ok := s.v.kit[id]
		s.v.mu.Unlock()
		if !ok {
			return adapters.Receipt{}, adapters.Permanent(fmt.Errorf("event %s was not emitted by the kit", id))
		}
		m.Body = body
		return deliver(ctx, m)
	})
}

func TestEventsSource(t *testing.T) {
	var mu sync.Mutex
	vendors := map[string]*sourceVendor{}
	def := nuki.SourceDef
	def.Open = func(cfg adapters.Config, env adapters.Env) (adapters.Source, error) {
		s, err := nuki.NewSource(*cfg.(*nuki.SourceConfig), env)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		return kitSource{s, vendors[cfg.(*nuki.SourceConfig).BaseURL]}, nil
	}
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: def,
		// NoHeaders: the source names itself (source-system nuki) and
		// the event (external-id nuki-log-<id>); the vendor's log has no
		// headers of the kit's to carry. TestEventsHeaders checks them.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			v := &sourceVendor{sim: startSim(t, nukisim.Options{}), cursors: newCursors(), kit: map[string][]byte{}}
			mu.Lock()
			vendors[v.sim.URL] = v
			mu.Unlock()
			return sourceYAML(v.sim, "events", "overlap: 1h\n"), v
		},
	})
}

// grantsVendor is the simulator as the kit's snapshot vendor for read:
// grants: an emitted message is a grant on kitLock for the holder its ID
// names, made through the Web API as any client would.
type grantsVendor struct {
	sim  *nukisim.Server
	sink *nuki.Sink
	tr   *http.Transport // the sink's, closed after each Emit: the kit counts goroutines
	mu   sync.Mutex
	kit  map[string][]byte // kit body by holder
}

func (v *grantsVendor) Secrets() adapters.MapSecrets { return secrets() }
func (v *grantsVendor) Down()                        { v.sim.Down() }
func (v *grantsVendor) Up()                          { v.sim.Up() }
func (v *grantsVendor) Acked() int                   { return 0 } // Features.Snapshot: not called
func (v *grantsVendor) Pending() int                 { return 0 }

func (v *grantsVendor) Emit(ctx context.Context, m knutpunkt.Message) error {
	holder := kitHolder(m.ID)
	v.mu.Lock()
	v.kit[holder] = m.Body
	v.mu.Unlock()
	defer v.tr.CloseIdleConnections()
	return v.sink.Send(ctx, change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: fmt.Sprint(kitLock), Holder: holder}))
}

// Unpack returns the kit bodies behind a snapshot's grants.
func (v *grantsVendor) Unpack(snap knutpunkt.Message) ([][]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out [][]byte
	var list nuki.GrantList
	if err := json.Unmarshal(snap.Body, &list); err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", snap.Body, err)
	}
	for _, r := range list.Grants {
		b, ok := v.kit[r.Holder]
		if !ok {
			return nil, fmt.Errorf("snapshot holds a grant the kit did not emit: %s", r.Holder)
		}
		out = append(out, b)
	}
	return out, nil
}

func TestGrantsSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: nuki.SourceDef,
		// Snapshot: every grant per poll. NoHeaders: a snapshot's headers
		// are the source's own.
		Features: adapterstest.Features{Snapshot: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			sim := startSim(t, nukisim.Options{})
			cfg, err := adapters.DecodeConfig(nuki.NewSinkConfig, sinkYAML(sim, ""))
			if err != nil {
				t.Fatal(err)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			sink, err := nuki.NewSink(*cfg.(*nuki.SinkConfig), adapters.Env{Secrets: secrets(), HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			v := &grantsVendor{sim: sim, sink: sink, tr: tr, kit: map[string][]byte{}}
			return sourceYAML(sim, "grants", "locks: [1001]\n"), v
		},
	})
}
