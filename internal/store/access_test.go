package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestAccessFacts: the review's facts gather a person's directory record, HSA-IDs and
// commissions, their calls through the hub in the period (their log list), their visits
// (those for another provider apart), and the callers no directory lists.
func TestAccessFacts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-24")
		anna := homecare.DirectoryPerson{Directory: "hsa", ProviderID: "omsorg-norr", GivenName: "Anna", FamilyName: "Test",
			HSAIDs:      []homecare.HSAID{"TSTNMT2321000156-1024", "TSTNMT2321000156-2024"},
			Commissions: []homecare.Commission{{HSAID: "TSTNMT2321000156-U1", ValidTo: mustDate(t, "2027-12-31")}}}
		if _, err := s.SyncStaff(ctx, "hsa", []homecare.DirectoryPerson{anna}, store.DefaultSyncGuard, "m"); err != nil {
			t.Fatal(err)
		}
		for _, e := range []store.AuditEntry{
			{Actor: "hsa:TSTNMT2321000156-2024", Action: "http.POST", Outcome: store.AuditOK, Resource: "pipeline:tes_sync"},
			{Actor: "hsa:SE2321000016-SYS1", Action: "http.POST", Outcome: store.AuditDenied, Resource: "pipeline:tes_sync"},
		} {
			if _, err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		v := sampleVisit(t) // staff TSTNMT2321000156-1024, omsorg-norr, 2026-11-23
		if _, err := s.UpsertVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
		v.ExternalID, v.ProviderID = "OTHER", "hemtjanst-soder"
		if _, err := s.UpsertVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
		// Staff of a provider whose directory the hub does not sync, seen in a visit.
		v.ExternalID, v.Staff = "SODER", []homecare.VisitStaff{{HSAID: "TSTNMT2321000156-3001", Role: homecare.RolePrimary}}
		if _, err := s.UpsertVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
		// Anna holds a key, and opened a door she has none for.
		c := store.KeyChange{KeyGrantChange: homecare.KeyGrantChange{ChangeID: "key/L1/TSTNMT2321000156-1024/1", Seq: 1, Op: homecare.KeyGrantOp,
			LockRef: "L1", Holder: "TSTNMT2321000156-1024", Reason: "test", KeyWindow: homecare.KeyWindow{ValidFrom: mustDate(t, "2026-11-01").In(homecare.Stockholm())}}}
		if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.RecordKeyChange(ctx, "nuki", c) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.InsertLockEvent(ctx, homecare.LockEvent{Vendor: "nuki", EventRef: "e1", LockRef: "L2", OccurredAt: v.StartAt,
				Action: "unlock", VendorAction: 1, Result: "success", Holder: "TSTNMT2321000156-1024"}, "m")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		facts, err := s.AccessFacts(ctx, mustDate(t, "2026-10-01"), mustDate(t, "2026-12-31"))
		if err != nil {
			t.Fatal(err)
		}
		if len(facts) != 3 {
			t.Fatalf("facts = %+v, want Anna, the system and Söder's staff", facts)
		}
		// By provider: the caller no directory lists first (none), then Söder's, then Anna.
		sys, soder, a := facts[0], facts[1], facts[2]
		if soder.Directory != "" || soder.ProviderID != "hemtjanst-soder" || soder.HSAIDs[0] != "TSTNMT2321000156-3001" ||
			soder.Visits != 1 || soder.ForeignVisits != 0 || soder.Since.IsZero() {
			t.Errorf("Söder's staff = %+v", soder)
		}
		if sys.Directory != "" || len(sys.Log) != 1 || sys.HSAIDs[0] != "SE2321000016-SYS1" {
			t.Errorf("system caller = %+v", sys)
		}
		if a.Key != "hsa:TSTNMT2321000156-1024" || len(a.HSAIDs) != 2 || len(a.Commissions) != 1 || len(a.Log) != 1 ||
			a.Visits != 2 || a.ForeignVisits != 1 || a.LastActivity.Before(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) || a.Since.IsZero() ||
			a.Keys != 1 || a.OpenedWithoutGrant != 1 || a.OpenedWithoutVisit != 0 {
			t.Errorf("Anna = %+v", a)
		}
		// A quarter before: her calls and visits are not in it.
		facts, err = s.AccessFacts(ctx, mustDate(t, "2026-07-01"), mustDate(t, "2026-09-30"))
		if err != nil || len(facts) != 1 || facts[0].Visits != 0 || len(facts[0].Log) != 0 || !facts[0].LastActivity.IsZero() {
			t.Errorf("2026Q3 = %+v, %v", facts, err)
		}
	})
}
