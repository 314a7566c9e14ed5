package hsa_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/hsa"
)

// vendor is hsasim feeding the kit: Emit adds a member of the synced unit
// whose title is the message body, byte for byte (XML escapes CR), and
// Unpack reads the titles back out of a delivered snapshot.
type vendor struct {
	e  *env
	mu sync.Mutex
	n  int
}

func (v *vendor) Secrets() adapters.MapSecrets { return v.e.secrets() }
func (v *vendor) Down()                        { v.e.sim.Down() }
func (v *vendor) Up()                          { v.e.sim.Up() }

// Acked and Pending: HSA has no acknowledgement (Features.Snapshot).
func (v *vendor) Acked() int   { return 0 }
func (v *vendor) Pending() int { return 0 }

func (v *vendor) Emit(_ context.Context, m knutpunkt.Message) error {
	v.mu.Lock()
	v.n++
	p := staff(v.n, "")
	v.mu.Unlock()
	p.Title = string(m.Body)
	v.e.sim.AddEmployee(p)
	return nil
}

func (v *vendor) Unpack(m knutpunkt.Message) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(m.Body))
	for sc.Scan() {
		var r hsa.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		out = append(out, []byte(r.Title))
	}
	return out, sc.Err()
}

// TestSource runs the conformance kit against hsasim. A directory is a
// state, not a queue: one snapshot per poll, no acknowledgement, the
// snapshot's own headers (Features.Snapshot, as for ldap).
func TestSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def:      hsa.SourceDef,
		Features: adapterstest.Features{Snapshot: true, Check: true, LazyConnect: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			v := &vendor{e: start(t)}
			return v.e.config(t, "poll_interval: 20ms\n"), v
		},
	})
}
