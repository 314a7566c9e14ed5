package keys_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/keys"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

var (
	loc     = homecare.Stockholm()
	clients = homecare.OfficialTestPersonIDs()
)

func date(s string) homecare.Date {
	d, err := homecare.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func order(id, provider, lock string, from, to string, client int) homecare.Order {
	o := homecare.Order{SourceSystem: "lifecare", ExternalID: id, ProviderID: provider, ValidFrom: date(from),
		Client: homecare.OrderClient{PersonID: clients[client]}, Status: homecare.OrderStatusExecuted}
	if to != "" {
		o.ValidTo = date(to)
	}
	if lock != "" {
		o.Planning.Key = &homecare.OrderKey{LockRef: lock}
	}
	return o
}

func staff(ids ...string) []homecare.HSAID {
	var out []homecare.HSAID
	for _, id := range ids {
		out = append(out, homecare.HSAID("TSTNMT2321000156-"+id))
	}
	return out
}

func wantKeys(ws []keys.Want) string {
	var out []string
	for _, w := range ws {
		until := "open"
		if w.Window.ValidUntil != nil {
			until = w.Window.ValidUntil.In(loc).Format("2006-01-02T15:04:05")
		}
		out = append(out, fmt.Sprintf("%s %s %s..%s", w.LockRef, strings.TrimPrefix(string(w.Holder), "TSTNMT2321000156-"),
			w.Window.ValidFrom.In(loc).Format("2006-01-02"), until))
	}
	return strings.Join(out, "; ")
}

// TestDesired: the provider's directory-listed staff get the lock of each order that
// names one, over the order's period; nobody else, and nobody blocked.
func TestDesired(t *testing.T) {
	crew := map[string][]homecare.HSAID{"norr": staff("1001", "1002"), "soder": staff("2001")}
	tests := []struct {
		name    string
		orders  []homecare.Order
		blocked []string
		want    string
	}{
		{"an order with a lock", []homecare.Order{order("B1", "norr", "L1", "2026-11-01", "", 0)},
			nil, "L1 1001 2026-11-01..open; L1 1002 2026-11-01..open"},
		{"an end date: to the end of its last day", []homecare.Order{order("B1", "soder", "L1", "2026-11-01", "2026-12-31", 0)},
			nil, "L1 2001 2026-11-01..2026-12-31T23:59:59"},
		{"no lock in the order", []homecare.Order{order("B1", "norr", "", "2026-11-01", "", 0)}, nil, ""},
		{"a provider no directory lists", []homecare.Order{order("B1", "other", "L1", "2026-11-01", "", 0)}, nil, ""},
		{"a blocked person", []homecare.Order{order("B1", "norr", "L1", "2026-11-01", "", 0)}, []string{"1001"},
			"L1 1002 2026-11-01..open"},
		{"a provider change on the day: both providers' staff", []homecare.Order{
			order("B1", "norr", "L1", "2026-11-01", "2026-12-01", 0), order("B2", "soder", "L1", "2026-12-01", "", 0)},
			nil, "L1 1001 2026-11-01..2026-12-01T23:59:59; L1 1002 2026-11-01..2026-12-01T23:59:59; L1 2001 2026-12-01..open"},
		{"two orders of one client and provider: one window over both", []homecare.Order{
			order("B1", "soder", "L1", "2026-11-01", "2026-11-30", 0), order("B2", "soder", "L1", "2026-12-01", "", 0)},
			nil, "L1 2001 2026-11-01..open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocked := map[homecare.HSAID]bool{}
			for _, b := range staff(tt.blocked...) {
				blocked[b] = true
			}
			if got := wantKeys(keys.Desired(tt.orders, crew, blocked)); got != tt.want {
				t.Errorf("Desired = %q, want %q", got, tt.want)
			}
		})
	}
}

