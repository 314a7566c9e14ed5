package report_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

func d(t *testing.T, s string) homecare.Date {
	t.Helper()
	v, err := homecare.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// order builds one order's timeline: created on its decision date, then the events step adds.
type order struct {
	t        *testing.T
	id       string
	decision string
	client   int
	events   []homecare.OrderEvent
}

func newOrder(t *testing.T, id, decision, decided string, client int, protected bool) *order {
	pid := homecare.OfficialTestPersonIDs()[client]
	o := &order{t: t, id: id, decision: decision, client: client}
	o.add(homecare.OrderCreated, decided, func(e *homecare.OrderEvent) {
		e.Order = homecare.OrderSnapshot{ExternalID: id, DecisionID: decision, DecidedAt: d(t, decided), ProviderID: "omsorg-norr",
			Client:    &homecare.OrderClient{PersonID: pid, PersonIDType: pid.Type(), ProtectedIdentity: protected},
			ValidFrom: d(t, decided), Insatser: []homecare.OrderInsats{{Code: "DUSCH", GrantedMinutes: 40, Period: homecare.PeriodWeek},
				{Code: "TILLSYN", GrantedMinutes: 10, Period: homecare.PeriodDay}}}
	})
	return o
}

func (o *order) add(typ homecare.OrderEventType, day string, set func(*homecare.OrderEvent)) *order {
	e := homecare.OrderEvent{SourceSystem: "lifecare", EventID: o.id + "-" + string(typ) + "-" + day, Type: typ,
		OccurredAt: d(o.t, day).In(time.UTC).Add(9 * time.Hour), Order: homecare.OrderSnapshot{ExternalID: o.id}}
	set(&e)
	o.events = append(o.events, e)
	return o
}

func (o *order) executed(day string) *order {
	return o.add(homecare.OrderExecuted, day, func(e *homecare.OrderEvent) { e.ExecutedDate = d(o.t, day) })
}

func (o *order) paused(from, planned string) *order {
	return o.add(homecare.OrderPaused, from, func(e *homecare.OrderEvent) {
		e.Pause = &homecare.OrderPause{From: d(o.t, from), To: d(o.t, planned), Reason: homecare.PauseHospital}
	})
}

func (o *order) ended(day string, why homecare.EndReason) *order {
	return o.add(homecare.OrderEnded, day, func(e *homecare.OrderEvent) { e.End = &homecare.OrderEnd{Date: d(o.t, day), Reason: why} })
}

func (o *order) timeline() homecare.Timeline {
	var tl homecare.Timeline
	for _, e := range o.events {
		var err error
		if tl, _, err = tl.Add(e); err != nil {
			o.t.Fatalf("%s: %v", e.EventID, err)
		}
	}
	return tl
}

// municipality is a small one's decisions in 2026, one per case the IVO report must tell
// apart.
func municipality(t *testing.T) []homecare.Timeline {
	orders := []*order{
		newOrder(t, "O1", "B1-not-executed", "2026-06-15", 0, false),
		newOrder(t, "O2", "B2-executed-late", "2026-08-01", 1, false).executed("2026-11-20"),
		newOrder(t, "O3", "B3-interrupted", "2026-02-01", 2, false).executed("2026-03-01").paused("2026-09-01", "2026-09-14"),
		newOrder(t, "O4", "B4-ended-unexecuted", "2026-05-01", 3, false).ended("2026-10-15", homecare.EndDeceased),
		newOrder(t, "O5", "B5-late-before-q4", "2026-01-10", 4, false).executed("2026-05-01"),
		newOrder(t, "O6", "B6-protected", "2026-07-01", 5, true),
		newOrder(t, "O7", "B7-rejected-then-new", "2026-09-01", 6, false).add(homecare.OrderRejected, "2026-09-02",
			func(e *homecare.OrderEvent) { e.Reason = "full" }),
		newOrder(t, "O8", "B7-rejected-then-new", "2026-09-01", 6, false).executed("2026-09-20"),
		newOrder(t, "O9", "B9-in-time", "2026-11-01", 7, false).executed("2026-11-03"),
		newOrder(t, "O10", "B10-declined", "2026-08-15", 8, false).add(homecare.OrderRejected, "2026-08-16",
			func(e *homecare.OrderEvent) { e.Reason = "full" }),
	}
	var tls []homecare.Timeline
	for _, o := range orders {
		tls = append(tls, o.timeline())
	}
	return tls
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/report -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func TestIVOReport(t *testing.T) {
	tls := municipality(t)
	q := report.Quarter{Year: 2026, Q: 4}
	lines := report.IVO(tls, q, d(t, "2027-01-15")) // run after the quarter: as of 2027-01-01
	var buf bytes.Buffer
	if err := report.WriteIVO(&buf, lines); err != nil {
		t.Fatal(err)
	}
	golden(t, "ivo_2026Q4.csv", buf.Bytes())

	got := map[string]string{}
	for _, l := range lines {
		got[l.DecisionID] = l.Outcome
	}
	want := map[string]string{"B1-not-executed": "not_executed", "B2-executed-late": "executed",
		"B3-interrupted": "not_executed", "B4-ended-unexecuted": "ended", "B6-protected": "not_executed",
		"B10-declined": "not_executed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions reported (-want +got):\n%s", diff)
	}
	for _, l := range lines {
		if l.DecisionID == "B6-protected" && l.ClientRef == homecare.OfficialTestPersonIDs()[5].Reveal() {
			t.Errorf("a protected identity is reported by its personnummer")
		}
	}
	// Run again later: the past quarter comes out the same.
	again := report.IVO(tls, q, d(t, "2027-06-01"))
	if diff := cmp.Diff(lines, again); diff != "" {
		t.Errorf("the report for 2026Q4 changed when run later (-first +later):\n%s", diff)
	}
}

func TestStatistics(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteStatistics(&buf, report.Statistics(municipality(t), report.Month{Year: 2026, Month: time.November})); err != nil {
		t.Fatal(err)
	}
	golden(t, "statistics_2026-11.csv", buf.Bytes())
}

func TestParsePeriods(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{{"2026Q4", "2026Q4", true}, {"2026-q1", "2026Q1", true}, {"2026Q5", "", false}, {"26Q1", "", false}, {"Q4", "", false}} {
		q, err := report.ParseQuarter(tt.in)
		if (err == nil) != tt.ok || (tt.ok && q.String() != tt.want) {
			t.Errorf("ParseQuarter(%q) = %v, %v", tt.in, q, err)
		}
	}
	q := report.Quarter{Year: 2026, Q: 1}
	if q.First() != d(t, "2026-01-01") || q.Last() != d(t, "2026-03-31") || q.Prev().String() != "2025Q4" {
		t.Errorf("2026Q1: %s – %s, before %s", q.First(), q.Last(), q.Prev())
	}
	if _, err := report.ParseMonth("2026-13"); err == nil {
		t.Error("ParseMonth(2026-13) = nil")
	}
}
