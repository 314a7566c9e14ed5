package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestReviewVisits: the tag register and the staff's other visits flag what a visit
// alone cannot show, and a second review, or one after the register is put right,
// changes only what changed.
func TestReviewVisits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-24")
		a, b := mustPID(t, testPNR1), mustPID(t, testPNR2)
		orderSince(t, s, "2026-11-01") // a's order with omsorg-norr; b has none
		day := mustDate(t, "2026-11-23")
		if err := s.RegisterTag(ctx, "04:a2:24:b2", a, mustDate(t, "2026-11-01"), "inside the door frame", "os:test"); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterTag(ctx, "04A224C3", b, mustDate(t, "2026-11-01"), "", "os:test"); err != nil {
			t.Fatal(err)
		}
		// A tag at one door cannot be registered at another's; at its own again is nothing.
		if err := s.RegisterTag(ctx, "04A224B2", b, day, "", "os:test"); !errors.Is(err, store.ErrTagTaken) {
			t.Errorf("the same tag at another door: %v, want ErrTagTaken", err)
		}
		if err := s.RegisterTag(ctx, "04a224b2", a, day, "", "os:test"); err != nil {
			t.Errorf("the same tag again: %v", err)
		}

		at := func(hhmm string) time.Time {
			tm, _ := time.ParseInLocation("2006-01-02 15:04", "2026-11-23 "+hhmm, homecare.Stockholm())
			return tm
		}
		visit := func(id string, who homecare.PersonID, tag, staff, from, to string) homecare.Visit {
			v := homecare.Visit{SourceSystem: "tes", ExternalID: id, Client: homecare.VisitClient{PersonID: who},
				ProviderID: "omsorg-norr", StartAt: at(from), EndAt: at(to), LocalDate: day,
				DurationMinutes: int(at(to).Sub(at(from)).Minutes()), StartMethod: homecare.MethodTag, EndMethod: homecare.MethodTag,
				StartTagUID: tag, EndTagUID: tag, Status: homecare.VisitCompleted,
				Staff: []homecare.VisitStaff{{HSAID: homecare.HSAID(staff), Role: homecare.RolePrimary}}}
			return v
		}
		mine := visit("OWN", a, "04A224B2", "TSTNMT2321000156-1001", "08:00", "08:30")
		foreign := visit("FOREIGN", b, "04A224B2", "TSTNMT2321000156-1002", "09:00", "09:20")
		unknown := visit("UNKNOWN", b, "04A224FF", "TSTNMT2321000156-1003", "10:00", "10:20")
		// The same person on two visits at once, once by provider staff id.
		first := visit("OVERLAP-1", a, "04A224B2", "TSTNMT2321000156-1004", "12:00", "12:40")
		second := visit("OVERLAP-2", b, "04A224C3", "TSTNMT2321000156-1004", "12:30", "12:50")
		lov1 := visit("LOV-1", a, "04A224B2", "", "14:00", "14:30")
		lov1.Staff = []homecare.VisitStaff{{StaffRef: "LOV-0017", Role: homecare.RolePrimary}}
		lov2 := visit("LOV-2", b, "04A224C3", "", "14:20", "14:40")
		lov2.Staff = lov1.Staff
		// Cohabitants visited together: one visit per client, linked, not an overlap.
		sharedA := visit("SAMBO-A", a, "04A224B2", "TSTNMT2321000156-1005", "16:00", "16:30")
		sharedB := visit("SAMBO-B", b, "04A224C3", "TSTNMT2321000156-1005", "16:00", "16:30")
		sharedA.SharedVisitRef, sharedB.SharedVisitRef = "SAMBO-B", "SAMBO-A"
		// Back to back is no overlap.
		next := visit("NEXT", b, "04A224C3", "TSTNMT2321000156-1001", "08:30", "08:50")
		for _, v := range []homecare.Visit{mine, foreign, unknown, first, second, lov1, lov2, sharedA, sharedB, next} {
			if _, err := s.UpsertVisit(ctx, v); err != nil {
				t.Fatal(err)
			}
		}

		st, err := s.ReviewVisits(ctx, day, day)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]homecare.VisitFlag{
			"OWN": nil, "FOREIGN": {homecare.FlagForeignTag}, "UNKNOWN": {homecare.FlagUnknownTag},
			"OVERLAP-1": {homecare.FlagStaffOverlap}, "OVERLAP-2": {homecare.FlagStaffOverlap},
			"LOV-1": {homecare.FlagStaffOverlap}, "LOV-2": {homecare.FlagStaffOverlap},
			"SAMBO-A": nil, "SAMBO-B": nil, "NEXT": nil,
		}
		// b has no order: b's visits are no_order too.
		ofB := map[string]bool{"FOREIGN": true, "UNKNOWN": true, "OVERLAP-2": true, "LOV-2": true, "SAMBO-B": true, "NEXT": true}
		check := func(want map[string][]homecare.VisitFlag) {
			t.Helper()
			for id, flags := range want {
				if ofB[id] {
					flags = append(slices.Clone(flags), homecare.FlagNoOrder)
				}
				v, err := s.Visit(ctx, "tes", id)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(v.Flags, flags) {
					t.Errorf("%s flags %v, want %v", id, v.Flags, flags)
				}
			}
		}
		check(want)
		if st.Visits != 10 || st.Changed != 8 || st.ForeignTag != 1 || st.UnknownTag != 1 || st.StaffOverlap != 4 || st.NoOrder != 6 {
			t.Errorf("review = %+v", st)
		}
		// Again: nothing changes.
		if st, err := s.ReviewVisits(ctx, day, day); err != nil || st.Changed != 0 {
			t.Errorf("second review = %+v, %v; want nothing changed", st, err)
		}
		// The unknown tag is registered at its client's door after all; the foreign one
		// was moved to b's door that morning (ended at a's, registered at b's).
		if err := s.RegisterTag(ctx, "04A224FF", b, mustDate(t, "2026-11-20"), "", "os:test"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveTag(ctx, "04A224B2", day, "os:test"); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterTag(ctx, "04A224B2", b, day, "", "os:test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReviewVisits(ctx, day, day); err != nil {
			t.Fatal(err)
		}
		want["UNKNOWN"], want["FOREIGN"] = nil, nil
		want["OWN"] = []homecare.VisitFlag{homecare.FlagForeignTag}
		want["SAMBO-A"] = []homecare.VisitFlag{homecare.FlagForeignTag}
		want["OVERLAP-1"] = []homecare.VisitFlag{homecare.FlagForeignTag, homecare.FlagStaffOverlap}
		want["LOV-1"] = []homecare.VisitFlag{homecare.FlagForeignTag, homecare.FlagStaffOverlap}
		check(want)
		if err := s.RemoveTag(ctx, "04A22400", day, "os:test"); err == nil {
			t.Error("removing a tag at no door: no error")
		}
		regs, err := s.Tags(ctx, b)
		if err != nil || len(regs) != 3 || regs[0].UID != "04A224B2" || regs[0].ValidFrom != day || !regs[0].ValidTo.IsZero() {
			t.Errorf("b's tags = %+v, %v", regs, err)
		}
		all, err := s.Tags(ctx, homecare.PersonID{})
		if err != nil || len(all) != 4 || all[0].Client != a || all[0].ValidTo != day || all[0].Location != "inside the door frame" {
			t.Errorf("the register = %+v, %v", all, err)
		}
	})
}
