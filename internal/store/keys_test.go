package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

const testHolder = homecare.HSAID("TSTNMT2321000156-1001")

func keyChange(seq int64, op homecare.KeyOp, from string) store.KeyChange {
	w := homecare.KeyWindow{}
	if op == homecare.KeyGrantOp {
		d, _ := homecare.ParseDate(from)
		w.ValidFrom = d.In(homecare.Stockholm())
	}
	return store.KeyChange{KeyGrantChange: homecare.KeyGrantChange{ChangeID: homecare.KeyChangeID("4711", testHolder, seq), Seq: seq, Op: op,
		LockRef: "4711", Holder: testHolder, ProviderID: "omsorg-norr", Reason: "test", KeyWindow: w},
		Client: homecare.OfficialTestPersonIDs()[0], OrderRef: "lifecare/BEST-1"}
}

func result(seq int64, op homecare.KeyOp) homecare.KeyGrantResult {
	state := store.KeyActive
	if op == homecare.KeyRevokeOp {
		state = store.KeyRevoked
	}
	return homecare.KeyGrantResult{ChangeID: homecare.KeyChangeID("4711", testHolder, seq), Seq: seq, Op: op, LockRef: "4711",
		Holder: testHolder, VendorGrantRef: "auth-1", State: state}
}

// TestKeyGrantLifecycle: a grant handed on is pending until the vendor confirms it, a
// revoke after it is revoking until confirmed; an answer to an older change never
// undoes a newer one, and a change must be numbered past the last.
func TestKeyGrantLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-12-01")
		tx := func(fn func(tx *store.Tx) error) error { return s.Tx(ctx, fn) }
		get := func() store.KeyGrant {
			t.Helper()
			gs, err := s.KeyGrants(ctx, store.KeyGrantFilter{Vendor: "nuki", Holder: testHolder})
			if err != nil || len(gs) != 1 {
				t.Fatalf("key grants = %v, %v", gs, err)
			}
			return gs[0]
		}
		if err := tx(func(tx *store.Tx) error {
			return tx.RecordKeyChange(ctx, "nuki", keyChange(1, homecare.KeyGrantOp, "2026-11-01"))
		}); err != nil {
			t.Fatal(err)
		}
		if g := get(); g.State != store.KeyPending || g.Seq != 1 || g.AppliedSeq != 0 || g.Client != homecare.OfficialTestPersonIDs()[0] ||
			g.OrderRef != "lifecare/BEST-1" || !g.Window.ValidFrom.Equal(mustDate(t, "2026-11-01").In(homecare.Stockholm())) {
			t.Errorf("after the grant: %+v", g)
		}
		if err := tx(func(tx *store.Tx) error {
			return tx.RecordKeyChange(ctx, "nuki", keyChange(1, homecare.KeyRevokeOp, ""))
		}); err == nil {
			t.Error("a change numbered as the last was recorded")
		}
		// The revoke goes out before the grant's answer comes back.
		if err := tx(func(tx *store.Tx) error {
			return tx.RecordKeyChange(ctx, "nuki", keyChange(2, homecare.KeyRevokeOp, ""))
		}); err != nil {
			t.Fatal(err)
		}
		if err := tx(func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", result(1, homecare.KeyGrantOp)) }); err != nil {
			t.Fatal(err)
		}
		if g := get(); g.State != store.KeyRevoking || g.AppliedSeq != 1 || g.VendorGrantRef != "auth-1" || g.Client.IsZero() {
			t.Errorf("the grant's answer after the revoke went out: %+v", g)
		}
		if err := tx(func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", result(2, homecare.KeyRevokeOp)) }); err != nil {
			t.Fatal(err)
		}
		// The grant's answer again (a retried reply) changes nothing.
		if err := tx(func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", result(1, homecare.KeyGrantOp)) }); err != nil {
			t.Fatal(err)
		}
		if g := get(); g.State != store.KeyRevoked || g.AppliedSeq != 2 || g.RevokedAt.IsZero() || g.AtVendor {
			t.Errorf("after the revoke's answer: %+v", g)
		}
		err := tx(func(tx *store.Tx) error {
			r := result(1, homecare.KeyGrantOp)
			r.Holder = "TSTNMT2321000156-9999"
			return tx.ApplyKeyGrantResult(ctx, "nuki", r)
		})
		if err == nil {
			t.Error("an answer for a grant the hub never made was taken")
		}
	})
}

