package server_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// TestExecutedJob runs the nightly executed job in a hub with the shipped lifecare_executed
// pipeline and the Lifecare simulator: the night after a day of visits the case system
// gets the client's day, version 1; after a supervisor's correction the next night it gets
// version 2; a night with nothing new sends nothing. The personnummer reaches the case
// system and no log line.
func TestExecutedJob(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := t.Context()
			cs, err := lifecaresim.New(lifecaresim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cs.Close() })
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = orderPipelines(t, map[string]string{"lifecare_executed": "{attempts: 3, backoff: 10ms, max_backoff: 10ms}"})
			cfg.Vars["lifecare_executed_url"] = cs.ExecutedURL()
			loc := homecare.Stockholm()
			var now atomic.Int64
			setClock := func(t time.Time) { now.Store(t.UnixNano()) }
			setClock(time.Date(2026, 11, 24, 0, 5, 0, 0, loc))
			logs, log := observedLogger(t)
			srv, err := server.New(ctx, cfg, server.Options{Logger: log, Clock: func() time.Time { return time.Unix(0, now.Load()) }})
			if err != nil {
				t.Fatal(err)
			}
			st := srv.Store()

			// An order in force since 10 November and the day's visits, stored before the
			// night's jobs run.
			b, err := os.ReadFile("../../schemas/canonical/testdata/valid/order_event_created.json")
			if err != nil {
				t.Fatal(err)
			}
			var ev homecare.OrderEvent
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if _, err := st.ApplyOrderEvent(ctx, ev, ""); err != nil {
				t.Fatal(err)
			}
			b, err = os.ReadFile("../../schemas/canonical/testdata/valid/visit_full.json")
			if err != nil {
				t.Fatal(err)
			}
			var visit homecare.Visit // 32 minutes on 2026-11-23: DUSCH 20, FRUKOST 12
			if err := json.Unmarshal(b, &visit); err != nil {
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
			waitExecuted(t, cs, 1)
			day := cs.ExecutedDays()[0]
			if day.Edition != 1 || day.Minutes != 32 || day.Visits != 1 || day.PersonID() != "194001042383" ||
				day.Order != ev.Order.ExternalID || day.Date.String() != "2026-11-23" || day.MidnightRule != "startdag" {
				t.Fatalf("the case system holds %+v, want 2026-11-23, version 1, 32 minutes under %s", day, ev.Order.ExternalID)
			}

			// The supervisor corrects the visit in the morning; the next night sends the day again.
			setClock(time.Date(2026, 11, 24, 9, 0, 0, 0, loc))
			visit.Version, visit.EndAt, visit.DurationMinutes = 2, visit.EndAt.Add(8*time.Minute), 40
			visit.DeviceEndAt = visit.EndAt
			if _, err := st.UpsertVisit(ctx, visit); err != nil {
				t.Fatal(err)
			}
			setClock(time.Date(2026, 11, 25, 0, 5, 0, 0, loc))
			if err := srv.RunJobs(ctx); err != nil {
				t.Fatal(err)
			}
			waitExecuted(t, cs, 2)
			if day := cs.ExecutedDays()[0]; day.Edition != 2 || day.Minutes != 40 || !strings.HasSuffix(day.ID, "/v2") {
				t.Errorf("after the correction the case system holds %+v, want version 2 with 40 minutes", day)
			}
			setClock(time.Date(2026, 11, 26, 0, 5, 0, 0, loc))
			if err := srv.RunJobs(ctx); err != nil {
				t.Fatal(err)
			}
			run, _, err := st.LastJobRun(ctx, "executed")
			if err != nil || !strings.HasPrefix(run.Detail, "0 client-days") {
				t.Errorf("the third night: %+v, %v; want nothing sent", run, err)
			}
			if got := len(cs.Executed()); got != 2 {
				t.Errorf("the case system got %d messages, want 2", got)
			}

			// A phone syncs the next morning a visit of the day already sent: not late (within
			// 48 h), so nothing is queued, yet the next night reads the day again and sends it.
			setClock(time.Date(2026, 11, 26, 10, 0, 0, 0, loc))
			synced := visit
			synced.ExternalID, synced.Version = "TES-2026-000002", 0
			synced.StartAt, synced.EndAt = synced.StartAt.Add(48*time.Hour), synced.StartAt.Add(48*time.Hour+20*time.Minute)
			synced.DeviceStartAt, synced.DeviceEndAt = synced.StartAt, synced.EndAt
			synced.LocalDate, synced.DurationMinutes = homecare.LocalDate(synced.StartAt), 20
			synced.Insatser = nil
			if _, err := st.UpsertVisit(ctx, synced); err != nil {
				t.Fatal(err)
			}
			setClock(time.Date(2026, 11, 27, 0, 5, 0, 0, loc))
			if err := srv.RunJobs(ctx); err != nil {
				t.Fatal(err)
			}
			waitExecuted(t, cs, 3)
			if days := cs.ExecutedDays(); len(days) != 2 || days[1].Date.String() != "2026-11-25" || days[1].Minutes != 20 || days[1].Edition != 1 {
				t.Errorf("after the next morning's sync the case system holds %+v, want 2026-11-25 with 20 minutes too", days)
			}
			for _, e := range logs.All() {
				line := e.Message
				for _, f := range e.Context {
					line += " " + f.String + " " + f.Key
				}
				if strings.Contains(line, "194001042383") || strings.Contains(line, "4001042383") {
					t.Errorf("a log line has the personnummer: %s", line)
				}
			}
		})
	}
}

// waitExecuted waits until the case system has n executed-time messages.
func waitExecuted(t *testing.T, cs *lifecaresim.CaseSystem, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(cs.Executed()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the case system got %d executed-time messages after 20s, want %d", len(cs.Executed()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
