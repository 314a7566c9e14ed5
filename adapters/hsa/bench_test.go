package hsa_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
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
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for range b.N {
		snap, err := src.Snapshot(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if snap.Count != n {
			b.Fatalf("snapshot of %d records, want %d", snap.Count, n)
		}
		size = len(snap.Body)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/snapshot")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// peakRSS is the test process's VmHWM (setup and simulator included), in
// bytes.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	return 0
}
