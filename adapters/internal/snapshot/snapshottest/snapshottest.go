// Package snapshottest is the benchmark loop the directory sources (ldap, hsa) share: a
// full snapshot of a directory, timed, with its size and the process's peak RSS.
package snapshottest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Bench takes b.N snapshots with take, each of want records, and reports the
// snapshot's size and the process's peak RSS (setup and simulator included).
func Bench(b *testing.B, want int, take func(context.Context) (body []byte, count int, err error)) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for range b.N {
		body, n, err := take(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if n != want {
			b.Fatalf("snapshot of %d records, want %d", n, want)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/snapshot")
	b.ReportMetric(float64(PeakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// PeakRSS is the test process's VmHWM in bytes; 0 where /proc does not say.
func PeakRSS(b testing.TB) int64 {
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
