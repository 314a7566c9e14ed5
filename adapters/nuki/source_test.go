package nuki_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/nuki"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

// collector is a DeliverFunc that records messages and fails where told.
type collector struct {
	mu     sync.Mutex
	msgs   []knutpunkt.Message
	failAt int // fail the failAt-th call (1-based) once; 0 never
	calls  int
}

func (c *collector) deliver(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls == c.failAt {
		return adapters.Receipt{}, errors.New("store unavailable")
	}
	c.msgs = append(c.msgs, m)
	return adapters.Receipt{ID: m.Headers[knutpunkt.HeaderExternalID]}, nil
}

func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		out = append(out, strings.TrimPrefix(m.Headers[knutpunkt.HeaderExternalID], "nuki-log-"))
	}
	return out
}

// TestEventsPaging: more than a page of events arrives oldest first, once
// each; a failed delivery leaves the cursor before it; a new source on the
// same cursor store reads only what is new.
func TestEventsPaging(t *testing.T) {
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	sim := startSim(t, nukisim.Options{})
	var want []string
	for i := range 120 {
		// Three events a second, so pages end within a second.
		want = append(want, sim.Door(1001+int64(i%2), i%2 == 0, start.Add(time.Duration(i/3)*time.Second)))
	}
	cursors := newCursors()
	src := newSource(t, sourceYAML(sim, "events", ""), cursors)

	col := &collector{failAt: 71}
	n, err := src.Poll(t.Context(), col.deliver)
	if err == nil || n != 70 {
		t.Fatalf("Poll with a failing delivery = %d, %v; want 70 and an error", n, err)
	}
	pages := sim.Requests()["GET /smartlock/log"]
	if pages != 3 {
		t.Errorf("%d log requests for 120 events, want 3 (50 + 50 + 20)", pages)
	}
	if n, err = src.Poll(t.Context(), col.deliver); err != nil || n != 50 {
		t.Fatalf("Poll after the failure = %d, %v; want the 50 left", n, err)
	}
	if diff := cmp.Diff(want, col.ids()); diff != "" {
		t.Errorf("delivered ids (-want +got):\n%s", diff)
	}
	if n, err = src.Poll(t.Context(), col.deliver); err != nil || n != 0 {
		t.Errorf("Poll with nothing new = %d, %v", n, err)
	}

	// A restart: a new source goes on from the saved cursor.
	more := []string{sim.Door(1001, false, time.Now().Add(-time.Minute)), sim.Door(1002, true, time.Now())}
	col2 := &collector{}
	src2 := newSource(t, sourceYAML(sim, "events", ""), cursors)
	if n, err := src2.Poll(t.Context(), col2.deliver); err != nil || n != 2 {
		t.Fatalf("Poll after restart = %d, %v; want 2", n, err)
	}
	if diff := cmp.Diff(more, col2.ids()); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}

	// A lock that logs late, within the overlap: read, and only it.
	late := sim.Door(1001, true, time.Now().Add(-5*time.Minute))
	col3 := &collector{}
	if n, err := src2.Poll(t.Context(), col3.deliver); err != nil || n != 1 {
		t.Fatalf("Poll with a late event = %d, %v; want 1", n, err)
	}
	if diff := cmp.Diff([]string{late}, col3.ids()); diff != "" {
		t.Errorf("late event (-want +got):\n%s", diff)
	}
}

// TestEventsPageDuplicates: a page that repeats an entry of the page
// before (the vendor's log moved between two requests) is not delivered
// twice.
func TestEventsPageDuplicates(t *testing.T) {
	sim := startSim(t, nukisim.Options{})
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 50 {
		sim.Door(1001, i%2 == 0, at.Add(time.Duration(i)*time.Second))
	}
	// The first page's oldest entry, logged again under the same id with
	// a later date, reaches the second page too.
	first := logsOf(t, sim)
	dup := first[len(first)-1]
	sim.AddLog(nukisim.Log{ID: dup.ID, SmartlockID: 1002, Name: "x", Action: 2, Date: at.Add(-time.Minute)})
	col := &collector{}
	src := newSource(t, sourceYAML(sim, "events", ""), newCursors())
	n, err := src.Poll(t.Context(), col.deliver)
	if err != nil || n != 50 {
		t.Fatalf("Poll = %d, %v; want 50", n, err)
	}
	seen := map[string]bool{}
	for _, id := range col.ids() {
		if seen[id] {
			t.Errorf("event %s delivered twice", id)
		}
		seen[id] = true
	}
}