// TestCompareVendorGrants: the vendor's list marks each row at the vendor or not, adopts
// a grant made under an HSA-ID the hub has no row for, and leaves the vendor's own alone.
func TestCompareVendorGrants(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-12-01")
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			return tx.RecordKeyChange(ctx, "nuki", keyChange(1, homecare.KeyGrantOp, "2026-11-01"))
		}); err != nil {
			t.Fatal(err)
		}
		from := mustDate(t, "2026-10-01").In(homecare.Stockholm())
		list := []homecare.VendorGrant{
			{LockRef: "4712", VendorGrantRef: "a-2", Holder: "TSTNMT2321000156-1002", Enabled: true, KeyWindow: homecare.KeyWindow{ValidFrom: from, Weekdays: 124}},
			{LockRef: "4712", VendorGrantRef: "a-3", Holder: "Fastighetsägaren", Enabled: true},
		}
		var adopted int
		if err := s.Tx(ctx, func(tx *store.Tx) (err error) { adopted, err = tx.CompareVendorGrants(ctx, "nuki", list, true); return }); err != nil {
			t.Fatal(err)
		}
		gs, err := s.KeyGrants(ctx, store.KeyGrantFilter{Vendor: "nuki"})
		if err != nil {
			t.Fatal(err)
		}
		if adopted != 1 || len(gs) != 2 {
			t.Fatalf("adopted %d, grants %+v; want the HSA-ID's adopted, the owner's left alone", adopted, gs)
		}
		ours, found := gs[0], gs[1]
		if ours.AtVendor || ours.CheckedAt.IsZero() {
			t.Errorf("the hub's pending grant, missing from the list: %+v", ours)
		}
		if found.Holder != "TSTNMT2321000156-1002" || found.Op != homecare.KeyGrantOp || found.State != store.KeyActive || !found.AtVendor ||
			found.Seq != 0 || found.Window.Weekdays != 124 || found.VendorGrantRef != "a-2" {
			t.Errorf("the adopted grant: %+v", found)
		}
	})
}

// TestLockEvents: an event is stored once, resolved to its grant and client; an unlock
// without a grant in force is a no_grant finding, one within the grant's window is not.
func TestLockEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-12-01")
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			return tx.RecordKeyChange(ctx, "nuki", keyChange(1, homecare.KeyGrantOp, "2026-11-01"))
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", result(1, homecare.KeyGrantOp)) }); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC) // after the confirmation (noon Stockholm)
		unlock := func(ref string, holder homecare.HSAID, at time.Time) homecare.LockEvent {
			return homecare.LockEvent{Vendor: "nuki", EventRef: ref, LockRef: "4711", OccurredAt: at, Action: "unlock", VendorAction: 1,
				Trigger: "app", Result: "success", Holder: string(holder)}
		}
		for _, tt := range []struct {
			e       homecare.LockEvent
			dup     bool
			finding string
		}{
			{unlock("1", testHolder, at), false, ""},
			{unlock("1", testHolder, at), true, ""},
			{unlock("2", "TSTNMT2321000156-1002", at), false, store.FindingNoGrant},
			{unlock("3", testHolder, at.Add(-48*time.Hour)), false, store.FindingNoGrant}, // before the vendor had it
		} {
			var dup bool
			err := s.Tx(ctx, func(tx *store.Tx) (err error) { dup, err = tx.InsertLockEvent(ctx, tt.e, "m"); return })
			if err != nil || dup != tt.dup {
				t.Errorf("event %s: dup %v, %v; want dup %v", tt.e.EventRef, dup, err, tt.dup)
			}
		}
		evs, err := s.LockEvents(ctx, store.LockEventFilter{LockRef: "4711"})
		if err != nil || len(evs) != 3 {
			t.Fatalf("lock events = %v, %v", evs, err)
		}
		want := map[string]string{"1": "", "2": store.FindingNoGrant, "3": store.FindingNoGrant}
		for _, e := range evs {
			if e.Finding != want[e.EventRef] {
				t.Errorf("event %s: finding %q, want %q", e.EventRef, e.Finding, want[e.EventRef])
			}
		}
		// Oldest first: the one before the grant, then 1 and 2 at the same time by ref.
		if evs[1].EventRef != "1" || evs[1].Client != homecare.OfficialTestPersonIDs()[0] || evs[1].GrantID == "" {
			t.Errorf("the granted unlock: %+v, want its client and grant", evs[1])
		}
		byClient, err := s.LockEvents(ctx, store.LockEventFilter{Client: homecare.OfficialTestPersonIDs()[0]})
		if err != nil || len(byClient) != 2 {
			t.Errorf("the client's door's events = %d, %v; want the two of the grant's holder", len(byClient), err)
		}
	})
}

