package tessim_test

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

var firstDay = homecare.Date{Year: 2026, Month: 11, Day: 2}

// run is a simulated month: each day's output, and what was left unsent.
type run struct {
	plan    tessim.Plan
	days    []tessim.DayOutput
	pending int
}

// simulate runs the test plan for n days from firstDay.
func simulate(t testing.TB, seed uint64, n int) run {
	t.Helper()
	plan := testPlan(t)
	s, err := tessim.New(plan, tessim.Options{Seed: seed})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := run{plan: plan}
	for i := range n {
		out, err := s.Day(firstDay.AddDays(i))
		if err != nil {
			t.Fatalf("Day: %v", err)
		}
		r.days = append(r.days, out)
	}
	r.pending = s.Pending()
	return r
}

// month is the 30 days the distribution tests share.
var month = sync.OnceValue(func() run { return simulate(&testing.T{}, 1, 30) })

// performed returns every version 1 record of the run.
func (r run) performed() []tessim.Visit {
	var out []tessim.Visit
	for _, d := range r.days {
		out = append(out, d.Performed...)
	}
	return out
}

// sent returns every batch of the run.
func (r run) sent() []tessim.Batch {
	var out []tessim.Batch
	for _, d := range r.days {
		out = append(out, d.Syncs...)
	}
	return out
}

func TestDayDeterministic(t *testing.T) {
	a, b, c := simulate(t, 7, 4), simulate(t, 7, 4), simulate(t, 8, 4)
	ja, _ := json.Marshal(a.days)
	jb, _ := json.Marshal(b.days)
	jc, _ := json.Marshal(c.days)
	if string(ja) != string(jb) {
		t.Error("the same seed gave different days")
	}
	if string(ja) == string(jc) {
		t.Error("another seed gave the same days")
	}
}