// TestEventsHeaders: every event names its source, event and lock; the
// holder's HSA-ID is resolved from the account user, and no other name
// leaves the body.
func TestEventsHeaders(t *testing.T) {
	sim := startSim(t, nukisim.Options{})
	sink := newSink(t, sinkYAML(sim, ""), nil)
	if err := sink.Send(t.Context(), change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna})); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	unlock := sim.Unlock(1001, anna, at)
	rejected := sim.Unlock(1002, anna, at.Add(time.Second)) // no grant on 1002
	owner := sim.AddLog(nukisim.Log{SmartlockID: 1001, AccountUserID: 77, Name: "Anna Andersson", Action: 2, Trigger: 5, Date: at.Add(2 * time.Second)})
	door := sim.Door(1001, true, at.Add(3*time.Second))

	col := &collector{}
	src := newSource(t, sourceYAML(sim, "events", "source_system: nuki-kommun\n"), nil)
	if _, err := src.Poll(t.Context(), col.deliver); err != nil {
		t.Fatal(err)
	}
	type hdr struct{ ExternalID, Holder, Lock, Source string }
	var got []hdr
	for _, m := range col.msgs {
		got = append(got, hdr{m.Headers[knutpunkt.HeaderExternalID], m.Headers[nuki.HeaderHolder], m.Headers[nuki.HeaderLock], m.Headers[knutpunkt.HeaderSourceSystem]})
		if m.Headers[knutpunkt.HeaderContentType] != "application/json" {
			t.Errorf("content-type %q", m.Headers[knutpunkt.HeaderContentType])
		}
	}
	want := []hdr{
		{"nuki-log-" + unlock, anna, "1001", "nuki-kommun"},
		{"nuki-log-" + rejected, anna, "1002", "nuki-kommun"},
		{"nuki-log-" + owner, "", "1001", "nuki-kommun"},
		{"nuki-log-" + door, "", "1001", "nuki-kommun"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	var body map[string]any
	if err := json.Unmarshal(col.msgs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["state"] != float64(9) || body["action"] != float64(1) {
		t.Errorf("unlock without a grant logged %v, want action 1 state 9", body)
	}
}

// TestGrantsSnapshot: one JSON line per auth, sorted, from every lock.
func TestGrantsSnapshot(t *testing.T) {
	sim := startSim(t, nukisim.Options{Now: newClock(monday0800).Now})
	sink := newSink(t, sinkYAML(sim, ""), nil)
	for _, c := range []nuki.GrantChange{
		{Seq: 1, Op: nuki.OpGrant, LockRef: "1002", Holder: bertil, Weekdays: ptr(3), RemoteAllowed: true},
		{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna, DailyFromMin: ptr(420), DailyUntilMin: ptr(540),
			ValidFrom: ptr(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))},
		{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: bertil},
	} {
		if err := sink.Send(t.Context(), change(c)); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{}
	for _, l := range []int64{1001, 1002} {
		for _, a := range sim.Grants(l) {
			ids[fmt.Sprint(l, a.Name)] = a.ID
		}
	}
	src := newSource(t, sourceYAML(sim, "grants", ""), nil)
	body, n, err := src.Grants(t.Context())
	if err != nil || n != 3 {
		t.Fatalf("Grants = %d, %v", n, err)
	}
	// Every day and all day are written as the canonical change says them:
	// no weekdays, no daily minutes.
	want := fmt.Sprintf(`{"vendor":"nuki","grants":[`+
		`{"lock_ref":"1001","vendor_grant_ref":%q,"holder":%q,"valid_from":"2026-12-01T00:00:00Z","daily_from_min":420,"daily_until_min":540,"remote_allowed":false,"enabled":true},`+
		`{"lock_ref":"1001","vendor_grant_ref":%q,"holder":%q,"remote_allowed":false,"enabled":true},`+
		`{"lock_ref":"1002","vendor_grant_ref":%q,"holder":%q,"weekdays":3,"remote_allowed":true,"enabled":true}]}
`, ids["1001"+anna], anna, ids["1001"+bertil], bertil, ids["1002"+bertil], bertil)
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}

	// Through Receive: delivered once while nothing changes.
	col := &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Receive(ctx, col.deliver) }()
	for sim.Requests()["GET /smartlock"] < 3 { // three polls
		select {
		case <-t.Context().Done():
			t.Fatal("no polls")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	<-done
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.msgs) != 1 || string(col.msgs[0].Body) != want || col.msgs[0].Headers["snapshot-count"] != "3" {
		t.Errorf("Receive delivered %d snapshots, want 1 of the 3 grants", len(col.msgs))
	}
}

// TestEventsOfListedLocks: with locks, only their events are delivered,
// and the cursor moves past the other locks' events too.
func TestEventsOfListedLocks(t *testing.T) {
	sim := startSim(t, nukisim.Options{})
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	want := sim.Door(1002, true, at)
	sim.Door(1001, true, at.Add(time.Second))
	col := &collector{}
	cursors := newCursors()
	src := newSource(t, sourceYAML(sim, "events", "locks: [1002]\n"), cursors)
	if _, err := src.Poll(t.Context(), col.deliver); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{want}, col.ids()); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	var c nuki.Cursor
	if err := json.Unmarshal([]byte(cursors.get("log")), &c); err != nil {
		t.Fatal(err)
	}
	if !c.Date.Equal(at.Add(time.Second)) {
		t.Errorf("cursor date %v, want %v: past lock 1001's event", c.Date, at.Add(time.Second))
	}
}
