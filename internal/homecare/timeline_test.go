package homecare_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// tl is a small language for timeline tests: each event of order BEST-1 under decision
// BESL-1 (decided 2026-11-02, in force from 2026-11-10), occurring at 09:00 UTC on the day
// named (its tidpunkt).
type tlEvent func(t *testing.T) homecare.OrderEvent

func at(t *testing.T, typ homecare.OrderEventType, occurred string, id string, set func(*homecare.OrderEvent)) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		occ := date(t, occurred).In(time.UTC).Add(9 * time.Hour)
		ev := homecare.OrderEvent{SourceSystem: "lifecare", EventID: id, Type: typ, OccurredAt: occ,
			Order: homecare.OrderSnapshot{ExternalID: "BEST-1"}}
		if typ == homecare.OrderCreated || typ == homecare.OrderChanged {
			c := event(t, homecare.OrderCreated, 1)
			ev.Order = c.Order
			ev.Order.ExternalID, ev.Order.DecisionID = "BEST-1", "BESL-1"
			ev.Order.DecidedAt, ev.Order.ValidFrom = date(t, "2026-11-02"), date(t, "2026-11-10")
		}
		if set != nil {
			set(&ev)
		}
		return ev
	}
}

func created(occurred string) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderCreated, occurred, "C-"+occurred, nil)(t)
	}
}

func changed(occurred string, set func(*homecare.OrderEvent)) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderChanged, occurred, "A-"+occurred, set)(t)
	}
}

func executed(occurred, day string) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderExecuted, occurred, "X-"+day, func(e *homecare.OrderEvent) { e.ExecutedDate = date(t, day) })(t)
	}
}

func paused(occurred, from, to string) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderPaused, occurred, "P-"+from, func(e *homecare.OrderEvent) {
			e.Pause = &homecare.OrderPause{From: date(t, from), Reason: homecare.PauseHospital}
			if to != "" {
				e.Pause.To = date(t, to)
			}
		})(t)
	}
}

func resumed(occurred, day string) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderResumed, occurred, "R-"+day, func(e *homecare.OrderEvent) { e.ResumedDate = date(t, day) })(t)
	}
}

func ended(occurred, day string, why homecare.EndReason) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderEnded, occurred, "E-"+day, func(e *homecare.OrderEvent) {
			e.End = &homecare.OrderEnd{Date: date(t, day), Reason: why}
		})(t)
	}
}

func rejected(occurred string) tlEvent {
	return func(t *testing.T) homecare.OrderEvent {
		return at(t, homecare.OrderRejected, occurred, "J-"+occurred, func(e *homecare.OrderEvent) { e.Reason = "full" })(t)
	}
}

// build adds evs in the order given; the last event's error (if any) is returned with the
// timeline of the ones before it, and an earlier one fails the test.
func build(t *testing.T, evs ...tlEvent) (homecare.Timeline, homecare.AddResult, error) {
	t.Helper()
	var tl homecare.Timeline
	var res homecare.AddResult
	for i, f := range evs {
		next, r, err := tl.Add(f(t))
		if err != nil {
			if i == len(evs)-1 {
				return tl, r, err
			}
			t.Fatalf("event %d: %v", i, err)
		}
		tl, res = next, r
	}
	return tl, res, nil
}

