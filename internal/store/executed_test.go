package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// visitAt is the sample visit (the order's client, omsorg-norr) from start to end,
// Stockholm wall times "2006-01-02 15:04".
func visitAt(t *testing.T, id, start, end string) homecare.Visit {
	t.Helper()
	parse := func(s string) time.Time {
		at, err := time.ParseInLocation("2006-01-02 15:04", s, homecare.Stockholm())
		if err != nil {
			t.Fatal(err)
		}
		return at.UTC()
	}
	v := sampleVisit(t)
	v.ExternalID, v.StartAt, v.EndAt = id, parse(start), parse(end)
	v.DeviceStartAt, v.DeviceEndAt = time.Time{}, time.Time{}
	v.LocalDate = homecare.LocalDate(v.StartAt)
	v.DurationMinutes = int(v.EndAt.Sub(v.StartAt).Round(time.Minute) / time.Minute)
	return v
}

// orderSince stores order BEST-1 of the sample visit's client with omsorg-norr, in force
// from the given day.
func orderSince(t *testing.T, s *store.Store, from string) {
	t.Helper()
	ev := orderEvent(t, "BEST-1", homecare.OrderCreated, 2)
	ev.Order.ValidFrom = mustDate(t, from)
	ev.Order.DecidedAt = mustDate(t, from).AddDays(-7)
	apply(t, s, ev)
}

// TestVisitTotalsAcrossMidnight: a visit across midnight counts on its start day, or split
// at Stockholm midnight by the municipality's rule, also on the nights the clocks change.
func TestVisitTotalsAcrossMidnight(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-25")
		orderSince(t, s, "2026-03-01")
		for _, v := range []homecare.Visit{
			visitAt(t, "SPRING", "2026-03-28 23:00", "2026-03-29 04:00"), // 240 minutes: 02:00-03:00 never was
			visitAt(t, "AUTUMN", "2026-10-24 23:00", "2026-10-25 04:00"), // 360 minutes: 02:00-03:00 twice
			visitAt(t, "NIGHT", "2026-11-23 22:00", "2026-11-24 02:00"),
			visitAt(t, "MORNING", "2026-11-23 07:02", "2026-11-23 07:34"),
		} {
			if _, err := s.UpsertVisit(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		total := func(day string, visits, minutes int64) store.VisitTotal {
			return store.VisitTotal{LocalDate: day, ProviderID: "omsorg-norr", Visits: visits, Minutes: minutes}
		}
		tests := []struct {
			name string
			rule homecare.MidnightRule
			f    store.VisitFilter
			want []store.VisitTotal
		}{
			{"start day", homecare.StartDay, store.VisitFilter{}, []store.VisitTotal{
				total("2026-03-28", 1, 240), total("2026-10-24", 1, 360), total("2026-11-23", 2, 272)}},
			{"split", homecare.Split, store.VisitFilter{}, []store.VisitTotal{
				total("2026-03-28", 1, 60), total("2026-03-29", 0, 180), total("2026-10-24", 1, 60),
				total("2026-10-25", 0, 300), total("2026-11-23", 2, 152), total("2026-11-24", 0, 120)}},
			{"start day, the day after", homecare.StartDay, store.VisitFilter{LocalDateFrom: mustDate(t, "2026-11-24")}, nil},
			{"split, the day after", homecare.Split, store.VisitFilter{LocalDateFrom: mustDate(t, "2026-11-24")},
				[]store.VisitTotal{total("2026-11-24", 0, 120)}},
			{"split, the autumn night's day", homecare.Split,
				store.VisitFilter{LocalDateFrom: mustDate(t, "2026-10-25"), LocalDateTo: mustDate(t, "2026-10-25"), Provider: "omsorg-norr"},
				[]store.VisitTotal{total("2026-10-25", 0, 300)}},
			{"split, another provider", homecare.Split, store.VisitFilter{Provider: "hemtjanst-soder"}, nil},
		}
		for _, tt := range tests {
			got, err := s.VisitTotalsBy(ctx, tt.f, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: VisitTotalsBy mismatch (-want +got):\n%s", tt.name, diff)
			}
		}
		// Within a day, the split rule sums what the database sums.
		f := store.VisitFilter{LocalDateFrom: mustDate(t, "2026-11-23"), LocalDateTo: mustDate(t, "2026-11-23")}
		if _, err := s.UpsertVisit(ctx, visitAt(t, "NOON", "2026-11-23 12:00", "2026-11-23 12:40")); err != nil {
			t.Fatal(err)
		}
		startDay, _ := s.VisitTotals(ctx, f)
		split, _ := s.VisitTotalsBy(ctx, f, homecare.Split)
		if startDay[0].Visits != split[0].Visits || startDay[0].Minutes-split[0].Minutes != 120 {
			t.Errorf("2026-11-23: start day %+v, split %+v; want the same visits and the night's 120 minutes apart", startDay, split)
		}
	})
}

