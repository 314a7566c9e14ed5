package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestSyncStaff: joiners, movers and leavers across syncs of one directory; an HSA-ID
// keeps the person through a personnummer change, a person's new HSA-ID beside the old
// or under the same personnummer is the same person; the guard stops a sync that would
// end too many, an empty answer always, and changes nothing.
func TestSyncStaff(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-24")
		person := func(n int) homecare.DirectoryPerson {
			return homecare.DirectoryPerson{Directory: "hsa", ProviderID: "omsorg-norr",
				HSAIDs:    []homecare.HSAID{homecare.HSAID(fmt.Sprintf("TSTNMT2321000156-%04d", n))},
				GivenName: "Test", FamilyName: fmt.Sprintf("Person%d", n), Title: "Undersköterska"}
		}
		var staff []homecare.DirectoryPerson
		for n := range 10 {
			staff = append(staff, person(1000+n))
		}
		lov := homecare.DirectoryPerson{Directory: "hsa", ProviderID: "omsorg-norr", StaffRef: "LOV-0017", FamilyName: "Lov"}
		staff = append(staff, lov)
		staff[0].PersonID = mustPID(t, testPNR1)
		staff[1].Commissions = []homecare.Commission{{HSAID: "TSTNMT2321000156-U101", ValidTo: mustDate(t, "2027-12-31")}}

		sync := func(people []homecare.DirectoryPerson) store.StaffSync {
			t.Helper()
			r, err := s.SyncStaff(ctx, "hsa", people, store.DefaultSyncGuard, "msg")
			if err != nil {
				t.Fatalf("SyncStaff: %v", err)
			}
			return r
		}
		events := func(r store.StaffSync) string {
			var out []string
			for _, e := range r.Events {
				out = append(out, string(e.Kind)+" "+e.Key+" "+e.Reason)
			}
			return strings.Join(out, "; ")
		}

		if r := sync(staff); r.Count(store.StaffJoined) != 11 || r.Active != 11 {
			t.Fatalf("first sync: %s, %d active; want 11 joined", events(r), r.Active)
		}
		if r := sync(staff); len(r.Events) != 0 {
			t.Errorf("the same again: %s; want nothing", events(r))
		}

		next := append([]homecare.DirectoryPerson(nil), staff...)
		next[2].Title = "Sjuksköterska"                                  // a mover
		next[3].EmploymentEnd = mustDate(t, "2026-11-23")                // ended yesterday
		next[1].Commissions[0].ValidTo = mustDate(t, "2026-11-20")       // every commission ended
		next[4].HSAIDs = append(next[4].HSAIDs, "TSTNMT2321000156-9004") // a second HSA-ID
		next[0].PersonID = mustPID(t, testPNR2)                          // a new personnummer, the same HSA-ID
		next = append(next[:5], next[6:]...)                             // person 1005 is gone
		r := sync(next)
		want := "staff.changed hsa:TSTNMT2321000156-1000 ; staff.left hsa:TSTNMT2321000156-1001 commissions ended; " +
			"staff.changed hsa:TSTNMT2321000156-1002 ; staff.left hsa:TSTNMT2321000156-1003 employment ended; " +
			"staff.changed hsa:TSTNMT2321000156-1004 ; staff.left hsa:TSTNMT2321000156-1005 not in the directory"
		if got := events(r); got != want || r.Active != 8 {
			t.Errorf("second sync:\n got %s (%d active)\nwant %s (8 active)", got, r.Active, want)
		}

		// The same person under a new first HSA-ID (the old one gone), known by the personnummer.
		moved := append([]homecare.DirectoryPerson(nil), next...)
		moved[0].HSAIDs = []homecare.HSAID{"TSTNMT2321000156-7000"}
		if r := sync(moved); events(r) != "staff.changed hsa:TSTNMT2321000156-7000 " {
			t.Errorf("a new HSA-ID for a known personnummer: %s; want one change", events(r))
		}

		// The guard: an empty answer, and one that would end five of eight (more than a
		// tenth and more than the minimum, set to three here), stop and change nothing.
		for name, people := range map[string][]homecare.DirectoryPerson{"empty": nil, "partial": moved[:3]} {
			_, err := s.SyncStaff(ctx, "hsa", people, store.SyncGuard{MaxShare: 0.10, MinCount: 3}, "msg")
			if !errors.Is(err, store.ErrMassRemoval) {
				t.Errorf("%s answer: %v, want ErrMassRemoval", name, err)
			}
		}
		if r := sync(moved); len(r.Events) != 0 || r.Active != 8 {
			t.Errorf("after the stopped syncs: %s, %d active; want nothing changed, 8 active", events(r), r.Active)
		}

		// A person back in the directory joins again.
		back := append(append([]homecare.DirectoryPerson(nil), moved...), person(1005))
		if r := sync(back); events(r) != "staff.joined hsa:TSTNMT2321000156-1005 back in the directory" {
			t.Errorf("back: %s", events(r))
		}

		// One HSA-ID for two people, or a record from another directory, refuses the snapshot.
		dup := append(append([]homecare.DirectoryPerson(nil), back...), person(1002))
		dup[len(dup)-1].FamilyName = "Someone else"
		if _, err := s.SyncStaff(ctx, "hsa", dup, store.DefaultSyncGuard, "msg"); err == nil || !strings.Contains(err.Error(), "list the same HSA-ID") {
			t.Errorf("duplicate HSA-ID: %v", err)
		}
		other := append([]homecare.DirectoryPerson(nil), back...)
		other[0].Directory = "ldap"
		if _, err := s.SyncStaff(ctx, "hsa", other, store.DefaultSyncGuard, "msg"); err == nil {
			t.Error("a record of another directory: no error")
		}
		all, err := s.StaffEvents(ctx, "hsa")
		if err != nil || len(all) != 11+6+1+1 {
			t.Fatalf("staff events = %d, %v; want 19", len(all), err)
		}
		if e := all[0]; e.Kind != store.StaffJoined || e.Directory != "hsa" || e.ProviderID != "omsorg-norr" || e.Day != mustDate(t, "2026-11-24") {
			t.Errorf("first event = %+v", e)
		}
		if every, err := s.StaffEvents(ctx, ""); err != nil || len(every) != len(all) {
			t.Errorf("every directory's events = %d, %v", len(every), err)
		}
	})
}