// TestTimelineDefects has a row per defect issue 9 lists; each failed before the timeline.
func TestTimelineDefects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []tlEvent
		check  func(t *testing.T, tl homecare.Timeline, res homecare.AddResult, err error)
	}{
		{"an Avslut dated ahead ends the order on its day, not on arrival",
			[]tlEvent{created("2026-11-02"), executed("2026-11-10", "2026-11-10"), ended("2026-11-20", "2027-01-31", homecare.EndDeceased)},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, err error) {
				wantStatus(t, tl, "2026-11-21", homecare.OrderStatusExecuted)
				wantStatus(t, tl, "2027-01-31", homecare.OrderStatusExecuted)
				wantStatus(t, tl, "2027-02-01", homecare.OrderStatusEnded)
			}},
		{"a Paus that follows a future Avslut applies",
			[]tlEvent{created("2026-11-02"), executed("2026-11-10", "2026-11-10"), ended("2026-11-20", "2027-01-31", homecare.EndDecisionExpired),
				paused("2026-11-25", "2026-12-05", "")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, err error) {
				if err != nil {
					t.Fatalf("Paus refused: %v", err)
				}
				wantStatus(t, tl, "2026-12-06", homecare.OrderStatusPaused)
				if got := tl.At(date(t, "2027-02-01")).Interruptions; len(got) != 1 || got[0].EndedOn != date(t, "2027-01-31") {
					t.Errorf("interruptions after the end = %+v, want one ended 2027-01-31", got)
				}
			}},
		{"an executed_date ahead does not stop the clock until then",
			[]tlEvent{created("2026-11-02"), executed("2026-11-20", "2027-06-01")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				wantStatus(t, tl, "2026-11-30", homecare.OrderStatusSent)
				evb := homecare.EVBForDecision([]homecare.Order{tl.At(date(t, "2027-02-04"))}, date(t, "2027-02-04"))
				if len(evb.Overdue()) != 1 {
					t.Errorf("EVB on 2027-02-04 = %+v, want the decision overdue", evb)
				}
			}},
		{"the resume date is kept and the pause is not erased",
			[]tlEvent{created("2026-11-02"), executed("2026-11-10", "2026-11-10"), paused("2026-12-01", "2026-12-01", "2026-12-10"),
				resumed("2026-12-14", "2026-12-15")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				wantStatus(t, tl, "2026-12-14", homecare.OrderStatusPaused)
				wantStatus(t, tl, "2026-12-15", homecare.OrderStatusExecuted)
				want := []homecare.Interruption{{From: date(t, "2026-12-01"), PlannedTo: date(t, "2026-12-10"),
					ResumedOn: date(t, "2026-12-15"), Reason: homecare.PauseHospital}}
				if diff := cmp.Diff(want, tl.At(date(t, "2027-01-01")).Interruptions); diff != "" {
					t.Errorf("interruptions (-want +got):\n%s", diff)
				}
			}},
		{"a planned pause end that passes without a resume becomes overdue",
			[]tlEvent{created("2026-11-02"), executed("2026-11-10", "2026-11-10"), paused("2026-12-01", "2026-12-01", "2026-12-10")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				day := date(t, "2027-03-02")
				ov := homecare.EVBForDecision([]homecare.Order{tl.At(day)}, day).Overdue()
				if len(ov) != 1 || ov[0].Kind != homecare.EVBInterrupted || ov[0].Start != date(t, "2026-12-01") {
					t.Errorf("overdue on %s = %+v, want the interruption from 2026-12-01", day, ov)
				}
			}},
		{"a rejected order does not stop the decision's clock",
			[]tlEvent{created("2026-11-02"), rejected("2026-11-05")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				day := date(t, "2027-02-03")
				if ov := homecare.EVBForDecision([]homecare.Order{tl.At(day)}, day).Overdue(); len(ov) != 1 {
					t.Errorf("overdue = %+v, want the decision not executed", ov)
				}
			}},
		{"a second Paus with a later start does not move the deadline",
			[]tlEvent{created("2026-11-02"), executed("2026-11-10", "2026-11-10"), paused("2026-12-01", "2026-12-01", ""),
				paused("2026-12-20", "2026-12-20", "2027-01-10")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				day := date(t, "2027-03-02")
				ov := homecare.EVBForDecision([]homecare.Order{tl.At(day)}, day).Overdue()
				if len(ov) != 1 || ov[0].Deadline != date(t, "2027-03-01") {
					t.Errorf("overdue = %+v, want the deadline 2027-03-01", ov)
				}
			}},
		{"an Andring with a new beslutsdatum does not restart the clock",
			[]tlEvent{created("2026-11-02"), changed("2026-12-01", func(e *homecare.OrderEvent) { e.Order.DecidedAt = date(t, "2026-12-01") })},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				day := date(t, "2027-02-03")
				if ov := homecare.EVBForDecision([]homecare.Order{tl.At(day)}, day).Overdue(); len(ov) != 1 || ov[0].Start != date(t, "2026-11-02") {
					t.Errorf("overdue = %+v, want the clock from 2026-11-02", ov)
				}
			}},
		{"a decision executed late leaves its trace",
			[]tlEvent{created("2026-11-02"), executed("2027-03-01", "2027-03-01")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				day := date(t, "2027-06-01")
				ov := homecare.EVBForDecision([]homecare.Order{tl.At(day)}, day).Overdue()
				if len(ov) != 1 || ov[0].End != date(t, "2027-03-01") || ov[0].Days != 119 {
					t.Errorf("overdue = %+v, want executed on 2027-03-01 after 119 days", ov)
				}
			}},
		{"a decision ended while overdue leaves its trace",
			[]tlEvent{created("2026-11-02"), ended("2027-03-01", "2027-03-01", homecare.EndDeclined)},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				day := date(t, "2027-06-01")
				ov := homecare.EVBForDecision([]homecare.Order{tl.At(day)}, day).Overdue()
				if len(ov) != 1 || ov[0].EndedOn != date(t, "2027-03-01") || ov[0].EndReason != homecare.EndDeclined {
					t.Errorf("overdue = %+v, want ended without execution on 2027-03-01", ov)
				}
			}},
		{"a stale Andring is recorded and does not win",
			[]tlEvent{created("2026-11-02"), changed("2026-11-20", func(e *homecare.OrderEvent) { e.Order.OrderText = "newer" }),
				changed("2026-11-15", func(e *homecare.OrderEvent) { e.Order.OrderText = "older" })},
			func(t *testing.T, tl homecare.Timeline, res homecare.AddResult, err error) {
				if err != nil || !res.Stale {
					t.Fatalf("Add = %+v, %v; want stale", res, err)
				}
				if got := tl.At(date(t, "2026-12-01")).OrderText; got != "newer" {
					t.Errorf("order text = %q, want the newer change's", got)
				}
			}},
		{"an Andring clears the optional fields it leaves out",
			[]tlEvent{created("2026-11-02"), changed("2026-11-20", func(e *homecare.OrderEvent) { e.Order.ValidTo, e.Order.OrderText = homecare.Date{}, "" })},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, _ error) {
				o := tl.At(date(t, "2026-11-21"))
				if !o.ValidTo.IsZero() || o.OrderText != "" {
					t.Errorf("valid_to %s, order text %q; want both cleared", o.ValidTo, o.OrderText)
				}
			}},
		{"a Paus while the order is still sent is taken",
			[]tlEvent{created("2026-11-02"), paused("2026-11-05", "2026-11-06", "")},
			func(t *testing.T, tl homecare.Timeline, _ homecare.AddResult, err error) {
				if err != nil {
					t.Fatal(err)
				}
				wantStatus(t, tl, "2026-11-07", homecare.OrderStatusPaused)
			}},
		{"a pause before the decision date is refused",
			[]tlEvent{created("2026-11-02"), paused("2026-11-05", "2026-10-01", "")},
			func(t *testing.T, _ homecare.Timeline, _ homecare.AddResult, err error) {
				wantRefused(t, err, "before the decision date")
			}},
		{"an executed_date before the decision date is refused",
			[]tlEvent{created("2026-11-02"), executed("2026-11-05", "2026-11-01")},
			func(t *testing.T, _ homecare.Timeline, _ homecare.AddResult, err error) {
				wantRefused(t, err, "before the decision date")
			}},
		{"an end before the execution is refused, whichever arrives first",
			[]tlEvent{created("2026-11-02"), ended("2026-11-20", "2026-11-15", homecare.EndMoved), executed("2026-11-21", "2026-11-18")},
			func(t *testing.T, _ homecare.Timeline, _ homecare.AddResult, err error) {
				wantRefused(t, err, "")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl, res, err := build(t, tt.events...)
			tt.check(t, tl, res, err)
		})
	}
}