func grantRow(holder string, seq, applied int64, op homecare.KeyOp, w homecare.KeyWindow, requested time.Time) store.KeyGrant {
	state := map[homecare.KeyOp][2]string{homecare.KeyGrantOp: {store.KeyPending, store.KeyActive},
		homecare.KeyRevokeOp: {store.KeyRevoking, store.KeyRevoked}}[op][min(1, int(applied/max(seq, 1)))]
	return store.KeyGrant{Vendor: "nuki", LockRef: "L1", Holder: homecare.HSAID("TSTNMT2321000156-" + holder), Op: op, Window: w,
		Seq: seq, AppliedSeq: applied, State: state, RequestedAt: requested, AppliedAt: requested.Add(time.Second)}
}

// TestPlan: each case's changes, with their numbers.
func TestPlan(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := homecare.KeyWindow{ValidFrom: date("2026-11-01").In(loc)}
	later := homecare.KeyWindow{ValidFrom: date("2026-11-15").In(loc)}
	want := func(holder string, w homecare.KeyWindow) keys.Want {
		return keys.Want{LockRef: "L1", Holder: homecare.HSAID("TSTNMT2321000156-" + holder), ProviderID: "norr", OrderRef: "lifecare/B1", Window: w}
	}
	recent, old := now.Add(-time.Minute), now.Add(-time.Hour)
	drift := func(g store.KeyGrant, atVendor bool) store.KeyGrant {
		g.CheckedAt, g.AtVendor = g.AppliedAt.Add(time.Minute), atVendor
		return g
	}
	tests := []struct {
		name   string
		wants  []keys.Want
		grants []store.KeyGrant
		want   string
	}{
		{"new", []keys.Want{want("1001", w)}, nil, "grant 1001 #1"},
		{"confirmed and equal", []keys.Want{want("1001", w)}, []store.KeyGrant{grantRow("1001", 1, 1, homecare.KeyGrantOp, w, old)}, ""},
		{"pending, recent", []keys.Want{want("1001", w)}, []store.KeyGrant{grantRow("1001", 1, 0, homecare.KeyGrantOp, w, recent)}, ""},
		{"pending too long: again", []keys.Want{want("1001", w)}, []store.KeyGrant{grantRow("1001", 1, 0, homecare.KeyGrantOp, w, old)}, "grant 1001 #2"},
		{"the window changed", []keys.Want{want("1001", later)}, []store.KeyGrant{grantRow("1001", 1, 1, homecare.KeyGrantOp, w, old)}, "grant 1001 #2"},
		{"wanted again after a revoke", []keys.Want{want("1001", w)}, []store.KeyGrant{grantRow("1001", 2, 2, homecare.KeyRevokeOp, homecare.KeyWindow{}, old)}, "grant 1001 #3"},
		{"no longer wanted", nil, []store.KeyGrant{grantRow("1001", 1, 1, homecare.KeyGrantOp, w, old)}, "revoke 1001 #2"},
		{"no longer wanted, while the grant is on its way", nil, []store.KeyGrant{grantRow("1001", 1, 0, homecare.KeyGrantOp, w, recent)}, "revoke 1001 #2"},
		{"revoked and confirmed", nil, []store.KeyGrant{grantRow("1001", 2, 2, homecare.KeyRevokeOp, homecare.KeyWindow{}, old)}, ""},
		{"revoke pending too long: again", nil, []store.KeyGrant{grantRow("1001", 2, 1, homecare.KeyRevokeOp, homecare.KeyWindow{}, old)}, "revoke 1001 #3"},
		{"the vendor lost a confirmed grant", []keys.Want{want("1001", w)}, []store.KeyGrant{drift(grantRow("1001", 1, 1, homecare.KeyGrantOp, w, old), false)}, "grant 1001 #2"},
		{"the vendor still has a revoked grant", nil, []store.KeyGrant{drift(grantRow("1001", 2, 2, homecare.KeyRevokeOp, homecare.KeyWindow{}, old), true)}, "revoke 1001 #3"},
		{"found at the vendor, not wanted", nil, []store.KeyGrant{grantRow("1001", 0, 0, homecare.KeyGrantOp, w, old)}, "revoke 1001 #1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range keys.Plan(tt.wants, tt.grants, now, 15*time.Minute) {
				if c.ChangeID != homecare.KeyChangeID(c.LockRef, c.Holder, c.Seq) || c.Reason == "" {
					t.Errorf("change %+v: id or reason", c)
				}
				got = append(got, fmt.Sprintf("%s %s #%d", c.Op, strings.TrimPrefix(string(c.Holder), "TSTNMT2321000156-"), c.Seq))
			}
			if s := strings.Join(got, "; "); s != tt.want {
				t.Errorf("Plan = %q, want %q", s, tt.want)
			}
		})
	}
}

