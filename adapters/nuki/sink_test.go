package nuki_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/nuki"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

var update = flag.Bool("update", false, "rewrite the golden request bodies in testdata/")

const (
	routeCreate = "PUT /smartlock/{smartlockId}/auth"
	routeUpdate = "POST /smartlock/{smartlockId}/auth/{id}"
	routeDelete = "DELETE /smartlock/{smartlockId}/auth/{id}"
	routeList   = "GET /smartlock/{smartlockId}/auth"
)

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, got, "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(pretty.Bytes(), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body is no JSON: %v\n%s", err, got)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("request body mismatch with %s (-want +got):\n%s", path, diff)
	}
}

func stockholm(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestGrantWindows sends grants with the contract's weekday bitmask and
// minute windows, compares the SmartlockAuthCreate bodies with goldens,
// and checks that the simulated lock lets the holder in exactly then.
func TestGrantWindows(t *testing.T) {
	sthlm := stockholm(t)
	at := func(day, hhmm string) time.Time { // a day of the week of 7-13 Dec 2026 and a Stockholm time
		days := map[string]int{"mon": 7, "tue": 8, "wed": 9, "thu": 10, "fri": 11, "sat": 12, "sun": 13}
		tm, err := time.ParseInLocation("15:04", hhmm, sthlm)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 12, days[day], tm.Hour(), tm.Minute(), 0, 0, sthlm)
	}
	type try struct {
		day, time string
		in        bool
	}
	tests := []struct {
		name   string
		change nuki.GrantChange
		tries  []try
	}{{
		name: "weekdays_mornings",
		change: nuki.GrantChange{Weekdays: ptr(64 + 32 + 16 + 8 + 4), DailyFromMin: ptr(7 * 60), DailyUntilMin: ptr(9 * 60),
			ValidFrom: ptr(time.Date(2026, 12, 1, 0, 0, 0, 0, sthlm)), ValidUntil: ptr(time.Date(2027, 6, 1, 0, 0, 0, 0, sthlm))},
		tries: []try{{"mon", "08:00", true}, {"fri", "07:00", true}, {"fri", "09:00", true}, {"tue", "06:59", false},
			{"wed", "09:01", false}, {"sat", "08:00", false}, {"sun", "08:00", false}},
	}, {
		name:   "every_day_all_day",
		change: nuki.GrantChange{},
		tries:  []try{{"mon", "00:00", true}, {"sat", "13:37", true}, {"sun", "23:59", true}},
	}, {
		name:   "weekend_nights_across_midnight",
		change: nuki.GrantChange{Weekdays: ptr(2 + 1), DailyFromMin: ptr(22 * 60), DailyUntilMin: ptr(6 * 60), RemoteAllowed: true},
		tries:  []try{{"sat", "23:30", true}, {"sun", "05:00", true}, {"sat", "12:00", false}, {"fri", "23:30", false}, {"mon", "05:00", false}},
	}, {
		name:   "evenings_from_only",
		change: nuki.GrantChange{Weekdays: ptr(16), DailyFromMin: ptr(17 * 60)},
		tries:  []try{{"wed", "17:00", true}, {"wed", "23:59", true}, {"wed", "16:59", false}, {"thu", "18:00", false}},
	}, {
		name:   "not_yet_valid",
		change: nuki.GrantChange{ValidFrom: ptr(time.Date(2026, 12, 10, 0, 0, 0, 0, sthlm))},
		tries:  []try{{"wed", "12:00", false}, {"thu", "00:00", true}, {"sun", "12:00", true}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, nukisim.Options{Now: newClock(monday0800).Now})
			sink := newSink(t, sinkYAML(sim, ""), nil)
			c := tc.change
			c.Seq, c.Op, c.LockRef, c.Holder = 1, nuki.OpGrant, "1001", anna
			if err := sink.Send(t.Context(), change(c)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			golden(t, "create_"+tc.name+".json", sim.LastBody(routeCreate))
			for _, tr := range tc.tries {
				id := sim.Unlock(1001, anna, at(tr.day, tr.time))
				var state int
				for _, l := range logsOf(t, sim) {
					if l.ID == id {
						state = l.State
					}
				}
				if got := state == 0; got != tr.in {
					t.Errorf("unlock %s %s: let in = %v (state %d), want %v", tr.day, tr.time, got, state, tr.in)
				}
			}
		})
	}
}

