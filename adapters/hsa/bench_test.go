package hsa_test

import (
	"context"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot/snapshottest"
)

// BenchmarkSync20000 is a full sync of 20,000 staff from hsasim over
// mutual TLS: one GetCommissionMembers answer of 20,000 persons, then a
// GetEmployeeIncludingProtectedPerson and a
// GetCredentialsForPersonIncludingProtectedPerson per person, one call at
// a time (pause 0), every request and answer validated against the XSDs on
// both sides, and the sorted JSON lines with their digest. The simulator
// runs in the same process, so its work (its own validation included) is
// inside the figures.
//
//	go test -run '^$' -bench Sync20000 -benchmem -benchtime 1x ./adapters/hsa/
func BenchmarkSync20000(b *testing.B) {
	const n = 20_000
	e := start(b)
	pnrs := testPNRs(b)
	for i := range n {
		p := staff(i, pnrs[i])
		p.Protected = i%100 == 0
		e.sim.AddEmployee(p)
	}
	src, err := e.source(b, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	snapshottest.Bench(b, n, func(ctx context.Context) ([]byte, int, error) {
		snap, err := src.Snapshot(ctx)
		return snap.Body, snap.Count, err
	})
}