// TestCursors: a source's cursor survives; saving replaces it.
func TestCursors(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		if _, ok, err := s.Cursor(ctx, "nuki_lock_events/log"); ok || err != nil {
			t.Fatalf("a cursor before any was saved: %v, %v", ok, err)
		}
		for _, v := range []string{"2026-12-01T10:00:00Z/17", "2026-12-01T11:00:00Z/42"} {
			if err := s.SaveCursor(ctx, "nuki_lock_events/log", v); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok, err := s.Cursor(ctx, "nuki_lock_events/log"); !ok || err != nil || v != "2026-12-01T11:00:00Z/42" {
			t.Errorf("cursor = %q, %v, %v", v, ok, err)
		}
	})
}

// TestReviewLockEvents: a door opened with a grant, with no visit of the client within
// the margin, is a no_visit finding; a visit synced later clears it.
func TestReviewLockEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-20")
		v := sampleVisit(t)
		c := keyChange(1, homecare.KeyGrantOp, "2026-11-01")
		c.Client = v.Client.PersonID
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.RecordKeyChange(ctx, "nuki", c) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", result(1, homecare.KeyGrantOp)) }); err != nil {
			t.Fatal(err)
		}
		for ref, at := range map[string]time.Time{"near": v.StartAt.Add(-10 * time.Minute), "far": v.StartAt.Add(5 * time.Hour)} {
			e := homecare.LockEvent{Vendor: "nuki", EventRef: ref, LockRef: "4711", OccurredAt: at, Action: "unlock", VendorAction: 1,
				Result: "success", Holder: string(testHolder)}
			if err := s.Tx(ctx, func(tx *store.Tx) error { _, err := tx.InsertLockEvent(ctx, e, "m"); return err }); err != nil {
				t.Fatal(err)
			}
		}
		day := homecare.LocalDate(v.StartAt)
		findings := func() map[string]string {
			t.Helper()
			evs, err := s.LockEvents(ctx, store.LockEventFilter{LockRef: "4711"})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, e := range evs {
				out[e.EventRef] = e.Finding
			}
			return out
		}
		if _, n, err := s.ReviewLockEvents(ctx, day, day); err != nil || n != 2 {
			t.Fatalf("review before the visit: %d changed, %v; want both doors flagged", n, err)
		}
		if f := findings(); f["near"] != store.FindingNoVisit || f["far"] != store.FindingNoVisit {
			t.Errorf("before the visit was stored: %v", f)
		}
		if _, err := s.UpsertVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ReviewLockEvents(ctx, day, day); err != nil {
			t.Fatal(err)
		}
		if f := findings(); f["near"] != "" || f["far"] != store.FindingNoVisit {
			t.Errorf("after the visit was stored: %v, want the opening near it cleared", f)
		}
	})
}