// logsOf reads the simulator's log through its API.
func logsOf(t *testing.T, sim *nukisim.Server) []nukisim.Log {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, sim.URL+"/smartlock/log?limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []nukisim.Log
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func replyOf(t *testing.T, m *knutpunkt.Message) nuki.Reply {
	t.Helper()
	if m == nil {
		t.Fatal("no reply")
	}
	if ct := m.Headers[knutpunkt.HeaderContentType]; ct != "application/json" {
		t.Errorf("reply content-type = %q", ct)
	}
	var r nuki.Reply
	if err := json.Unmarshal(m.Body, &r); err != nil {
		t.Fatal(err)
	}
	if r.AppliedAt.IsZero() {
		t.Error("reply has no applied_at")
	}
	r.AppliedAt = time.Time{}
	return r
}

// TestSinkLifecycle creates, updates, resends and revokes one grant and
// checks the vendor's state, the requests made and the replies.
func TestSinkLifecycle(t *testing.T) {
	sim := startSim(t, nukisim.Options{Now: newClock(monday0800).Now})
	sink := newSink(t, sinkYAML(sim, ""), nil)
	ctx := t.Context()
	base := nuki.GrantChange{Op: nuki.OpGrant, LockRef: "1001", Holder: anna, Weekdays: ptr(124), DailyFromMin: ptr(420), DailyUntilMin: ptr(540),
		ValidUntil: ptr(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))}
	writes := func() [3]int {
		r := sim.Requests()
		return [3]int{r[routeCreate], r[routeUpdate], r[routeDelete]}
	}

	// Create: 204 without an id, then the list shows it.
	c1 := base
	c1.Seq = 1
	rep, err := sink.SendWithReply(ctx, change(c1))
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	grants := sim.Grants(1001)
	if len(grants) != 1 || grants[0].Name != anna || !grants[0].Enabled || grants[0].AllowedWeekDays != 124 {
		t.Fatalf("after grant the lock holds %+v", grants)
	}
	users := sim.AccountUsers()
	if len(users) != 1 || users[0].Name != anna || users[0].Email != strings.ToLower(anna)+"@nyckel.kommun.example" ||
		grants[0].AccountUserID != users[0].AccountUserID {
		t.Errorf("account users %+v, auth's accountUserId %d", users, grants[0].AccountUserID)
	}
	want := nuki.Reply{Vendor: "nuki", ChangeID: "key/1001/" + anna + "/1", Seq: 1, Op: "grant", LockRef: "1001", Holder: anna,
		VendorGrantRef: grants[0].ID, State: nuki.StateActive}
	if diff := cmp.Diff(want, replyOf(t, rep)); diff != "" {
		t.Errorf("grant reply (-want +got):\n%s", diff)
	}
	if got := rep.Headers[knutpunkt.HeaderExternalID]; got != want.ChangeID+":applied" {
		t.Errorf("reply external-id = %q", got)
	}

	// The same message again: nothing written.
	before := writes()
	if err := sink.Send(ctx, change(c1)); err != nil {
		t.Fatalf("grant again: %v", err)
	}
	if after := writes(); after != before {
		t.Errorf("resending a grant wrote to the vendor: %v → %v (create, update, delete)", before, after)
	}

	// Update in place: same auth id.
	c2 := base
	c2.Seq, c2.DailyUntilMin = 2, ptr(600)
	rep, err = sink.SendWithReply(ctx, change(c2))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	g2 := sim.Grants(1001)
	if len(g2) != 1 || g2[0].ID != grants[0].ID || g2[0].AllowedUntilTime != 600 {
		t.Errorf("after update the lock holds %+v, want auth %s until minute 600", g2, grants[0].ID)
	}
	golden(t, "update_window.json", sim.LastBody(routeUpdate))
	if r := replyOf(t, rep); r.VendorGrantRef != grants[0].ID || r.Seq != 2 {
		t.Errorf("update reply %+v", r)
	}

	// An older change arriving late is not applied.
	before = writes()
	if rep, err := sink.SendWithReply(ctx, change(c1)); err != nil || rep != nil {
		t.Errorf("stale change: reply %v, err %v; want none, nil", rep, err)
	}
	if after := writes(); after != before {
		t.Errorf("a stale change wrote to the vendor")
	}

	// Open-ended again: an update cannot drop a date, so the auth is made anew.
	c3 := base
	c3.Seq, c3.ValidUntil = 3, nil
	if err := sink.Send(ctx, change(c3)); err != nil {
		t.Fatalf("open-ended: %v", err)
	}
	g3 := sim.Grants(1001)
	if len(g3) != 1 || g3[0].AllowedUntilDate != nil || g3[0].ID == grants[0].ID {
		t.Errorf("after dropping valid_until the lock holds %+v", g3)
	}

	// Revoke, twice.
	c4 := nuki.GrantChange{Seq: 4, Op: nuki.OpRevoke, LockRef: "1001", Holder: anna}
	for i := range 2 {
		rep, err = sink.SendWithReply(ctx, change(c4))
		if err != nil {
			t.Fatalf("revoke #%d: %v", i+1, err)
		}
		want := nuki.Reply{Vendor: "nuki", ChangeID: "key/1001/" + anna + "/4", Seq: 4, Op: "revoke", LockRef: "1001", Holder: anna, State: nuki.StateRevoked}
		if diff := cmp.Diff(want, replyOf(t, rep)); diff != "" {
			t.Errorf("revoke #%d reply (-want +got):\n%s", i+1, diff)
		}
	}
	if g := sim.Grants(1001); len(g) != 0 {
		t.Errorf("after revoke the lock holds %+v", g)
	}
	if n := sim.Requests()[routeDelete]; n != 2 { // one for the re-creation, one for the revoke
		t.Errorf("%d deletes, want 2", n)
	}
	if n := len(sim.AccountUsers()); n != 1 {
		t.Errorf("%d account users, want 1", n)
	}
}