func wantStatus(t *testing.T, tl homecare.Timeline, day string, want homecare.OrderStatus) {
	t.Helper()
	if got := tl.At(date(t, day)).Status; got != want {
		t.Errorf("status on %s = %s, want %s", day, got, want)
	}
}

func wantRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var te *homecare.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("Add = %v, want a *TransitionError", err)
	}
	if reason != "" && !containsStr(te.Error(), reason) {
		t.Errorf("refusal %q does not say %q", te.Error(), reason)
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// randomHistory is a consistent life of one order: created, perhaps acknowledged, changed,
// executed, paused and resumed (some pauses never resumed, some with a planned end), ended;
// dates are random but in an order a case system could give them.
func randomHistory(t *testing.T, r *rand.Rand) []homecare.OrderEvent {
	day := func(d homecare.Date, n int) string { return d.AddDays(n).String() }
	base := date(t, "2026-11-02")
	evs := []homecare.OrderEvent{created("2026-11-02")(t)}
	cur := base
	if r.IntN(2) == 0 {
		evs = append(evs, at(t, homecare.OrderAcknowledged, day(base, 1), "K", nil)(t))
	}
	for i := range r.IntN(3) {
		occ := day(base, 1+r.IntN(12))
		ev := changed(occ, func(e *homecare.OrderEvent) { e.Order.OrderText = fmt.Sprintf("change %d", i) })(t)
		ev.EventID = fmt.Sprintf("A%d-%s", i, occ) // two changes may occur on one day
		evs = append(evs, ev)
	}
	if r.IntN(4) == 0 {
		evs = append(evs, rejected(day(base, 13))(t))
		return evs
	}
	if r.IntN(5) > 0 {
		cur = cur.AddDays(r.IntN(150))
		evs = append(evs, executed(day(cur, r.IntN(3)), cur.String())(t))
		for range r.IntN(3) {
			cur = cur.AddDays(1 + r.IntN(60))
			planned := ""
			if r.IntN(2) == 0 {
				planned = day(cur, 10)
			}
			evs = append(evs, paused(day(cur, -r.IntN(5)), cur.String(), planned)(t))
			if r.IntN(3) == 0 {
				break // never resumed
			}
			cur = cur.AddDays(1 + r.IntN(150))
			evs = append(evs, resumed(day(cur, r.IntN(3)), cur.String())(t))
		}
	}
	if r.IntN(2) == 0 {
		cur = cur.AddDays(15 + r.IntN(120))
		evs = append(evs, ended(day(cur, -r.IntN(30)), cur.String(), homecare.EndMoved)(t))
	}
	// A duplicate arrives too: the caller (the store) recognises it by its id.
	return evs
}

// arrive adds evs in the order given, as the hub would: an event that must wait
// (ErrUnknownOrder, ErrNoPauseYet) is retried after the next one is taken, as the router
// retries a deferred message; anything else refused fails the test.
func arrive(t *testing.T, evs []homecare.OrderEvent) homecare.Timeline {
	t.Helper()
	var tl homecare.Timeline
	var waiting []homecare.OrderEvent
	seen := map[string]bool{}
	for _, ev := range evs {
		if seen[ev.EventID] {
			continue
		}
		next, _, err := tl.Add(ev)
		switch {
		case errors.Is(err, homecare.ErrUnknownOrder) || errors.Is(err, homecare.ErrNoPauseYet):
			waiting = append(waiting, ev)
			continue
		case err != nil:
			t.Fatalf("%s %s refused: %v", ev.Type, ev.EventID, err)
		}
		tl, seen[ev.EventID] = next, true
		for progress := true; progress; {
			progress = false
			for i, w := range waiting {
				if seen[w.EventID] { // a duplicate: the store knows its id
					waiting = append(waiting[:i], waiting[i+1:]...)
					progress = true
					break
				}
				if next, _, err := tl.Add(w); err == nil {
					tl, seen[w.EventID] = next, true
					waiting = append(waiting[:i], waiting[i+1:]...)
					progress = true
					break
				}
			}
		}
	}
	if len(waiting) > 0 {
		_, _, err := tl.Add(waiting[0])
		t.Fatalf("%d events never applied, first %s %s: %v", len(waiting), waiting[0].Type, waiting[0].EventID, err)
	}
	return tl
}

// TestTimelineIndependentOfArrival: whatever order a history's events (and duplicates of
// them) arrive in, the order on every day is the same.
func TestTimelineIndependentOfArrival(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 2026))
	cmpOpts := cmp.Options{cmpPersonID, cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)}
	for n := range 300 {
		evs := randomHistory(t, r)
		want := arrive(t, evs)
		for range 4 {
			shuffled := append(append([]homecare.OrderEvent(nil), evs...), evs[r.IntN(len(evs))])
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got := arrive(t, shuffled)
			for d := date(t, "2026-11-01"); d.Before(date(t, "2028-01-01")); d = d.AddDays(5) {
				w, g := want.At(d), got.At(d)
				if reflect.DeepEqual(w, g) {
					continue // cmp.Diff below only explains a difference: it is slow
				}
				if diff := cmp.Diff(w, g, cmpOpts); diff != "" {
					t.Fatalf("history %d on %s: arrival order changed the order (-first +shuffled):\n%s", n, d, diff)
				}
			}
		}
	}
}