// TestExecutedChanges: each client-day is sent once; a correction sends it again one
// version up; a run that finds nothing new sends nothing; no-order, declined and
// cancelled visits are counted apart.
func TestExecutedChanges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, clock := openAt(t, db, "2026-11-24")
		orderSince(t, s, "2026-11-10")
		pnr := mustPID(t, "194001042383")
		other := homecare.OfficialTestPersonIDs()[5]
		morning := visitAt(t, "MORNING", "2026-11-23 07:02", "2026-11-23 07:34") // DUSCH 20, FRUKOST 12
		double := visitAt(t, "DOUBLE", "2026-11-23 10:00", "2026-11-23 10:40")
		thirty := 30
		double.Insatser = []homecare.VisitInsats{{Code: "DUSCH", Minutes: &thirty, DoubleStaffed: true}}
		double.Staff = append(double.Staff, homecare.VisitStaff{StaffRef: "norr-2", Role: homecare.RoleSecond})
		declined := visitAt(t, "DECLINED", "2026-11-23 12:00", "2026-11-23 12:05")
		declined.Status = homecare.VisitDeclined
		cancelled := visitAt(t, "CANCELLED", "2026-11-23 15:00", "2026-11-23 15:00")
		cancelled.Status = homecare.VisitCancelled
		noOrder := visitAt(t, "NO-ORDER", "2026-11-23 09:00", "2026-11-23 09:32")
		noOrder.Client = homecare.VisitClient{PersonID: other, PersonIDType: other.Type()}
		for _, v := range []homecare.Visit{morning, double, declined, cancelled, noOrder} {
			if _, err := s.UpsertVisit(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		day := mustDate(t, "2026-11-23")
		c, err := s.ExecutedChanges(ctx, day, day, homecare.StartDay, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		order := &homecare.ExecutedOrder{SourceSystem: "lifecare", ExternalID: "BEST-1", DecisionID: "BESL-2026-0088"}
		want := map[homecare.PersonID]homecare.ExecutedDay{
			pnr: {LocalDate: day, Version: 1, Client: homecare.VisitClient{PersonID: pnr, PersonIDType: homecare.Personnummer},
				ProviderID: "omsorg-norr", Order: order, AcrossMidnight: homecare.StartDay, Visits: 2, Minutes: 72,
				DoubleStaffedMinutes: 30, Insatser: []homecare.ExecutedInsats{{Code: "DUSCH", Visits: 2, Minutes: 50}, {Code: "FRUKOST", Visits: 1, Minutes: 12}},
				Declined: 1, Cancelled: 1},
			other: {LocalDate: day, Version: 1, Client: homecare.VisitClient{PersonID: other, PersonIDType: other.Type()},
				ProviderID: "omsorg-norr", AcrossMidnight: homecare.StartDay, NoOrder: 1, NoOrderMinutes: 32},
		}
		ignore := cmpopts.IgnoreFields(homecare.ExecutedDay{}, "MessageID", "ProducedAt")
		if len(c.Days) != 2 {
			t.Fatalf("ExecutedChanges = %d days, want 2: %+v", len(c.Days), c.Days)
		}
		for _, d := range c.Days {
			if diff := cmp.Diff(want[d.Client.PersonID], d, cmpVisit, ignore); diff != "" {
				t.Errorf("executed day of %s mismatch (-want +got):\n%s", d.Client.PersonID, diff)
			}
			if !strings.HasPrefix(d.MessageID, "executed/") || !strings.HasSuffix(d.MessageID, "/omsorg-norr/2026-11-23/v1") ||
				strings.Contains(d.MessageID, d.Client.PersonID.Reveal()) {
				t.Errorf("message id %q: want executed/<client key>/omsorg-norr/2026-11-23/v1, no person id", d.MessageID)
			}
		}
		first := c.Days[0].MessageID
		if err := s.MarkExecutedSent(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c, err = s.ExecutedChanges(ctx, day, day, homecare.StartDay, time.Time{}); err != nil || len(c.Days) != 0 || c.Unchanged != 2 {
			t.Fatalf("run again: %+v, %v; want nothing to send, 2 unchanged", c, err)
		}

		// The supervisor corrects the morning visit two days later: the day is queued and
		// sent again, version 2, by the next night's run.
		clock.set(t, "2026-11-25")
		morning.Version, morning.EndAt, morning.DurationMinutes = 2, morning.EndAt.Add(10*time.Minute), 42
		if _, err := s.UpsertVisit(ctx, morning); err != nil {
			t.Fatal(err)
		}
		next := mustDate(t, "2026-11-24")
		if got, err := s.Visit(ctx, "tes", "MORNING"); err != nil || got.DurationMinutes != 42 {
			t.Fatalf("corrected visit: %+v, %v", got, err)
		}
		if c, err = s.ExecutedChanges(ctx, next, next, homecare.StartDay, time.Time{}); err != nil || len(c.Days) != 1 {
			t.Fatalf("after the correction: %+v, %v; want the corrected day", c, err)
		}
		d := c.Days[0]
		if d.LocalDate != day || d.Version != 2 || d.Minutes != 82 || d.Client.PersonID != pnr ||
			d.MessageID != strings.TrimSuffix(first, "/v1")+"/v2" && !strings.HasSuffix(d.MessageID, "/v2") {
			t.Errorf("corrected day = %+v, want 2026-11-23 version 2 with 82 minutes", d)
		}
		if err := s.MarkExecutedSent(ctx, c); err != nil {
			t.Fatal(err)
		}
		if q, err := s.ReconcileDays(ctx); err != nil || len(q) != 1 {
			t.Errorf("reconcile queue after the run = %+v, %v; want the corrected day still there, for reconciliation", q, err)
		}
		if c, err = s.ExecutedChanges(ctx, next, next, homecare.StartDay, time.Time{}); err != nil || len(c.Days) != 0 {
			t.Errorf("run again after the correction: %+v, %v; want nothing", c, err)
		}
	})
}

// TestExecutedChangesSplit: under the split rule a visit across midnight gives each day
// its minutes (and its insatser's, in proportion); the visit counts on its start day.
func TestExecutedChangesSplit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-05")
		orderSince(t, s, "2026-10-01")
		night := visitAt(t, "AUTUMN", "2026-10-24 23:00", "2026-10-25 04:00") // 360 minutes, 60 + 300
		sixty := 60
		night.Insatser = []homecare.VisitInsats{{Code: "TILLSYN", Minutes: &sixty}}
		if _, err := s.UpsertVisit(ctx, night); err != nil {
			t.Fatal(err)
		}
		c, err := s.ExecutedChanges(ctx, mustDate(t, "2026-10-24"), mustDate(t, "2026-10-26"), homecare.Split, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range c.Days {
			got = append(got, fmt.Sprintf("%s visits=%d minutes=%d insatser=%v", d.LocalDate, d.Visits, d.Minutes, d.Insatser))
		}
		want := []string{"2026-10-24 visits=1 minutes=60 insatser=[{TILLSYN 1 10}]", "2026-10-25 visits=0 minutes=300 insatser=[{TILLSYN 0 50}]"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("split days mismatch (-want +got):\n%s", diff)
		}
	})
}
