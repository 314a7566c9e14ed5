package server_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestReconcileJob runs the nightly reconciliation in a hub with the shipped rule set and
// pipelines: the first night reconciles the days still open; a record synced days late
// reopens its day, and the next night's run shows the line it changed against the earlier
// run, which it supersedes; on the report day each provider's payment basis of the month
// before reaches the case system, once.
func TestReconcileJob(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := t.Context()
			cs, err := lifecaresim.New(lifecaresim.Options{PaymentBasisSchema: lifecaresim.PaymentBasisSchemaPath()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cs.Close() })
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = orderPipelines(t, map[string]string{"lifecare_executed": "{attempts: 3, backoff: 10ms, max_backoff: 10ms}",
				"lifecare_payment_basis": "{attempts: 3, backoff: 10ms, max_backoff: 10ms}"})
			cfg.Vars["lifecare_executed_url"] = cs.ExecutedURL()
			cfg.Vars["lifecare_payment_basis_url"] = cs.PaymentBasisURL()
			loc := homecare.Stockholm()
			var now atomic.Int64
			setClock := func(t time.Time) { now.Store(t.UnixNano()) }
			setClock(time.Date(2026, 11, 24, 0, 5, 0, 0, loc))
			srv, err := server.New(ctx, cfg, server.Options{Clock: func() time.Time { return time.Unix(0, now.Load()) }})
			if err != nil {
				t.Fatal(err)
			}
			st := srv.Store()
			var ev homecare.OrderEvent // in force from 10 November: DUSCH 40 min a week, TILLSYN 10 min a day
			readJSON(t, "../../schemas/canonical/testdata/valid/order_event_created.json", &ev)
			if _, err := st.ApplyOrderEvent(ctx, ev, ""); err != nil {
				t.Fatal(err)
			}
			var visit homecare.Visit // 32 minutes on 2026-11-23: DUSCH 20, FRUKOST 12
			readJSON(t, "../../schemas/canonical/testdata/valid/visit_full.json", &visit)
			// The tag at the client's door the visits are registered with.
			if err := st.RegisterTag(ctx, visit.StartTagUID, visit.Client.PersonID, ev.Order.ValidFrom, "hall", "test"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.UpsertVisit(ctx, visit); err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(runCtx) }() // catches up: the night of 24 November
			t.Cleanup(func() {
				cancel()
				<-done
				srv.Close()
			})
			<-srv.Ready()
			first, ok, err := st.LastJobRun(ctx, "reconcile")
			for deadline := time.Now().Add(20 * time.Second); !ok && err == nil && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond) // the catch-up runs beside the start
				first, ok, err = st.LastJobRun(ctx, "reconcile")
			}
			if err != nil || !regexp.MustCompile(`^2026-10-20 to 2026-10-31: run \S+, 12 days, 0 visits.* \| 2026-11-01 to 2026-11-23: run \S+, 23 days, 1 visits, 0 lock events; 14 day lines, 1 period lines; granted 3 h 40 min, payable 0 h 32 min, 247.47 kr; day lines by code: OK 1, ORDER_NOT_EXECUTED 13$`).MatchString(first.Detail) {
				t.Fatalf("the first night's reconciliation: %v\n%s", err, first.Detail)
			}

			// A phone offline since 20 November syncs that day's visit on the 24th, days
			// late: queued, and the next night's run shows what it changed.
			setClock(time.Date(2026, 11, 24, 9, 0, 0, 0, loc))
			late := visit
			late.ExternalID, late.Version = "TES-2026-000009", 0
			late.StartAt, late.EndAt = visit.StartAt.Add(-72*time.Hour), visit.EndAt.Add(-72*time.Hour)
			late.DeviceStartAt, late.DeviceEndAt, late.ReceivedAt = late.StartAt, late.EndAt, time.Time{}
			late.LocalDate = homecare.LocalDate(late.StartAt)
			if _, err := st.UpsertVisit(ctx, late); err != nil {
				t.Fatal(err)
			}
			setClock(time.Date(2026, 11, 25, 0, 5, 0, 0, loc))
			if err := srv.RunJobs(ctx); err != nil {
				t.Fatal(err)
			}
			second, _, err := st.LastJobRun(ctx, "reconcile")
			changed := regexp.MustCompile(`lines changed against the earlier run: 2026-11-20 client [0-9a-f]{8} omsorg-norr omvardnad: registered 0 min, payable 0 min \(ORDER_NOT_EXECUTED\) → registered 32 min, payable 32 min \(LATE_RECORD\)`)
			if err != nil || !changed.MatchString(second.Detail) {
				t.Fatalf("the second night's reconciliation: %v\n%s", err, second.Detail)
			}
			audit, err := st.ListAudit(ctx, store.AuditFilter{Actor: "hub:reconcile/nightly"})
			if err != nil || len(audit) != 3 || audit[0].Action != "reconcile.run" || audit[0].Purpose != "ersättning" {
				t.Errorf("the runs' audit records: %v, %+v; want one per run with its purpose", err, audit)
			}
			runs, err := st.ReconcileRuns(ctx, homecare.Date{Year: 2026, Month: 11, Day: 1}, homecare.Date{Year: 2026, Month: 11, Day: 30})
			if err != nil || len(runs) != 2 || runs[1].SupersededBy != runs[0].ID || runs[0].SupersededBy != "" {
				t.Errorf("November's runs: %v, %+v; want the first superseded by the second", err, runs)
			}

			// The 6th of December: November's payment basis goes to the case system, once.
			for _, day := range []int{6, 7} {
				setClock(time.Date(2026, 12, day, 0, 5, 0, 0, loc))
				if err := srv.RunJobs(ctx); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for len(cs.PaymentMonths()) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			months := cs.PaymentMonths()
			if len(months) != 1 || months[0].Month != "2026-11" || months[0].Provider != "omsorg-norr" || months[0].Total.AmountOre == 0 {
				t.Fatalf("the case system holds %+v, want November's payment basis of omsorg-norr", months)
			}
			if n := len(cs.PaymentBases()); n != 1 {
				t.Errorf("the case system got %d payment basis messages, want 1", n)
			}
			sent, _, err := st.LastJobRun(ctx, "payment_basis")
			if err != nil || !strings.HasPrefix(sent.Detail, "2026-11 was reported on 2026-12-06") {
				t.Errorf("the payment basis job the day after: %v, %q", err, sent.Detail)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