// TestSinkBusyLock: while the vendor still creates an auth (423 for every
// other write to the lock), changes fail transiently and go through once
// the operation is done. The simulator's clock is moved by hand.
func TestSinkBusyLock(t *testing.T) {
	clk := newClock(monday0800)
	sim := startSim(t, nukisim.Options{Now: clk.Now, CreateDelay: 30 * time.Second})
	sink := newSink(t, sinkYAML(sim, "create_timeout: 30ms\n"), nil)
	ctx := t.Context()
	a := change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna})
	b := change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: bertil})

	err := sink.Send(ctx, a)
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "create_timeout") {
		t.Fatalf("grant still being created = %v, want a transient error naming create_timeout", err)
	}
	err = sink.Send(ctx, b)
	if err == nil || adapters.IsPermanent(err) || nuki.StatusOf(err) != http.StatusLocked {
		t.Fatalf("grant on a busy lock = %v, want a transient 423", err)
	}
	creates := sim.Requests()[routeCreate]

	clk.Advance(30 * time.Second)
	for _, m := range []knutpunkt.Message{a, b} { // the hub's retries
		if err := sink.Send(ctx, m); err != nil && nuki.StatusOf(err) != http.StatusLocked && !strings.Contains(err.Error(), "create_timeout") {
			t.Fatalf("retry: %v", err)
		}
	}
	clk.Advance(30 * time.Second)
	if err := sink.Send(ctx, b); err != nil {
		t.Fatalf("retry after the lock settled: %v", err)
	}
	var names []string
	for _, g := range sim.Grants(1001) {
		names = append(names, g.Name)
	}
	if diff := cmp.Diff([]string{anna, bertil}, names); diff != "" {
		t.Errorf("lock holds (-want +got):\n%s", diff)
	}
	if n := sim.Requests()[routeCreate] - creates; n != 1 {
		t.Errorf("%d creates after the first, want 1 (anna's found, bertil's made once)", n)
	}
}

