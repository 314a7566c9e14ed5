package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// BenchmarkSyncStaff: the store's side of a directory sync at city scale: 20,000 staff
// known, a snapshot in which 1 % left and 1 % changed title; each iteration syncs the
// full list and then the changed one (SQLite, durable):
//
//	go test -run '^$' -bench SyncStaff -benchmem -benchtime 3x ./internal/store/
func BenchmarkSyncStaff(b *testing.B) {
	const n = 20000
	ctx := context.Background()
	s := newTestDB(b, store.DialectSQLite).open(b)
	full := make([]homecare.DirectoryPerson, n)
	for i := range full {
		full[i] = homecare.DirectoryPerson{Directory: "hsa", ProviderID: fmt.Sprintf("provider-%d", i%40),
			HSAIDs:    []homecare.HSAID{homecare.HSAID(fmt.Sprintf("TSTNMT2321000156-%05d", i))},
			GivenName: "Test", FamilyName: fmt.Sprintf("Person%d", i), Title: "Undersköterska",
			Commissions: []homecare.Commission{{HSAID: homecare.HSAID(fmt.Sprintf("TSTNMT2321000156-U%03d", i%40))}}}
	}
	var changed []homecare.DirectoryPerson
	for i, p := range full {
		switch {
		case i%100 == 0:
			continue // left
		case i%100 == 1:
			p.Title = "Sjuksköterska"
		}
		changed = append(changed, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, snap := range [][]homecare.DirectoryPerson{full, changed} {
			r, err := s.SyncStaff(ctx, "hsa", snap, store.DefaultSyncGuard, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if len(snap) == len(changed) && (r.Count(store.StaffLeft) != n/100 || r.Count(store.StaffChanged) != n/100) {
				b.Fatalf("changed snapshot: %d left, %d changed", r.Count(store.StaffLeft), r.Count(store.StaffChanged))
			}
		}
	}
}