// TestEVBNeverUnderReports checks EVBForDecision against a brute-force oracle: day by day,
// is some order of the decision executed (status executed on that day)? Every run of three
// months without care that the oracle finds, EVBForDecision reports as overdue, with the
// same first day.
func TestEVBNeverUnderReports(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(16, 6))
	for n := range 400 {
		// One or two orders under the decision: the second after the first was rejected
		// or ended for a change of provider.
		first := arrive(t, randomHistory(t, r))
		tls := []homecare.Timeline{first}
		if o := first.Final(); o.Status == homecare.OrderStatusRejected || r.IntN(3) == 0 {
			second := randomHistory(t, r)
			for i := range second {
				second[i].Order.ExternalID = "BEST-2"
				second[i].EventID = "2-" + second[i].EventID
			}
			tls = append(tls, arrive(t, second))
		}
		today := date(t, "2026-11-02").AddDays(r.IntN(700))
		var orders []homecare.Order
		for _, tl := range tls {
			orders = append(orders, tl.At(today))
		}
		got := homecare.EVBForDecision(orders, today)

		// The oracle: runs of days without care from the decision date to yesterday (or
		// the decision's end), each reportable once it holds its deadline day.
		var runStart homecare.Date
		var reportable []homecare.Date
		decided := date(t, "2026-11-02")
		for d := decided; d.Before(today); d = d.AddDays(1) {
			care, over := false, true
			for _, tl := range tls {
				o := tl.At(d)
				care = care || o.Status == homecare.OrderStatusExecuted
				over = over && (o.Status.Closed() && o.EndReason != homecare.EndProviderChange)
			}
			if over {
				break
			}
			switch {
			case !care && runStart.IsZero():
				runStart = d
			case care && !runStart.IsZero():
				runStart = homecare.Date{}
			}
			if !runStart.IsZero() && d == runStart.AddMonths(homecare.EVBMonths) && (len(reportable) == 0 || reportable[len(reportable)-1] != runStart) {
				reportable = append(reportable, runStart)
			}
		}
		for _, start := range reportable {
			found := false
			for _, p := range got.Overdue() {
				found = found || p.Start == start
			}
			if !found {
				t.Fatalf("decision %d on %s: the oracle reports the run from %s, EVBForDecision does not: %+v",
					n, today, start, got.Periods)
			}
		}
	}
}