func TestDayOrder(t *testing.T) {
	s, err := tessim.New(testPlan(t), tessim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Day(firstDay); err != nil {
		t.Fatal(err)
	}
	for _, d := range []homecare.Date{firstDay, firstDay.AddDays(-1)} {
		if _, err := s.Day(d); err == nil {
			t.Errorf("Day(%s) after Day(%s): no error", d, firstDay)
		}
	}
}

// TestDistribution checks a month of the defaults against what the
// Rates promise, within tolerances wide enough for one seed.
func TestDistribution(t *testing.T) {
	r := month()
	visits := r.performed()
	n := float64(len(visits))
	count := func(f func(tessim.Visit) bool) float64 {
		k := 0
		for _, v := range visits {
			if f(v) {
				k++
			}
		}
		return float64(k)
	}
	var corrections, late, offline float64
	for _, b := range r.sent() {
		for _, v := range b.Visits {
			if v.Version > 1 {
				corrections++
			}
			if v.Version == 1 && v.ReceivedAt.Sub(v.End) > 48*time.Hour {
				late++
			}
			if v.Offline && v.Version == 1 {
				offline++
			}
		}
	}
	tests := []struct {
		name     string
		got      float64 // a share of the visits, or a count
		min, max float64
	}{
		{"visits in 30 days", n, 4000, 8000},
		{"manual share", count(func(v tessim.Visit) bool { return v.Method == tessim.Manual }) / n, 0.04, 0.065},
		{"lock share", count(func(v tessim.Visit) bool { return v.Method == tessim.Lock }) / n, 0.015, 0.045},
		{"outside the home", count(func(v tessim.Visit) bool { return v.Method == tessim.Outside }), 5, 80},
		{"declined share", count(func(v tessim.Visit) bool { return v.Status == tessim.Declined }) / n, 0.01, 0.03},
		{"partly declined", count(func(v tessim.Visit) bool { return v.Status == tessim.PartlyDeclined }), 20, 600},
		{"double staffed", count(func(v tessim.Visit) bool { return len(v.Staff) == 2 }), 50, 2000},
		{"cohabitant records", count(func(v tessim.Visit) bool { return v.SharedVisitID != "" }), 30, 500},
		{"start and end tags differ", count(func(v tessim.Visit) bool { return v.EndTagUID != "" }), 30, 1000},
		{"offline records", offline, 50, 2000},
		{"late records (received > 48 h after the end)", late, 1, 300},
		{"corrections", corrections, 0.01 * n, 0.03 * n},
	}
	for _, tt := range tests {
		t.Logf("%-45s %8.3f", tt.name, tt.got)
		if tt.got < tt.min || tt.got > tt.max || math.IsNaN(tt.got) {
			t.Errorf("%s = %.3f, want %.3f-%.3f", tt.name, tt.got, tt.min, tt.max)
		}
	}
}

// TestVisitsValid checks every record sent against the contract.
func TestVisitsValid(t *testing.T) {
	v, err := schema.LoadJSONSchema("../../../schemas/tes/export.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	r := month()
	n := 0
	for _, b := range r.sent() {
		for _, visit := range b.Visits {
			body, err := json.Marshal(visit)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Validate(body); err != nil {
				t.Fatalf("visit %s version %d: %v\n%s", visit.VisitID, visit.Version, err, body)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no visits sent")
	}
}

// TestVisitsConsistent checks what every record must be, whatever the
// draws: times, methods and tags, statuses, double staffing, cohabitants.
func TestVisitsConsistent(t *testing.T) {
	r := month()
	clients := map[string]tessim.Client{}
	tagOwner := map[string]string{}
	for _, c := range r.plan.Clients {
		clients[c.PersonID] = c
		for _, tag := range c.Tags {
			tagOwner[tag] = c.PersonID
		}
	}
	skew := map[string]time.Duration{}
	for _, p := range r.plan.Providers {
		for _, ph := range p.Phones {
			skew[ph.DeviceID] = ph.Skew
		}
	}
	byID := map[string]tessim.Visit{}
	for _, v := range r.performed() {
		byID[v.VisitID] = v
	}
	var foreign, unknown int
	for _, v := range r.performed() {
		c := clients[v.ClientPnr]
		// Granted two staff: an insats of the visit is (the day's grants in
		// the visit's slot, so the plan's, version 1 adding none).
		doubleGranted := slices.ContainsFunc(v.Insatser, func(in tessim.Insats) bool {
			return slices.ContainsFunc(c.Insatser, func(g tessim.Grant) bool { return g.Code == in.Code && g.DoubleStaffing })
		})
		for _, ok := range []struct {
			what string
			ok   bool
		}{
			{"ends after it starts", v.End.After(v.Start)},
			{"times in Stockholm", v.Start.Location() == homecare.Stockholm() && v.ReceivedAt.Location() == homecare.Stockholm()},
			{"received after the end", !v.ReceivedAt.Before(v.End)},
			{"device clock is start plus a skew", v.DeviceStart.Sub(v.Start) == v.DeviceEnd.Sub(v.End)},
			{"two staff only where granted", len(v.Staff) == 1 || doubleGranted},
			{"two staff where granted", len(v.Staff) == 2 || !doubleGranted},
			{"one primary first", v.Staff[0].Role == tessim.Primary && (len(v.Staff) == 1 || v.Staff[1].Role == tessim.Second)},
			{"tag with NFC and LAS only", (v.TagUID != "") == (v.Method == tessim.NFC || v.Method == tessim.Lock)},
			{"LAS ends with a tag", v.Method != tessim.Lock || v.StartMethod == tessim.Lock && v.EndMethod == tessim.NFC},
			{"start and end tags both or neither", (v.StartTagUID == "") == (v.EndTagUID == "")},
		} {
			if !ok.ok {
				t.Errorf("%s: not %s: %+v", v.VisitID, ok.what, v)
			}
		}
		declined := 0
		for _, in := range v.Insatser {
			if in.Declined {
				declined++
				if in.DeclinedReason == "" || in.Minutes != 0 || in.DoubleStaffed {
					t.Errorf("%s: declined insats %+v", v.VisitID, in)
				}
			}
			if in.DoubleStaffed && len(v.Staff) != 2 {
				t.Errorf("%s: insats double staffed with one staff", v.VisitID)
			}
		}
		want := map[int]tessim.Status{0: tessim.Performed, len(v.Insatser): tessim.Declined}[declined]
		if want == "" {
			want = tessim.PartlyDeclined
		}
		if v.Status != want {
			t.Errorf("%s: status %s with %d of %d insatser declined", v.VisitID, v.Status, declined, len(v.Insatser))
		}
		if v.TagUID != "" {
			switch owner, ok := tagOwner[v.TagUID]; {
			case !ok:
				unknown++
			case owner != v.ClientPnr:
				foreign++
			}
		}
		if v.SharedVisitID != "" {
			o, ok := byID[v.SharedVisitID]
			switch {
			case !ok || o.SharedVisitID != v.VisitID:
				t.Errorf("%s: shared visit %s does not name it back", v.VisitID, v.SharedVisitID)
			case c.Cohabitant != o.ClientPnr:
				t.Errorf("%s: shared with a client who is not the cohabitant", v.VisitID)
			case !o.Start.Equal(v.Start) || !o.End.Equal(v.End) || o.Staff[0] != v.Staff[0] || o.ReceivedAt != v.ReceivedAt:
				t.Errorf("%s and %s: a shared visit with other times, staff or sync", v.VisitID, o.VisitID)
			}
		}
	}
	// Each batch: its visits' device clocks are its phone's.
	for _, b := range r.sent() {
		for _, v := range b.Visits {
			if d, ok := skew[b.DeviceID]; ok && v.DeviceStart.Sub(v.Start) != d {
				t.Errorf("%s in %s: device clock %v off, the phone's is %v", v.VisitID, b.SyncID, v.DeviceStart.Sub(v.Start), d)
			}
		}
	}
	t.Logf("tags of another client: %d, unknown tags: %d", foreign, unknown)
	if foreign == 0 || unknown == 0 {
		t.Errorf("a month without a wrong door (%d) or an unknown tag (%d)", foreign, unknown)
	}
}

// TestCohabitantsTogether checks that the couple is visited together
// whenever both have insatser at the same time of day.
func TestCohabitantsTogether(t *testing.T) {
	r := month()
	a, b := r.plan.Clients[0].PersonID, r.plan.Clients[2].PersonID
	for _, d := range r.days {
		slots := map[string][]tessim.Visit{} // by day and slot
		for _, v := range d.Performed {
			if v.ClientPnr == a || v.ClientPnr == b {
				key := v.PlannedVisitID[strings.LastIndexByte(v.PlannedVisitID, '-')+1:]
				slots[key] = append(slots[key], v)
			}
		}
		for slot, vs := range slots {
			if len(vs) == 2 && (vs[0].SharedVisitID != vs[1].VisitID || vs[1].SharedVisitID != vs[0].VisitID) {
				t.Errorf("%s %s: the couple's two visits are not shared", d.Date, slot)
			}
			if len(vs) == 1 && vs[0].SharedVisitID != "" {
				t.Errorf("%s %s: a visit alone names a shared one", d.Date, slot)
			}
		}
	}
}

// TestSyncs checks the batches: sizes, order, ids, what they carry, and
// that every record is sent once or still pending.
func TestSyncs(t *testing.T) {
	r := month()
	ids := map[string]bool{}
	type key struct {
		id      string
		version int
	}
	sentIn := map[key]tessim.Batch{}
	for _, d := range r.days {
		for i, b := range d.Syncs {
			if len(b.Visits) == 0 || len(b.Visits) > tessim.MaxBatch {
				t.Errorf("%s: %d visits", b.SyncID, len(b.Visits))
			}
			if homecare.LocalDate(b.SentAt) != d.Date {
				t.Errorf("%s: sent %s on the output of %s", b.SyncID, b.SentAt, d.Date)
			}
			if i > 0 && b.SentAt.Before(d.Syncs[i-1].SentAt) {
				t.Errorf("%s: out of order", b.SyncID)
			}
			if ids[b.SyncID] || !strings.HasPrefix(b.SyncID, b.DeviceID+"-") {
				t.Errorf("sync id %s repeated or not the device's", b.SyncID)
			}
			ids[b.SyncID] = true
			for _, v := range b.Visits {
				k := key{v.VisitID, v.Version}
				if _, dup := sentIn[k]; dup {
					t.Errorf("%s version %d sent twice", v.VisitID, v.Version)
				}
				sentIn[k] = b
				if v.ReceivedAt.After(b.SentAt) {
					t.Errorf("%s: received %s after it was sent %s", v.VisitID, v.ReceivedAt, b.SentAt)
				}
			}
		}
		// The night's export is what came in during the day, latest version.
		latest := map[string]tessim.Visit{}
		for _, b := range d.Syncs {
			for _, v := range b.Visits {
				if latest[v.VisitID].Version < v.Version {
					latest[v.VisitID] = v
				}
			}
		}
		if len(d.Nightly) != len(latest) {
			t.Errorf("%s: nightly has %d visits, the syncs %d", d.Date, len(d.Nightly), len(latest))
		}
		for _, v := range d.Nightly {
			if diff := cmp.Diff(latest[v.VisitID], v); diff != "" {
				t.Errorf("%s: nightly %s (-synced +nightly):\n%s", d.Date, v.VisitID, diff)
			}
		}
	}
	performed := r.performed()
	unsent := 0
	for _, v := range performed {
		if _, ok := sentIn[key{v.VisitID, 1}]; !ok {
			unsent++
		}
	}
	if unsent > r.pending {
		t.Errorf("%d records never sent, %d pending", unsent, r.pending)
	}
	// A correction comes in a later batch from TES's web client than the
	// record it corrects, which stays as it was apart from what changed.
	corrections := 0
	for k, b := range sentIn {
		if k.version == 1 {
			continue
		}
		corrections++
		first, ok := sentIn[key{k.id, 1}]
		switch {
		case !ok:
			t.Errorf("%s corrected before it was sent", k.id)
		case b.DeviceID != tessim.WebDeviceID || !b.SentAt.After(first.SentAt):
			t.Errorf("%s: correction in %s at %s, the record in %s at %s", k.id, b.SyncID, b.SentAt, first.SyncID, first.SentAt)
		}
	}
	if corrections == 0 {
		t.Error("no corrections in a month")
	}
}

// TestStaffOverlap checks that a staff member is rarely on two visits at
// once (cohabitants' shared visits aside), and sometimes is.
func TestStaffOverlap(t *testing.T) {
	r := month()
	type span struct {
		id, shared string
		start, end time.Time
	}
	byStaff := map[tessim.Staff][]span{}
	for _, v := range r.performed() {
		for _, s := range v.Staff {
			byStaff[s.Staff] = append(byStaff[s.Staff], span{v.VisitID, v.SharedVisitID, v.Start, v.End})
		}
	}
	overlaps := 0
	for _, spans := range byStaff {
		slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
		for i := 1; i < len(spans); i++ {
			if spans[i].start.Before(spans[i-1].end) && spans[i].shared != spans[i-1].id {
				overlaps++
			}
		}
	}
	n := len(r.performed())
	t.Logf("overlapping visits: %d of %d", overlaps, n)
	if overlaps == 0 || overlaps > n/50 {
		t.Errorf("%d overlapping visits of %d, want a few", overlaps, n)
	}
}

// TestDST runs the autumn and the spring night: times carry the offset
// of their side of the change, and the records stay valid.
func TestDST(t *testing.T) {
	tests := []struct {
		day            homecare.Date
		before, after  string // offsets of the day before and after
		evening, night string // offsets on the day: the morning, the evening
	}{
		{homecare.Date{Year: 2026, Month: 10, Day: 25}, "+02:00", "+01:00", "+01:00", "+01:00"},
		{homecare.Date{Year: 2026, Month: 3, Day: 29}, "+01:00", "+02:00", "+02:00", "+02:00"},
	}
	for _, tt := range tests {
		t.Run(tt.day.String(), func(t *testing.T) {
			s, err := tessim.New(testPlan(t), tessim.Options{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []string{tt.before, tt.evening, tt.after} {
				out, err := s.Day(tt.day.AddDays(i - 1))
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range out.Performed {
					if got := v.Start.Format("-07:00"); got != want {
						t.Fatalf("%s starts %s, want offset %s", v.VisitID, v.Start.Format(time.RFC3339), want)
					}
					// A night visit held up may start after midnight.
					if local := v.Start.In(homecare.Stockholm()); homecare.DateOf(local) != out.Date &&
						(homecare.DateOf(local) != out.Date.AddDays(1) || local.Hour() >= 2) {
						t.Fatalf("%s starts on %s, not on its day %s", v.VisitID, homecare.LocalDate(v.Start), out.Date)
					}
				}
			}
		})
	}
}

// TestSetPlan checks that a plan change takes effect the next day: a
// client whose order ended is not visited, the cohabitant left is
// visited alone.
func TestSetPlan(t *testing.T) {
	plan := testPlan(t)
	s, err := tessim.New(plan, tessim.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Day(firstDay); err != nil {
		t.Fatal(err)
	}
	gone := plan.Clients[0].PersonID
	next := plan
	next.Clients = slices.Clone(plan.Clients[1:])
	if err := s.SetPlan(next); err != nil {
		t.Fatal(err)
	}
	bad := plan
	bad.Clients = slices.Clone(plan.Clients)
	bad.Clients[1].PersonID = "19121212-1212"
	if err := s.SetPlan(bad); err == nil {
		t.Fatal("SetPlan took a plan with a number that is not a test number")
	}
	out, err := s.Day(firstDay.AddDays(1))
	if err != nil {
		t.Fatal(err)
	}
	alone := 0
	for _, v := range out.Performed {
		switch {
		case v.ClientPnr == gone:
			t.Errorf("%s: a client no longer in the plan visited", v.VisitID)
		case v.ClientPnr == plan.Clients[2].PersonID:
			alone++
			if v.SharedVisitID != "" {
				t.Errorf("%s: the cohabitant left is visited with someone", v.VisitID)
			}
		}
	}
	if alone == 0 {
		t.Error("the cohabitant left is not visited")
	}
}