// TestSinkErrors: how each answer of the vendor is classified.
func TestSinkErrors(t *testing.T) {
	grant := nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna}
	tests := []struct {
		name      string
		setup     func(sim *nukisim.Server)
		msg       knutpunkt.Message
		yml       string // extra sink config
		secrets   adapters.MapSecrets
		permanent bool
		wantErr   string // substring; "" for success
		creates   int    // creates the vendor got
	}{
		{name: "402_account_not_paid", setup: func(s *nukisim.Server) { s.FailOn(routeCreate, 402, 1) }, msg: change(grant),
			permanent: true, wantErr: "PUT /smartlock/1001/auth: 402", creates: 1},
		{name: "426_upgrade_required", setup: func(s *nukisim.Server) { s.FailOn(routeCreate, 426, 1) }, msg: change(grant),
			permanent: true, wantErr: "change key/1001/" + anna + "/1 (grant of lock 1001)", creates: 1},
		{name: "400_once_forgets_the_user_and_converges", setup: func(s *nukisim.Server) { s.FailOn(routeCreate, 400, 1) }, msg: change(grant),
			creates: 2},
		{name: "400_twice_is_permanent", setup: func(s *nukisim.Server) { s.FailOn(routeCreate, 400, 2) }, msg: change(grant),
			permanent: true, wantErr: "PUT /smartlock/1001/auth: 400", creates: 2},
		{name: "404_no_such_lock", msg: change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "999", Holder: anna}),
			permanent: true, wantErr: "field lock_ref: the vendor has no lock 999"},
		{name: "401_token_rejected", secrets: adapters.MapSecrets{tokenRef: "wrong"}, msg: change(grant),
			wantErr: "token rejected"},
		{name: "429_rate_limited", setup: func(s *nukisim.Server) { s.Fail(429, 1) }, msg: change(grant), wantErr: "429: nukisim: injected 429 (retry after 1s)"},
		{name: "503", setup: func(s *nukisim.Server) { s.Fail(503, 1) }, msg: change(grant), wantErr: "503"},
		{name: "409_converges_once", setup: func(s *nukisim.Server) { s.FailOn(routeCreate, 409, 1) }, msg: change(grant), creates: 2},
		{name: "409_twice_is_transient", setup: func(s *nukisim.Server) { s.FailOn(routeCreate, 409, 2) }, msg: change(grant),
			wantErr: "409", creates: 2},
		{name: "body_not_a_change", msg: knutpunkt.Message{ID: "m-1", Body: []byte(`{"hello":1}`)}, permanent: true,
			wantErr: `message m-1: body is no key grant change`},
		{name: "holder_not_hsa_id", msg: change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: "anna"}),
			permanent: true, wantErr: "field holder"},
		{name: "weekdays_out_of_range", msg: change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna, Weekdays: ptr(128)}),
			permanent: true, wantErr: "field weekdays: must be 0-127"},
		{name: "lock_ref_not_a_smartlock_id", msg: change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "door-1", Holder: anna}),
			permanent: true, wantErr: "field lock_ref"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, nukisim.Options{})
			sink := newSink(t, sinkYAML(sim, tc.yml), tc.secrets)
			if tc.setup != nil {
				tc.setup(sim)
			}
			err := sink.Send(t.Context(), tc.msg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Send: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Send = %v, want an error containing %q", err, tc.wantErr)
			case err != nil && adapters.IsPermanent(err) != tc.permanent:
				t.Errorf("Send = %v: permanent %v, want %v", err, adapters.IsPermanent(err), tc.permanent)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error quotes the token: %v", err)
			}
			if n := sim.Requests()[routeCreate]; n != tc.creates {
				t.Errorf("vendor got %d creates, want %d", n, tc.creates)
			}
		})
	}
}

// TestSinkAuthRemovedMeanwhile: a 404 to a write of an auth (someone
// removed it between the sink's read and its write) is no missing lock:
// the sink reads the lock again and converges.
func TestSinkAuthRemovedMeanwhile(t *testing.T) {
	for _, route := range []string{routeUpdate, routeDelete} {
		t.Run(route, func(t *testing.T) {
			sim := startSim(t, nukisim.Options{})
			sink := newSink(t, sinkYAML(sim, ""), nil)
			c := nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna, DailyFromMin: ptr(60), DailyUntilMin: ptr(120)}
			if err := sink.Send(t.Context(), change(c)); err != nil {
				t.Fatal(err)
			}
			c.Seq, c.DailyUntilMin = 2, ptr(180)
			if route == routeDelete {
				c = nuki.GrantChange{Seq: 2, Op: nuki.OpRevoke, LockRef: "1001", Holder: anna}
			}
			sim.FailOn(route, http.StatusNotFound, 1)
			if err := sink.Send(t.Context(), change(c)); err != nil {
				t.Fatalf("Send after a 404 to %s: %v", route, err)
			}
			if n := sim.Requests()[route]; n != 2 {
				t.Errorf("%s got %d requests, want 2 (the 404, then the write after reading again)", route, n)
			}
		})
	}
}

// TestSinkAccountUserRemoved: an account user removed at the vendor after
// the sink cached it is made again on the holder's next grant.
func TestSinkAccountUserRemoved(t *testing.T) {
	sim := startSim(t, nukisim.Options{})
	sink := newSink(t, sinkYAML(sim, ""), nil)
	if err := sink.Send(t.Context(), change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1001", Holder: anna})); err != nil {
		t.Fatal(err)
	}
	old := sim.AccountUsers()[0].AccountUserID
	sim.RemoveAccountUser(old)
	if err := sink.Send(t.Context(), change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: "1002", Holder: anna})); err != nil {
		t.Fatalf("grant after the account user was removed: %v", err)
	}
	users := sim.AccountUsers()
	g := sim.Grants(1002)
	if len(users) != 1 || users[0].AccountUserID == old || len(g) != 1 || g[0].AccountUserID != users[0].AccountUserID {
		t.Errorf("account users %+v, lock 1002 holds %+v; want one new user holding the grant", users, g)
	}
}
