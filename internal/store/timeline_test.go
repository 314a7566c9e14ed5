package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// clockAt is a store clock a test moves: noon in Stockholm on the day set.
type clockAt struct{ day atomic.Value }

func (c *clockAt) set(t testing.TB, day string) { c.day.Store(mustDate(t, day)) }

func (c *clockAt) now() time.Time {
	return c.day.Load().(homecare.Date).In(homecare.Stockholm()).Add(12 * time.Hour)
}

// openAt opens a fresh store of db's dialect on a clock the test moves.
func openAt(t *testing.T, db testDB, day string) (*store.Store, *clockAt) {
	t.Helper()
	c := &clockAt{}
	c.set(t, day)
	opts := testOptions()
	opts.Clock = c.now
	return db.openWith(t, opts), c
}

// TestOrderEffectiveDates: an event dated ahead is stored at once and takes effect on its
// day, when ApplyDue (the nightly job) folds it in; a stale change is recorded, flagged and
// changes nothing.
func TestOrderEffectiveDates(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, clock := openAt(t, db, "2026-11-20")
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderCreated, 2))
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderExecuted, 10)) // executed 2026-11-10
		end := orderEvent(t, "BEST-1", homecare.OrderEnded, 20)          // last day 2027-01-31
		r, err := s.ApplyOrderEvent(ctx, end, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Order.Status != homecare.OrderStatusExecuted || r.Effective != mustDate(t, "2027-02-01") {
			t.Errorf("after an Avslut dated ahead: %s, effective %s; want executed, effective 2027-02-01", r.Order.Status, r.Effective)
		}
		// A Paus that follows the Avslut (its day before the end) is taken.
		pause := orderEvent(t, "BEST-1", homecare.OrderPaused, 21)
		pause.Pause.From, pause.Pause.To = mustDate(t, "2026-12-05"), homecare.Date{}
		apply(t, s, pause)

		// Nothing is due yet.
		if due, err := s.ApplyDue(ctx, false); err != nil || len(due) != 0 {
			t.Fatalf("ApplyDue on 2026-11-20 = %d events, %v; want none", len(due), err)
		}
		clock.set(t, "2026-12-06")
		due, err := s.ApplyDue(ctx, false)
		if err != nil || len(due) != 1 || due[0].Event.Type != homecare.OrderPaused || due[0].Order.Status != homecare.OrderStatusPaused {
			t.Fatalf("ApplyDue on 2026-12-06 = %+v, %v; want the pause", due, err)
		}
		if o, _ := s.Order(ctx, "lifecare", "BEST-1"); o.Status != homecare.OrderStatusPaused || len(o.Interruptions) != 1 {
			t.Errorf("stored order on 2026-12-06: %s, %d interruptions; want paused, 1", o.Status, len(o.Interruptions))
		}
		// A month of downtime: one run catches up.
		clock.set(t, "2027-03-01")
		due, err = s.ApplyDue(ctx, false)
		if err != nil || len(due) != 1 || due[0].Event.Type != homecare.OrderEnded {
			t.Fatalf("ApplyDue on 2027-03-01 = %+v, %v; want the end", due, err)
		}
		o, err := s.Order(ctx, "lifecare", "BEST-1")
		if err != nil || o.Status != homecare.OrderStatusEnded || o.Interruptions[0].EndedOn != mustDate(t, "2027-01-31") {
			t.Errorf("stored order on 2027-03-01: %+v, %v; want ended, its interruption ended 2027-01-31", o, err)
		}
		if due, _ := s.ApplyDue(ctx, false); len(due) != 0 {
			t.Errorf("ApplyDue again = %d events, want none", len(due))
		}
		// Folding every order again (the first run after an upgrade) changes nothing here.
		if due, err := s.ApplyDue(ctx, true); err != nil || len(due) != 0 {
			t.Errorf("ApplyDue(every) = %d events, %v; want none taking effect today", len(due), err)
		}
		if o, _ := s.Order(ctx, "lifecare", "BEST-1"); o.Status != homecare.OrderStatusEnded {
			t.Errorf("after folding every order: %s, want ended", o.Status)
		}

		// The timeline shows the order on any date.
		tl, err := s.OrderTimeline(ctx, "lifecare", "BEST-1")
		if err != nil {
			t.Fatal(err)
		}
		if got := tl.At(mustDate(t, "2026-11-30")).Status; got != homecare.OrderStatusExecuted {
			t.Errorf("timeline on 2026-11-30: %s, want executed", got)
		}
	})
}

func TestEventFromTheFutureRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		s, _ := openAt(t, db, "2026-11-01")
		ev := orderEvent(t, "BEST-1", homecare.OrderCreated, 3) // occurred 2026-11-03, two days ahead
		_, err := s.ApplyOrderEvent(context.Background(), ev, "")
		var te *homecare.TransitionError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "ahead of the hub's clock") {
			t.Errorf("an event two days ahead = %v, want a TransitionError", err)
		}
	})
}

func TestStaleChangeHeld(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-12-01")
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderCreated, 2))
		newer := orderEvent(t, "BEST-1", homecare.OrderChanged, 20)
		newer.Order.OrderText = "newer"
		apply(t, s, newer)
		older := orderEvent(t, "BEST-1", homecare.OrderChanged, 15)
		older.Order.OrderText = "older"
		r, err := s.ApplyOrderEvent(ctx, older, "")
		if err != nil || !r.Stale || r.Order.OrderText != "newer" {
			t.Errorf("older change: stale %v, text %q, %v; want stale, the newer text", r.Stale, r.Order.OrderText, err)
		}
		recs, err := s.OrderEvents(ctx, r.Order.ID)
		if err != nil || len(recs) != 3 {
			t.Errorf("events stored = %d, %v; want 3 (the stale one recorded)", len(recs), err)
		}
	})
}

// TestInferExecutions: an order whose provider never reported verkställd but whose staff
// registered visits is executed on the first visit on or after the day it came into force.
func TestInferExecutions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-12-01")
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderCreated, 2)) // omsorg-norr, in force 2026-11-10
		for _, d := range []string{"2026-11-05", "2026-11-23", "2026-11-12"} {
			v := sampleVisit(t) // the same client, omsorg-norr
			v.ExternalID = "TES-" + d
			v.StartAt = mustDate(t, d).In(homecare.Stockholm()).Add(8 * time.Hour)
			v.EndAt = v.StartAt.Add(32 * time.Minute)
			v.DeviceStartAt, v.DeviceEndAt = time.Time{}, time.Time{}
			v.LocalDate = mustDate(t, d)
			if _, err := s.UpsertVisit(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.InferExecutions(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("InferExecutions(no case system) = %d, %v; want none", len(got), err)
		}
		got, err := s.InferExecutions(ctx, []string{"lifecare"})
		if err != nil || len(got) != 1 {
			t.Fatalf("InferExecutions = %+v, %v; want one", got, err)
		}
		o := got[0].Order
		if o.ExecutedAt != mustDate(t, "2026-11-12") || o.ExecutedBy != homecare.ByVisits || got[0].EarlyVisits != 1 {
			t.Errorf("inferred: executed %s by %q, %d early visits; want 2026-11-12 by %s, 1", o.ExecutedAt, o.ExecutedBy, got[0].EarlyVisits, homecare.ByVisits)
		}
		if again, err := s.InferExecutions(ctx, []string{"lifecare"}); err != nil || len(again) != 0 {
			t.Errorf("InferExecutions again = %d, %v; want none", len(again), err)
		}
	})
}

func TestJobRunsAndReports(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		if _, ok, err := s.LastJobRun(ctx, "ivo"); ok || err != nil {
			t.Fatalf("LastJobRun before any = %v, %v", ok, err)
		}
		for _, d := range []string{"2026-12-01", "2026-12-02"} {
			if err := s.RecordJobRun(ctx, "ivo", mustDate(t, d), "ran"); err != nil {
				t.Fatal(err)
			}
		}
		if r, ok, err := s.LastJobRun(ctx, "ivo"); !ok || err != nil || r.LastDay != mustDate(t, "2026-12-02") {
			t.Errorf("LastJobRun = %+v, %v, %v; want 2026-12-02", r, ok, err)
		}
		body := []byte("quarter,client_ref\n2026Q4,194001042383\n")
		for _, rows := range []int{1, 2} { // a quarter reported again replaces the first
			if err := s.SaveReport(ctx, store.Report{Kind: "ivo", Period: "2026Q4", AsOf: mustDate(t, "2027-01-01"), Rows: rows, Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		r, err := s.Report(ctx, "ivo", "2026Q4")
		if err != nil || r.Rows != 2 || !bytes.Equal(r.Body, body) {
			t.Errorf("Report = %+v, %v", r, err)
		}
		var enc []byte
		if err := db.raw.QueryRow(`SELECT body_enc FROM reports WHERE period = '2026Q4'`).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(enc, []byte("194001042383")) {
			t.Error("a report's personnummer is stored in clear")
		}
		if _, err := s.Report(ctx, "ivo", "2025Q1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Report(missing) = %v, want ErrNotFound", err)
		}
	})
}