// vendor is a lock vendor as the property test sees it: the grants it holds, applying
// the changes a sink hands it, idempotently.
type vendor struct {
	grants map[string]homecare.KeyWindow // lock \x00 holder
	down   bool
}

func (v *vendor) apply(c homecare.KeyGrantChange) {
	k := c.LockRef + "\x00" + string(c.Holder)
	if c.Op == homecare.KeyGrantOp {
		v.grants[k] = c.KeyWindow
	} else {
		delete(v.grants, k)
	}
}

// TestConvergeProperty interleaves wanted grants and revokes, outages, retries,
// dead letters, duplicates, lost answers and drift at the vendor, and checks that once
// the chaos stops the vendor holds exactly what the hub wants, each (lock, holder)'s
// changes applied in order.
func TestConvergeProperty(t *testing.T) {
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			seeds := 40
			if db.DSN != "" {
				seeds = 8
			}
			for seed := range seeds {
				dsn := db.DSN
				if dsn == "" {
					dsn = filepath.Join(t.TempDir(), "knut.db")
				} else {
					dsn = storetest.FreshPostgres(t, storetest.Cluster(t))
				}
				convergeOnce(t, dsn, uint64(seed))
			}
		})
	}
}

func convergeOnce(t *testing.T, dsn string, seed uint64) {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 42))
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	// NORMAL: the test is about the order of changes, not about surviving power loss,
	// and a busy CI disk makes FULL's every-commit fsync take minutes.
	st, err := store.OpenWith(ctx, dsn, store.Options{PersonIDKey: bytes.Repeat([]byte("k"), 32),
		PersonIDEncryptionKey: bytes.Repeat([]byte("e"), 32), Clock: func() time.Time { return now }, SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const resend = 10 * time.Minute
	v := &vendor{grants: map[string]homecare.KeyWindow{}}
	queues := map[string][]homecare.KeyGrantChange{}
	applied := map[string]int64{} // the last seq the vendor applied per key: order is kept
	holders := staff("1001", "1002", "1003", "1004")
	locks := []string{"L1", "L2", "L3"}
	windows := []homecare.KeyWindow{{ValidFrom: date("2026-11-01").In(loc)}, {ValidFrom: date("2026-11-01").In(loc), Weekdays: 124}}
	wants := map[string]keys.Want{}
	// plan compares and queues the changes; with chaos, now and then the hub stops
	// between recording a change and handing it on. It returns how many it queued.
	plan := func(chaos bool) int {
		var ws []keys.Want
		for _, k := range slices.Sorted(maps.Keys(wants)) {
			ws = append(ws, wants[k])
		}
		grants, err := st.KeyGrants(ctx, store.KeyGrantFilter{Vendor: "nuki"})
		if err != nil {
			t.Fatal(err)
		}
		queued := 0
		for _, c := range keys.Plan(ws, grants, now, resend) {
			if err := st.Tx(ctx, func(tx *store.Tx) error { return tx.RecordKeyChange(ctx, "nuki", c) }); err != nil {
				t.Fatal(err)
			}
			k := c.LockRef + "\x00" + string(c.Holder)
			if !chaos || r.IntN(20) > 0 {
				queues[k] = append(queues[k], c.KeyGrantChange)
				queued++
			}
		}
		return queued
	}
	deliver := func(k string, chaos bool) {
		q := queues[k]
		if len(q) == 0 {
			return
		}
		c := q[0]
		if v.down {
			if chaos && r.IntN(8) == 0 { // retries exhausted: dead-lettered
				queues[k] = q[1:]
			}
			return
		}
		if c.Seq <= applied[k] && c.Seq != applied[k] {
			t.Fatalf("seed %d: change %s applied after #%d: out of order", seed, c.ChangeID, applied[k])
		}
		v.apply(c)
		applied[k] = c.Seq
		if !chaos || r.IntN(6) > 0 { // the answer is lost now and then
			res := homecare.KeyGrantResult{ChangeID: c.ChangeID, Seq: c.Seq, Op: c.Op, LockRef: c.LockRef, Holder: c.Holder, State: store.KeyActive}
			if c.Op == homecare.KeyRevokeOp {
				res.State = store.KeyRevoked
			}
			if err := st.Tx(ctx, func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", res) }); err != nil {
				t.Fatal(err)
			}
		}
		if !chaos || r.IntN(10) > 0 { // delivered twice now and then
			queues[k] = q[1:]
		}
	}
	compare := func() {
		var list []homecare.VendorGrant
		for k, w := range v.grants {
			lock, holder, _ := strings.Cut(k, "\x00")
			list = append(list, homecare.VendorGrant{LockRef: lock, Holder: holder, VendorGrantRef: "a-" + holder, Enabled: true, KeyWindow: w})
		}
		if err := st.Tx(ctx, func(tx *store.Tx) error { _, err := tx.CompareVendorGrants(ctx, "nuki", list, true); return err }); err != nil {
			t.Fatal(err)
		}
	}
	for step := range 300 {
		now = now.Add(time.Minute)
		switch n := r.IntN(100); {
		case n < 20: // an order starts or changes for someone
			w := keys.Want{LockRef: locks[r.IntN(len(locks))], Holder: holders[r.IntN(len(holders))], ProviderID: "norr",
				OrderRef: "lifecare/B", Window: windows[r.IntN(len(windows))]}
			wants[w.LockRef+"\x00"+string(w.Holder)] = w
		case n < 32: // an order ends, a person leaves or is blocked
			if len(wants) > 0 {
				keys := slices.Sorted(maps.Keys(wants))
				delete(wants, keys[r.IntN(len(keys))])
			}
		case n < 36:
			v.down = !v.down
		case n < 38: // drift: the vendor loses a grant, or someone adds one by hand
			if len(v.grants) > 0 {
				keys := slices.Sorted(maps.Keys(v.grants))
				delete(v.grants, keys[r.IntN(len(keys))])
			}
			if r.IntN(2) == 0 {
				v.grants[locks[r.IntN(len(locks))]+"\x00"+string(holders[r.IntN(len(holders))])] = windows[0]
			}
		case n < 42:
			compare()
		}
		if step%3 == 0 {
			plan(true)
		}
		for _, k := range slices.Sorted(maps.Keys(queues)) {
			if r.IntN(3) == 0 {
				deliver(k, true)
			}
		}
	}
	// The chaos stops: the vendor is up, nothing is lost any more; the hub compares and
	// converges until nothing changes.
	v.down = false
	for round := 0; ; round++ {
		if round > 20 {
			t.Fatalf("seed %d: no convergence after 20 rounds", seed)
		}
		now = now.Add(resend + time.Minute)
		compare()
		if plan(false) == 0 {
			break
		}
		for _, k := range slices.Sorted(maps.Keys(queues)) {
			for len(queues[k]) > 0 {
				deliver(k, false)
			}
		}
	}
	var got, want []string
	for k, w := range v.grants {
		if ww, ok := wants[k]; !ok || !ww.Window.Equal(w) {
			got = append(got, strings.ReplaceAll(k, "\x00", " "))
		}
	}
	for k := range wants {
		if _, ok := v.grants[k]; !ok {
			want = append(want, strings.ReplaceAll(k, "\x00", " "))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(got)+len(want) > 0 {
		t.Errorf("seed %d: the vendor holds grants nobody wants or with another window %v, and lacks %v", seed, got, want)
	}
}
