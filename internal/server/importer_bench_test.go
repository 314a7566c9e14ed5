package server_test

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// BenchmarkImport runs TES visit lines through `knut import`'s engine:
// JSON Schema validation, the visit mapping and the durable SQLite store
// with group commit. One op is one line. The README's figures come from the
// 1,000,000-line run of `make bench`; this is its profile-friendly twin:
// go test -run '^$' -bench 'Import$' -cpuprofile cpu.out ./internal/server/
//
// KNUT_BENCH_POSTGRES_DSN runs it, and BenchmarkImportCSV, on PostgreSQL
// instead, in a fresh database of that server (PGTEST_FSYNC=on bash
// .ci/pgtest.sh DIR starts a durable one).
func BenchmarkImport(b *testing.B) {
	benchImport(b, "tes_visits", "visits.jsonl", demo.NewMunicipality(1).WriteVisitLines)
}

// BenchmarkImportCSV is BenchmarkImport for the nightly CSV export
// (tes_visits_csv: no schema, the CSV mapping; some visits double-staffed,
// partly declined or with the provider's staff ids), one op per row:
// go test -run '^$' -bench ImportCSV -benchtime 200000x ./internal/server/
func BenchmarkImportCSV(b *testing.B) {
	benchImport(b, "tes_visits_csv", "visits.csv", demo.NewMunicipality(1).WriteVisitCSV)
}

func benchImport(b *testing.B, pipeline, file string, write func(io.Writer, int, time.Time, uint64) error) {
	dir := b.TempDir()
	path := filepath.Join(dir, file)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := write(w, b.N, time.Date(2026, 1, 1, 0, 0, 0, 0, demo.Stockholm()), 1); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	cfg, err := config.Load("../../knut.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Store.DSN = filepath.Join(dir, "bench.db")
	if dsn := os.Getenv("KNUT_BENCH_POSTGRES_DSN"); dsn != "" {
		cfg.Store.DSN = storetest.FreshPostgres(b, dsn)
	}
	b.ResetTimer()
	stats, err := (&server.Importer{}).Run(b.Context(), cfg, server.Options{}, pipeline, []string{path})
	if err != nil {
		b.Fatal(err)
	}
	if stats.Stored != int64(b.N) {
		b.Fatalf("stored %d of %d (%d dead)", stats.Stored, b.N, stats.Dead)
	}
	b.ReportMetric(float64(b.N)/stats.Elapsed.Seconds(), "lines/s")
}