// TestClientLinks: an order that names the client's previous identity (a reserve number,
// then a samordningsnummer replaced by a personnummer) links them: each finds the others.
func TestClientLinks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		reserve, err := homecare.ParsePersonID("20000101-T220")
		if err != nil {
			t.Fatal(err)
		}
		var coord homecare.PersonID
		for _, p := range homecare.OfficialTestPersonIDs() {
			if p.Type() == homecare.Samordningsnummer {
				coord = p
				break
			}
		}
		pnr := homecare.OfficialTestPersonIDs()[0]
		first := orderEvent(t, "BEST-1", homecare.OrderCreated, 2) // the client's personnummer is pnr
		first.Order.Client.PersonID, first.Order.Client.PersonIDType = coord, coord.Type()
		first.Order.Client.PreviousPersonID = reserve
		apply(t, s, first)
		change := orderEvent(t, "BEST-1", homecare.OrderCreated, 3)
		change.Type, change.EventID = homecare.OrderChanged, "BEST-1-changed"
		change.Order.Client.PersonID, change.Order.Client.PersonIDType = pnr, pnr.Type()
		change.Order.Client.PreviousPersonID = coord
		if o := apply(t, s, change); o.Client.PersonID != pnr {
			t.Fatalf("client after the change = %s, want the personnummer", o.Client.PersonID)
		}
		for _, p := range []homecare.PersonID{pnr, coord, reserve} {
			ids, err := s.ClientIdentities(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got := map[homecare.PersonID]bool{}
			for _, id := range ids {
				got[id] = true
			}
			if len(ids) != 3 || ids[0] != p || !got[pnr] || !got[coord] || !got[reserve] {
				t.Errorf("ClientIdentities(%s) = %v, want all three, it first", p, ids)
			}
		}
		// The log list of the client by its personnummer has what was read under the
		// reserve number too: one history.
		if _, err := s.Audit(ctx, store.AuditEntry{Actor: "os:test", Action: "order.show", Outcome: store.AuditOK,
			ClientPersonID: reserve.Reveal()}); err != nil {
			t.Fatal(err)
		}
		recs, err := s.ListAudit(ctx, store.AuditFilter{ClientPersonID: pnr.Reveal()})
		if err != nil || len(recs) != 1 || recs[0].Action != "order.show" {
			t.Errorf("ListAudit(personnummer) = %+v, %v; want the record under the reserve number", recs, err)
		}
		var links int
		if err := db.raw.QueryRow(`SELECT COUNT(*) FROM client_links`).Scan(&links); err != nil || links != 2 {
			t.Errorf("client_links rows = %d, %v; want 2", links, err)
		}
	})
}

// TestVisitTotalsCountWhatCounts: executed time counts completed visits under an order in
// force; declined, cancelled, in-progress and no-order visits are shown apart.
func TestVisitTotalsCountWhatCounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-23")
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderCreated, 2)) // the sample visit's client, omsorg-norr, from 2026-11-10
		other := homecare.OfficialTestPersonIDs()[5]
		for i, tc := range []struct {
			status homecare.VisitStatus
			client homecare.PersonID
		}{
			{homecare.VisitCompleted, homecare.PersonID{}}, {homecare.VisitPartiallyDeclined, homecare.PersonID{}},
			{homecare.VisitDeclined, homecare.PersonID{}}, {homecare.VisitCancelled, homecare.PersonID{}},
			{homecare.VisitInProgress, homecare.PersonID{}}, {homecare.VisitCompleted, other},
		} {
			v := sampleVisit(t) // 32 minutes on 2026-11-23
			v.ExternalID, v.Status = fmt.Sprintf("TES-%d", i), tc.status
			if !tc.client.IsZero() {
				v.Client = homecare.VisitClient{PersonID: tc.client, PersonIDType: tc.client.Type()}
			}
			if _, err := s.UpsertVisit(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.VisitTotals(ctx, store.VisitFilter{})
		want := []store.VisitTotal{{LocalDate: "2026-11-23", ProviderID: "omsorg-norr", Visits: 2, Minutes: 64,
			NoOrder: 1, NoOrderMinutes: 32, Declined: 1, Cancelled: 1, InProgress: 1}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("VisitTotals = %+v, %v; want %+v", got, err, want)
		}
	})
}
