package demo

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// openCityStore opens a fresh store of db's dialect on clock, and a plain connection to
// it for counting.
func openCityStore(t *testing.T, db storetest.Database, clock *CityClock) (*store.Store, *sql.DB) {
	t.Helper()
	dsn, driver := db.DSN, "pgx"
	if dsn == "" {
		dsn, driver = filepath.Join(t.TempDir(), "city.db"), "sqlite"
	}
	st, err := store.OpenWith(t.Context(), dsn, store.Options{PersonIDKey: bytes.Repeat([]byte("k"), 32),
		PersonIDEncryptionKey: bytes.Repeat([]byte("e"), 32), SQLiteSynchronous: "NORMAL", Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return st, raw
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// visitRows are the visits as stored, one line each, by external id.
func visitRows(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT v.external_id, v.client_id, v.provider_ref, v.unit_ref, v.start_at, v.end_at,
		v.local_date, v.duration_minutes, v.start_method, v.end_method, v.status, v.shared_visit_ref, v.flags,
		(SELECT COUNT(*) FROM visit_staff s WHERE s.visit_id = v.id), (SELECT COUNT(*) FROM visit_insatser i WHERE i.visit_id = v.id)
		FROM visits v ORDER BY v.external_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals := make([]any, 15)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCity(t *testing.T) {
	month, _ := report.ParseMonth("2026-10")
	opts := CityOptions{Month: month, Visits: 2000, LockEvents: 4000, Seed: 7}
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			var runs [2][]string
			for k := range runs {
				clock := &CityClock{}
				d := db
				if k == 1 && db.DSN != "" {
					// PostgreSQL's second store in a database of its own (SQLite's is a
					// file of its own anyway).
					d.DSN = storetest.FreshPostgres(t, storetest.Cluster(t))
				}
				st, raw := openCityStore(t, d, clock)
				o := opts
				o.Clock = clock
				stats, err := GenerateCity(t.Context(), st, o)
				if err != nil {
					t.Fatal(err)
				}
				if stats.Visits != 2000 || stats.LockEvents != 4000 {
					t.Fatalf("stats: %d visits, %d lock events; want 2000 and 4000", stats.Visits, stats.LockEvents)
				}
				for q, want := range map[string]int{
					`SELECT COUNT(*) FROM visits`:                            2000,
					`SELECT COUNT(*) FROM lock_events`:                       4000,
					`SELECT COUNT(*) FROM orders`:                            stats.Orders,
					`SELECT COUNT(*) FROM key_grants WHERE state = 'active'`: stats.KeyGrants,
				} {
					if got := count(t, raw, q); got != want {
						t.Errorf("%s = %d, want %d", q, got, want)
					}
				}
				if stats.Clients < 15 || stats.Clients > 40 {
					t.Errorf("%d clients for 2000 visits in 31 days, want about 22", stats.Clients)
				}
				checkCityShares(t, raw)
				orders, err := st.ListOrders(t.Context(), store.OrderFilter{Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				if len(orders) != stats.Orders {
					t.Errorf("%d orders listed, want %d", len(orders), stats.Orders)
				}
				for _, o := range orders {
					if !homecare.IsOfficialTestNumber(o.Client.PersonID) {
						t.Errorf("order %s: client is not an official test number", o.ExternalID)
					}
					if o.Status != homecare.OrderStatusExecuted && !o.Status.Closed() {
						t.Errorf("order %s: status %s, want executed", o.ExternalID, o.Status)
					}
				}
				runs[k] = visitRows(t, raw)
			}
			if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
				t.Errorf("the same seed gave other visits (-first +second):\n%s", diff)
			}
		})
	}
}

// checkCityShares checks the distributions roughly: start methods, statuses, lock events
// resolved to their client.
func checkCityShares(t *testing.T, db *sql.DB) {
	t.Helper()
	visits := float64(count(t, db, `SELECT COUNT(*) FROM visits`))
	share := func(q string) float64 { return float64(count(t, db, q)) / visits }
	for _, c := range []struct {
		name   string
		query  string
		lo, hi float64
	}{
		{"tag starts", `SELECT COUNT(*) FROM visits WHERE start_method = 'tag'`, 0.80, 0.90},
		{"manual starts", `SELECT COUNT(*) FROM visits WHERE start_method = 'manual'`, 0.07, 0.14},
		{"declined", `SELECT COUNT(*) FROM visits WHERE status = 'declined'`, 0.001, 0.03},
		{"late", `SELECT COUNT(*) FROM visits WHERE flags LIKE '%late%'`, 0.005, 0.04},
		{"double staffed", `SELECT COUNT(*) FROM visits v WHERE (SELECT COUNT(*) FROM visit_staff s WHERE s.visit_id = v.id) = 2`, 0.001, 0.15},
		{"lock events resolved to a client (per visit)", `SELECT COUNT(*) FROM lock_events WHERE client_id IS NOT NULL`, 1.3, 2.0},
	} {
		if got := share(c.query); got < c.lo || got > c.hi {
			t.Errorf("%s: %.3f of the visits, want %.3f-%.3f", c.name, got, c.lo, c.hi)
		}
	}
}

// TestCityVisitsValid checks every visit of a small city against the canonical
// contract, as the pipeline would before storing it.
func TestCityVisitsValid(t *testing.T) {
	month, _ := report.ParseMonth("2026-10")
	c := &city{opts: CityOptions{Month: month, Visits: 20000, LockEvents: 40000, Seed: 3}, loc: Stockholm(), first: month.First()}
	c.days = month.Last().Day
	if err := c.build(); err != nil {
		t.Fatal(err)
	}
	seq, shared, n := 0, 0, 0
	var events []cityLockEvent
	for d := range c.days {
		day := c.first.AddDays(d)
		for tm := range c.teams {
			r := rand.New(rand.NewPCG(1, uint64(tm)<<16|uint64(d)))
			for _, v := range c.teamDay(r, tm, day, &seq, &events) {
				n++
				if err := v.ValidateWith(homecare.ValidateOptions{AllowTestHSAIDs: true, RequireTestPersonIDs: true}); err != nil {
					t.Fatal(err)
				}
				if flags := v.Check(c.dayTime(day.AddDays(1), 12*60)); len(flags) > 0 && !strings.Contains(fmt.Sprint(flags), "too_long") {
					t.Errorf("visit %s: flags %v on receipt the next day", v.ExternalID, flags)
				}
				if v.SharedVisitRef != "" {
					shared++
				}
			}
		}
	}
	if n != 20000 {
		t.Errorf("%d visits, want 20000", n)
	}
	if shared == 0 || float64(shared)/float64(n) > 0.08 {
		t.Errorf("%d of %d visits shared by a couple, want a few per cent", shared, n)
	}
}
