package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestWriterWriteBehindBatches runs import ops through a Writer in batches
// large enough that every table's rows take several multi-row statements
// (one pipeline on PostgreSQL): first only new messages and visits, all
// received late, whose client-days are queued once each; then a batch that
// also holds a duplicate message and a correction of a stored visit, which
// the write-behind cannot take and the Writer re-runs op by op.
func TestWriterWriteBehindBatches(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		w := s.NewWriter(store.WriterOptions{MaxBatch: 512, MaxDelay: time.Second})
		defer w.Close()
		pids := homecare.OfficialTestPersonIDs()[:3]
		base := sampleVisit(t)
		// visit i: visits 2k and 2k+1 are one client's on day k, two hours
		// apart; every fourth is double-staffed; 1-3 insatser.
		visit := func(i int) homecare.Visit {
			v := base
			v.ExternalID = fmt.Sprintf("WB-%04d", i)
			v.Client = homecare.VisitClient{PersonID: pids[(i/2)%len(pids)]}
			shift := time.Duration(i/2)*24*time.Hour + time.Duration(i%2)*2*time.Hour
			v.StartAt, v.EndAt = base.StartAt.Add(shift), base.EndAt.Add(shift)
			v.DeviceStartAt, v.DeviceEndAt = base.DeviceStartAt.Add(shift), base.DeviceEndAt.Add(shift)
			v.LocalDate = homecare.LocalDate(v.StartAt)
			v.Staff = []homecare.VisitStaff{{HSAID: "TSTNMT2321000156-1024", Role: homecare.RolePrimary}}
			if i%4 == 0 {
				v.Staff = append(v.Staff, homecare.VisitStaff{StaffRef: fmt.Sprintf("LOV-%d", i), Role: homecare.RoleSecond})
			}
			v.Insatser = nil
			for k := range 1 + i%3 {
				minutes := 5 + k
				v.Insatser = append(v.Insatser, homecare.VisitInsats{Code: fmt.Sprintf("K%d", k), Minutes: &minutes, DoubleStaffed: i%4 == 0})
			}
			return v
		}
		// run queues the ops without waiting, so that they fill batches,
		// and returns each one's outcome.
		run := func(ops []func(*store.Tx) error) []error {
			errs := make([]error, len(ops))
			var wg sync.WaitGroup
			for i, op := range ops {
				wg.Add(1)
				w.Go(ctx, op, func(err error) { errs[i] = err; wg.Done() })
			}
			wg.Wait()
			return errs
		}
		count := func(table string) int {
			var n int
			if err := db.raw.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		const n = 300
		var ops []func(*store.Tx) error
		staff, insatser := 0, 0
		for i := range n {
			v := visit(i)
			staff += len(v.Staff)
			insatser += len(v.Insatser)
			m := inbound(fmt.Sprintf("wb%d", i), "tes_visits", "tes", fmt.Sprintf("%s-v%d", v.ExternalID, v.Version), t0)
			m.Status = store.StatusProcessed
			ops = append(ops, importOp(ctx, s, m, v))
		}
		for i, err := range run(ops) {
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		}
		if st := w.Stats(); st.Batches > n/64 {
			t.Errorf("Stats = %+v: %d ops queued at once took %d batches", st, n, st.Batches)
		}
		for table, want := range map[string]int{
			"messages": n, "message_bodies": n, "visits": n, "visit_staff": staff, "visit_insatser": insatser,
			"clients": len(pids), "reconcile_days": n / 2,
		} {
			if got := count(table); got != want {
				t.Errorf("%s has %d rows, want %d", table, got, want)
			}
		}
		days, err := s.ReconcileDays(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			if d.Reason != "late" {
				t.Errorf("client-day %s queued for %q, want late", d.LocalDate, d.Reason)
			}
		}
		for _, i := range []int{0, 1, 2, 63, 64, 65, n - 1} {
			want := visit(i)
			got, err := s.Visit(ctx, "tes", want.ExternalID)
			if err != nil {
				t.Fatalf("visit %d: %v", i, err)
			}
			if d := cmp.Diff(want.Staff, got.Staff); d != "" {
				t.Errorf("visit %d staff (-want +got):\n%s", i, d)
			}
			if d := cmp.Diff(want.Insatser, got.Insatser); d != "" {
				t.Errorf("visit %d insatser (-want +got):\n%s", i, d)
			}
		}

		// New visits, and among them visit 7's message again (its op stores
		// nothing) and a correction of visit 5.
		ops = ops[:0]
		for i := n; i < 2*n; i++ {
			v := visit(i)
			id := fmt.Sprintf("wb%d", i)
			switch i {
			case n + 10:
				id, v = "wb7", visit(7)
			case n + 20:
				v = visit(5)
				v.Version = 2
				v.Status = homecare.VisitPartiallyDeclined
			}
			m := inbound(id, "tes_visits", "tes", fmt.Sprintf("%s-v%d", v.ExternalID, v.Version), t0)
			m.Status = store.StatusProcessed
			ops = append(ops, importOp(ctx, s, m, v))
		}
		for i, err := range run(ops) {
			if err != nil {
				t.Fatalf("op %d of the second round: %v", i, err)
			}
		}
		if got, want := count("visits"), 2*n-2; got != want {
			t.Errorf("%d visits, want %d (the duplicate and the correction are not new)", got, want)
		}
		if got := count("messages"); got != 2*n-1 {
			t.Errorf("%d messages, want %d", got, 2*n-1)
		}
		v5, hist, err := s.VisitHistory(ctx, "tes", visit(5).ExternalID)
		if err != nil || len(hist) != 1 || v5.Status != homecare.VisitPartiallyDeclined {
			t.Errorf("visit 5: status %s, %d corrections, %v; want corrected once", v5.Status, len(hist), err)
		}

		// Visit 5's client-day, queued for the correction, takes the reason
		// of a late visit written behind after it.
		extra := visit(4)
		extra.ExternalID = "WB-extra"
		m := inbound("wb-extra", "tes_visits", "tes", extra.ExternalID, t0)
		m.Status = store.StatusProcessed
		if err := run([]func(*store.Tx) error{importOp(ctx, s, m, extra)})[0]; err != nil {
			t.Fatal(err)
		}
		if days, err = s.ReconcileDays(ctx); err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			if d.LocalDate == extra.LocalDate && d.Reason != "late" {
				t.Errorf("client-day %s queued for %q after a late visit, want late", d.LocalDate, d.Reason)
			}
		}
	})
}
