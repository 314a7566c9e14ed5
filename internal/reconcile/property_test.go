package reconcile_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// The property tests load random small worlds (a week of orders, visits and lock events,
// from a fixed seed) through the fixtures' loader and check what must hold whatever the
// inputs: no negative time or money, cohabitants' time conserved, a re-run changing
// nothing, and the day lines adding up to the period lines.

// seedsPer is how many seeds each property runs on each database.
var seedsPer = map[string]int{"sqlite": 30, "postgres": 5}

var (
	demoCodes = []string{"DUSCH", "FRUKOST", "LUNCH", "MIDDAG", "KVALL", "MEDICIN", "TILLSYN", "STAD", "INKOP", "PROMENAD", "XYZ"}
	clientsOf = []string{"anna", "bertil", "cilla", "david", "eva", "filip"}
)

const (
	propFrom = "2026-10-05" // a Monday; the week has no clock change
	propTo   = "2026-10-11"
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// randomWorld is a week of a handful of clients: orders with random insatser, 20–60 visits
// with random methods, durations, insatser, declines, double staff, cohabitant links and
// late receipts, and random lock events.
func randomWorld(seed uint64) *fixture {
	r := rand.New(rand.NewPCG(seed, 0x6b6e7574))
	f := &fixture{Name: fmt.Sprintf("seed %d", seed), From: propFrom, To: propTo}
	f.Clients = clientsOf[:3+r.IntN(len(clientsOf)-2)]
	if r.IntN(2) == 0 {
		f.Rules = map[string]any{"rounding": "minute"}
	}
	periods := []string{"day", "week", "month"}
	for i, c := range f.Clients {
		if r.IntN(6) == 0 {
			continue // no order: NO_ORDER
		}
		o := fxOrder{ID: fmt.Sprintf("O%d", i), Client: c, Provider: "norr", ValidFrom: pick(r, []string{"2026-09-01", "2026-10-07"})}
		for range 1 + r.IntN(3) {
			in := map[string]any{"code": pick(r, demoCodes), "granted_minutes": 5 + r.IntN(120), "period": pick(r, periods)}
			if r.IntN(4) == 0 {
				in["double_staffing"] = true
			}
			if r.IntN(3) == 0 {
				in["minutes_per_occasion"] = 5 + r.IntN(40)
			}
			if in["period"] != "month" && r.IntN(3) == 0 {
				in["schedule"] = map[string]any{"weekdays": []string{"mon", "thu"}}
			}
			o.RawIns = append(o.RawIns, in)
		}
		if r.IntN(8) == 0 {
			o.Paused = &struct {
				From   string `yaml:"from"`
				Reason string `yaml:"reason"`
			}{From: "2026-10-08", Reason: "sjukhus"}
		}
		f.Orders = append(f.Orders, o)
	}
	n := 20 + r.IntN(41)
	for i := 0; len(f.Visits) < n; i++ {
		v := fxVisit{Ref: fmt.Sprintf("V%d", i), Client: pick(r, f.Clients), Provider: "norr", Staff: []string{pick(r, []string{"1001", "1002", "1003", "1004"})}}
		if r.IntN(10) == 0 {
			v.Provider = "syd"
		}
		start := localTimeOf(propFrom).AddDate(0, 0, r.IntN(7)).Add(time.Duration(6*3600+r.IntN(15*3600)) * time.Second)
		var d time.Duration
		switch k := r.IntN(20); {
		case k == 0:
			d = time.Duration(r.IntN(60)) * time.Second // too short
		case k == 1:
			d = time.Duration(241+r.IntN(120)) * time.Minute // too long
		default:
			d = time.Duration(60+r.IntN(90*60)) * time.Second
		}
		v.Start, v.End = fmtLocal(start), fmtLocal(start.Add(d))
		v.StartMethod = pick(r, []string{"tag", "tag", "tag", "manual", "lock"})
		v.EndMethod = pick(r, []string{"tag", "tag", "tag", "manual", "lock"})
		switch r.IntN(10) {
		case 0:
			v.Tag = "foreign"
		case 1:
			v.Tag = pick(r, f.Clients)
		}
		if r.IntN(4) == 0 {
			v.Staff = append(v.Staff, "1005")
		}
		for range r.IntN(4) {
			in := map[string]any{"code": pick(r, demoCodes)}
			if r.IntN(3) == 0 {
				in["minutes"] = r.IntN(40)
			}
			if r.IntN(6) == 0 {
				in["declined"] = true
			}
			if r.IntN(4) == 0 {
				in["double_staffed"] = true
			}
			if !slices.ContainsFunc(v.Insatser, func(m map[string]any) bool { return m["code"] == in["code"] }) {
				v.Insatser = append(v.Insatser, in)
			}
		}
		switch r.IntN(15) {
		case 0:
			v.Status = "declined"
		case 1:
			v.Status = "cancelled"
		}
		if r.IntN(8) == 0 {
			v.Version = 2
		}
		switch r.IntN(12) {
		case 0:
			v.Received = fmtLocal(start.Add(d + 72*time.Hour)) // late, within the reopen days
		case 1:
			v.Received = fmtLocal(start.Add(d + 40*24*time.Hour)) // beyond
		}
		v.Extra = r.IntN(10) == 0
		f.Visits = append(f.Visits, v)
		if r.IntN(8) == 0 { // a cohabitant visited at once
			other := pick(r, f.Clients)
			if other != v.Client {
				w := v
				w.Ref, w.Client, w.Shared = v.Ref+"c", other, v.Ref
				w.Insatser = nil
				w.Tag = ""
				f.Visits[len(f.Visits)-1].Shared = w.Ref
				f.Visits = append(f.Visits, w)
			}
		}
		for range r.IntN(3) {
			at := start.Add(time.Duration(r.IntN(int(d/time.Second)+1800)-900) * time.Second)
			f.Locks = append(f.Locks, fxLockEvent{Client: pick(r, []string{v.Client, pick(r, f.Clients)}),
				Holder: pick(r, []string{v.Staff[0], "1009"}), Action: pick(r, []string{"unlock", "lock", "unlatch"}),
				At: at.Format("2006-01-02 15:04")})
		}
	}
	return f
}

func localTimeOf(day string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func fmtLocal(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05") }

// propWorlds runs check on a fresh world of every seed on every database.
func propWorlds(t *testing.T, gen func(seed uint64) *fixture, check func(t *testing.T, w *world, f *fixture)) {
	for _, db := range dsns(t) {
		t.Run(db.Name, func(t *testing.T) {
			for seed := range uint64(seedsPer[db.Name]) {
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
					dsn := filepath.Join(t.TempDir(), "knut.db")
					if db.Name == "postgres" {
						dsn = storetest.FreshPostgres(t, storetest.Cluster(t))
					}
					f := gen(seed)
					w := openWorld(t, dsn)
					w.load(t, f)
					*w.now = date(t, f.To).AddDays(3).In(loc)
					check(t, w, f)
				})
			}
		})
	}
}

// runOnce runs f's period and returns the run, its day lines and its period lines.
func runOnce(t *testing.T, w *world, f *fixture) (*reconcile.Result, []homecare.ReconciliationLine) {
	t.Helper()
	res, err := reconcile.Run(context.Background(), w.st, fixtureRules(t, f.Rules),
		reconcile.Options{From: date(t, f.From), To: date(t, f.To), Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var days []homecare.ReconciliationLine
	if err := w.st.RunLines(context.Background(), res.Run.ID, homecare.LineDay, func(l *homecare.ReconciliationLine) error {
		days = append(days, *l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(days) == 0 {
		t.Fatal("no day lines: the world is empty")
	}
	return res, days
}

// fields are a line's time and money, by name.
func fields(l *homecare.ReconciliationLine) map[string]int64 {
	return map[string]int64{"granted": l.Granted, "registered": l.Registered, "verified": l.Verified, "payable": l.Payable,
		"schablon": l.Schablon, "declined": l.Declined, "double_staff": l.DoubleStaff, "manual": l.Manual,
		"unit_price": l.UnitPrice, "amount": l.Amount, "visits": int64(l.Visits)}
}

// TestPropertyNeverNegative: no line has a negative time, amount or count, and what is
// verified or by hand is part of what was registered.
func TestPropertyNeverNegative(t *testing.T) {
	propWorlds(t, randomWorld, func(t *testing.T, w *world, f *fixture) {
		res, days := runOnce(t, w, f)
		t.Log(res.Run.Summary)
		for _, l := range append(days, res.Periods...) {
			for name, v := range fields(&l) {
				if v < 0 {
					t.Errorf("%s: %s = %d, negative: %s", l.Key(), name, v, l.Explanation)
				}
			}
			if l.Verified > l.Registered || l.Manual > l.Registered {
				t.Errorf("%s: verified %d s, manual %d s, more than registered %d s", l.Key(), l.Verified, l.Manual, l.Registered)
			}
		}
	})
}

// TestPropertyRerunChangesNothing: running the same period again gives the same lines,
// field for field; the first run is superseded by the second, whose lines are current.
func TestPropertyRerunChangesNothing(t *testing.T) {
	propWorlds(t, randomWorld, func(t *testing.T, w *world, f *fixture) {
		ctx := context.Background()
		first, firstDays := runOnce(t, w, f)
		*w.now = w.now.Add(time.Hour)
		second, secondDays := runOnce(t, w, f)
		if d := cmp.Diff(firstDays, secondDays); d != "" {
			t.Errorf("re-run day lines (-first +second):\n%s", d)
		}
		if d := cmp.Diff(first.Periods, second.Periods); d != "" {
			t.Errorf("re-run period lines (-first +second):\n%s", d)
		}
		runs, err := w.st.ReconcileRuns(ctx, date(t, f.From), date(t, f.To))
		if err != nil {
			t.Fatal(err)
		}
		superseded := ""
		for _, r := range runs {
			if r.ID == first.Run.ID {
				superseded = r.SupersededBy
			}
		}
		if superseded != second.Run.ID {
			t.Errorf("first run %s superseded by %q, want %s", first.Run.ID, superseded, second.Run.ID)
		}
		var current []homecare.ReconciliationLine
		cur, err := w.st.CurrentReconcileLines(ctx, date(t, f.From), date(t, f.To), func(l *homecare.ReconciliationLine) error {
			current = append(current, *l)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(cur) == 0 || cur[0].ID != second.Run.ID {
			t.Errorf("current runs %v, want the second (%s) first", runIDs(cur), second.Run.ID)
		}
		if d := cmp.Diff(secondDays, current); d != "" {
			t.Errorf("current lines (-second run +current):\n%s", d)
		}
	})
}

func runIDs(rs []homecare.ReconciliationRun) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestPropertyDaysSumToPeriod: each period line is the sum of its day lines, and carries
// every code they had but OK and ORDER_NOT_EXECUTED (the month judges that itself).
func TestPropertyDaysSumToPeriod(t *testing.T) {
	propWorlds(t, randomWorld, func(t *testing.T, w *world, f *fixture) {
		res, days := runOnce(t, w, f)
		type key struct{ client, provider, category string }
		sums := map[key]map[string]int64{}
		codes := map[key]map[homecare.StatusCode]bool{}
		for _, l := range days {
			k := key{l.ClientKey, l.ProviderID, l.Category}
			if sums[k] == nil {
				sums[k], codes[k] = map[string]int64{}, map[homecare.StatusCode]bool{}
			}
			for name, v := range fields(&l) {
				if name != "amount" && name != "unit_price" {
					sums[k][name] += v
				}
			}
			for _, c := range l.Status {
				codes[k][c] = true
			}
		}
		if len(res.Periods) != len(sums) {
			t.Errorf("%d period lines, want one per client × provider × category of the days: %d", len(res.Periods), len(sums))
		}
		for _, p := range res.Periods {
			k := key{p.ClientKey, p.ProviderID, p.Category}
			got := fields(&p)
			delete(got, "amount")
			delete(got, "unit_price")
			if d := cmp.Diff(sums[k], got); d != "" {
				t.Errorf("%s: period line (-sum of days +period):\n%s", p.Key(), d)
			}
			for c := range codes[k] {
				if c != homecare.StatusOK && c != homecare.StatusOrderNotExecuted && !slices.Contains(p.Status, c) {
					t.Errorf("%s: a day had %s, the period line has %v", p.Key(), c, p.Status)
				}
			}
		}
	})
}

// cohabitantWorld is groups of two or three clients visited at once: identical times, the
// clients' own tags, orders granting each a clock-paid insats, one staff member per group.
// Nothing but the split applies, so each group's payable adds up to its clock time.
func cohabitantWorld(seed uint64) *fixture {
	r := rand.New(rand.NewPCG(seed, 0x636f6861))
	f := &fixture{Name: fmt.Sprintf("cohabitants seed %d", seed), From: propFrom, To: propTo}
	if r.IntN(2) == 0 {
		f.Rules = map[string]any{"rounding": "minute"}
	}
	names := []string{"anna", "bertil", "cilla", "david", "eva", "filip", "gun", "hans", "ines"}
	for i := 0; i+2 <= len(names); {
		n := 2 + r.IntN(2)
		if i+n > len(names) {
			n = len(names) - i
		}
		start := localTimeOf(propFrom).AddDate(0, 0, r.IntN(7)).Add(time.Duration(6*3600+r.IntN(15*3600)) * time.Second)
		d := time.Duration(60+r.IntN(120*60)) * time.Second
		code := pick(r, []string{"DUSCH", "MEDICIN", "PROMENAD"})
		staff := fmt.Sprintf("%d", 1001+i)
		first := fmt.Sprintf("V%d", i)
		for j := range n {
			c := names[i+j]
			f.Clients = append(f.Clients, c)
			f.Orders = append(f.Orders, fxOrder{ID: "O" + c, Client: c, Provider: "norr", ValidFrom: "2026-09-01",
				RawIns: []map[string]any{{"code": code, "granted_minutes": 30, "period": "week"}}})
			v := fxVisit{Ref: fmt.Sprintf("V%d", i+j), Client: c, Provider: "norr", Staff: []string{staff},
				Start: fmtLocal(start), End: fmtLocal(start.Add(d)), Insatser: []map[string]any{{"code": code}}}
			if j > 0 {
				v.Shared = first
			} else {
				v.Shared = fmt.Sprintf("V%d", i+1)
			}
			f.Visits = append(f.Visits, v)
		}
		i += n
	}
	return f
}

// TestPropertyCohabitantsConserveTime: a group's payable adds up to its first visit's
// clock time (rounded when the rules round), whatever the group's size.
func TestPropertyCohabitantsConserveTime(t *testing.T) {
	propWorlds(t, cohabitantWorld, func(t *testing.T, w *world, f *fixture) {
		_, days := runOnce(t, w, f)
		rs := fixtureRules(t, f.Rules)
		paid := map[string]int64{} // by visit ref
		for _, l := range days {
			if len(l.VisitRefs) > 1 {
				t.Fatalf("%s: %d visits, want at most one per client and day", l.Key(), len(l.VisitRefs))
			}
			for _, ref := range l.VisitRefs {
				paid[ref] = l.Payable
			}
		}
		for i := 0; i < len(f.Visits); {
			first := f.Visits[i]
			secs := int64(localTime(t, first.End).Sub(localTime(t, first.Start)) / time.Second)
			if rs.Rounding == "minute" {
				secs = (secs + 30) / 60 * 60
			}
			var sum int64
			var refs []string
			for j := i; j < len(f.Visits) && (j == i || f.Visits[j].Shared == first.Ref); j++ {
				sum += paid["tes/"+f.Visits[j].Ref]
				refs = append(refs, f.Visits[j].Ref)
			}
			if sum != secs {
				t.Errorf("group %v: payable adds up to %d s, want the visit's %d s", refs, sum, secs)
			}
			i += len(refs)
		}
	})
}
