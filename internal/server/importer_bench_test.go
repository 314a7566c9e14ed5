package server_test

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// BenchmarkImport runs TES visit lines through `knut import`'s engine:
// JSON Schema validation, the 15-field visit mapping and the durable SQLite
// store with group commit. One op is one line. The README's figures come
// from the 1,000,000-line run of `make bench`; this is its profile-friendly
// twin: go test -run '^$' -bench Import -cpuprofile cpu.out ./internal/server/
func BenchmarkImport(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "visits.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := demo.NewMunicipality(1).WriteVisitLines(w, b.N, time.Date(2026, 1, 1, 0, 0, 0, 0, demo.Stockholm()), 1); err != nil {
		b.Fatal(err)
	}
	w.Flush()
	f.Close()
	cfg, err := config.Load("../../knut.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Store.DSN = filepath.Join(dir, "bench.db")
	b.ResetTimer()
	stats, err := (&server.Importer{}).Run(b.Context(), cfg, server.Options{}, "tes_visits", []string{path})
	if err != nil {
		b.Fatal(err)
	}
	if stats.Stored != int64(b.N) {
		b.Fatalf("stored %d of %d", stats.Stored, b.N)
	}
	b.ReportMetric(float64(b.N)/stats.Elapsed.Seconds(), "lines/s")
}
