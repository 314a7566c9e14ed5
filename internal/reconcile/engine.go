package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The engine: one local day's inputs in, that day's lines out (Engine.Day), summed over
// the period by a Rollup. It is a pure function of (inputs, rule set): no clock, no map
// order, integer seconds throughout, so the same inputs under the same rule-set hash give
// the same lines, byte for byte. docs/reconciliation.md says every rule in a controller's
// words; the comments here say how.

// Engine reconciles days under one rule set and the orders' timelines.
type Engine struct {
	rules  *RuleSet
	window time.Duration
	// orders by client, then provider, each client's in a fixed order.
	orders map[string][]*store.ClientOrder
	// clients with orders, sorted: the days' granted lines are made in this order.
	clients []string
}

// New returns an engine for rs and the orders' timelines.
func New(rs *RuleSet, orders []store.ClientOrder) *Engine {
	e := &Engine{rules: rs, window: time.Duration(rs.LockMatchWindowMinutes) * time.Minute,
		orders: map[string][]*store.ClientOrder{}}
	for i := range orders {
		o := &orders[i]
		e.orders[o.ClientKey] = append(e.orders[o.ClientKey], o)
	}
	for c, os := range e.orders {
		slices.SortFunc(os, func(a, b *store.ClientOrder) int { return strings.Compare(a.Ref, b.Ref) })
		e.clients = append(e.clients, c)
	}
	slices.Sort(e.clients)
	return e
}

// Window is how far from a visit's start and end lock events are looked for.
func (e *Engine) Window() time.Duration { return e.window }

// Finding is something the day showed that is not a payment line: a door opened with no
// visit of the client near it, or care registered with no order in force.
type Finding struct {
	Kind      string // door_without_visit, visit_without_order
	ClientKey string
	Date      homecare.Date
	At        time.Time
	Ref       string // the visit, or the lock event's holder
}

// The findings' kinds.
const (
	FindingDoorWithoutVisit  = "door_without_visit"
	FindingVisitWithoutOrder = "visit_without_order"
)

// inForce is an order's state on one day.
type inForce struct {
	order  *store.ClientOrder
	o      homecare.Order
	paused bool
}

// ordersOn returns the order in force on d of each client with each provider: the one
// that came into force last when several are (a new decision beside one ending). Each
// timeline is folded once a day, whatever the number of visits.
func (e *Engine) ordersOn(d homecare.Date) map[[2]string]*inForce {
	out := make(map[[2]string]*inForce, len(e.clients))
	for _, c := range e.clients {
		for _, co := range e.orders[c] {
			k := [2]string{c, co.ProviderID}
			if f := forceOn(co, d); f != nil && (out[k] == nil || !f.o.ValidFrom.Before(out[k].o.ValidFrom)) {
				out[k] = f
			}
		}
	}
	return out
}

func forceOn(co *store.ClientOrder, d homecare.Date) *inForce {
	o := co.Timeline.At(d)
	if o.IsZero() || o.Status == homecare.OrderStatusRejected || d.Before(o.ValidFrom) ||
		!o.ValidTo.IsZero() && o.ValidTo.Before(d) || !o.EndedAt.IsZero() && o.EndedAt.Before(d) {
		return nil
	}
	if o.Status.Closed() && o.EndedAt.IsZero() {
		return nil
	}
	return &inForce{order: co, o: o, paused: o.Status == homecare.OrderStatusPaused}
}

// grantedOn returns an insats's granted seconds on d, and whether d is one of its
// scheduled days (period day, or week with named weekdays): where a day without a visit
// is ORDER_NOT_EXECUTED rather than time spread over the week or month. Weekly and monthly
// grants are spread so that each week's or month's days add up to exactly the grant.
func grantedOn(in homecare.OrderInsats, validFrom, d homecare.Date) (int64, bool) {
	if !in.ValidFrom.IsZero() && d.Before(in.ValidFrom) || !in.ValidTo.IsZero() && in.ValidTo.Before(d) {
		return 0, false
	}
	total := int64(in.GrantedMinutes) * 60
	if in.DoubleStaffing {
		total *= 2 // two staff: the time counts twice
	}
	wd := (int(d.In(time.UTC).Weekday()) + 6) % 7 // Monday 0
	var days []int
	if in.Schedule != nil {
		for _, w := range in.Schedule.Weekdays {
			days = append(days, slices.Index(weekdays, w))
		}
		slices.Sort(days)
	}
	switch in.Period {
	case homecare.PeriodDay:
		if len(days) > 0 && !slices.Contains(days, wd) {
			return 0, false
		}
		return total, true
	case homecare.PeriodWeek:
		if in.Schedule != nil && in.Schedule.EveryOtherWeek && weeksBetween(validFrom, d)%2 != 0 {
			return 0, false
		}
		if len(days) > 0 {
			i := slices.Index(days, wd)
			if i < 0 {
				return 0, false
			}
			return share(total, i, len(days)), true
		}
		return share(total, wd, 7), false
	case homecare.PeriodMonth:
		n := d.In(time.UTC).AddDate(0, 1, -d.Day).Day()
		return share(total, d.Day-1, n), false
	}
	return 0, false
}

var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// weeksBetween is how many weeks from's week (Monday to Sunday) lies before to's, counted
// in days, not by ISO week numbers, which restart at 1 after a year of 52 or 53 weeks.
func weeksBetween(from, to homecare.Date) int {
	monday := func(d homecare.Date) time.Time {
		t := d.In(time.UTC)
		return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
	}
	days := int(monday(to).Sub(monday(from)) / (24 * time.Hour))
	return days / 7
}

// share is the i-th of n parts of total, in whole seconds, the parts adding up to total.
func share(total int64, i, n int) int64 {
	return total*int64(i+1)/int64(n) - total*int64(i)/int64(n)
}

// line is a day line being built.
type line struct {
	homecare.ReconciliationLine
	codes     []string // the insats codes, each once
	visits    []string // the visits' refs, each once
	scheduled bool
	sentences []string
}

type lineKey struct{ client, provider, category string }

// day is one day's lines being built.
type day struct {
	e     *Engine
	date  homecare.Date
	lines map[lineKey]*line
	force map[[2]string]*inForce // the order in force by client and provider
}

func (d *day) line(client, provider, category string) *line {
	k := lineKey{client, provider, category}
	l := d.lines[k]
	if l == nil {
		l = &line{ReconciliationLine: homecare.ReconciliationLine{Kind: homecare.LineDay, ClientKey: client,
			ProviderID: provider, Category: category, LocalDate: d.date}}
		l.UnitPrice = d.e.unitPrice(category)
		d.lines[k] = l
	}
	return l
}

// unitPrice is category's rate in öre per hour.
func (e *Engine) unitPrice(category string) int64 {
	return int64(e.rules.Rates[category]*100 + 0.5)
}

// category is code's category under the rules; an insats the rule set does not list is
// "other", which has no rate unless the rule set gives one.
func (e *Engine) category(code string) string {
	if r, ok := e.rules.Insatser[code]; ok {
		return r.Category
	}
	return "other"
}

// Day reconciles one day: a line per client × provider × category with granted time or
// a visit, sorted by client, provider and category, and the day's findings.
func (e *Engine) Day(in *store.ReconcileInput) ([]homecare.ReconciliationLine, []Finding) {
	d := &day{e: e, date: in.Date, lines: map[lineKey]*line{}, force: e.ordersOn(in.Date)}
	var findings []Finding
	// Granted time: every order in force.
	for _, c := range e.clients {
		for _, co := range e.orders[c] {
			f := d.force[[2]string{c, co.ProviderID}]
			if f == nil || f.order != co {
				continue
			}
			for _, ins := range f.o.Insatser {
				l := d.line(c, co.ProviderID, e.category(ins.Code))
				l.OrderRef = co.Ref
				if f.paused {
					l.Status = append(l.Status, homecare.StatusClientAbsent)
					reason := ""
					if f.o.Pause != nil {
						reason = " (" + string(f.o.Pause.Reason) + ")"
					}
					l.add(fmt.Sprintf("order %s paused%s: nothing granted", co.Ref, reason))
					continue
				}
				g, sched := grantedOn(ins, f.o.ValidFrom, in.Date)
				if g == 0 {
					continue
				}
				l.Granted += g
				l.scheduled = l.scheduled || sched
				l.codes = addUnique(l.codes, ins.Code)
				l.add(fmt.Sprintf("%s granted %s (%d min per %s%s)", ins.Code, mins(g), ins.GrantedMinutes, ins.Period, doubled(ins.DoubleStaffing)))
			}
		}
	}
	groups := cohabitants(in.Visits)
	overlaps := overlapping(in.Visits, groups)
	// The lock events at each client's door: a visit looks only at its client's.
	doors := map[string][]store.ReconcileLockEvent{}
	for _, ev := range in.LockEvents {
		doors[ev.ClientKey] = append(doors[ev.ClientKey], ev)
	}
	for i := range in.Visits {
		v := &in.Visits[i]
		if v.Status == homecare.VisitCancelled || v.Status == homecare.VisitInProgress {
			continue
		}
		nf := e.visit(d, v, groups[v.Ref], overlaps[v.Ref], doors[v.ClientKey])
		findings = append(findings, nf...)
	}
	findings = append(findings, e.doorsWithoutVisit(in)...)
	out := make([]homecare.ReconciliationLine, 0, len(d.lines))
	for _, l := range d.lines {
		if l.Granted == 0 && l.Visits == 0 && !slices.Contains(l.Status, homecare.StatusClientAbsent) {
			continue
		}
		if l.scheduled && l.Registered == 0 && l.Visits == 0 {
			l.Status = append(l.Status, homecare.StatusOrderNotExecuted)
			l.add("no visit on a day the order schedules")
		}
		out = append(out, e.finish(l))
	}
	slices.SortFunc(out, compareLines)
	return out, findings
}

// compareLines orders lines by kind, client, provider, category and day.
func compareLines(a, b homecare.ReconciliationLine) int {
	return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ClientKey, b.ClientKey),
		strings.Compare(a.ProviderID, b.ProviderID), strings.Compare(a.Category, b.Category), a.LocalDate.Compare(b.LocalDate))
}

func (l *line) add(sentence string) { l.sentences = append(l.sentences, sentence) }

// finish fills a line's derived fields: codes, deviation, amount, status, explanation.
func (e *Engine) finish(l *line) homecare.ReconciliationLine {
	r := l.ReconciliationLine
	r.Codes = sorted(l.codes)
	r.VisitRefs = sorted(l.visits)
	r.Deviation = r.Payable - r.Granted
	r.DeviationPct = pct(r.Deviation, r.Granted)
	r.Amount = amount(r.Payable, r.UnitPrice)
	r.Status = homecare.SortStatusCodes(r.Status)
	r.Explanation = strings.Join(l.sentences, "; ")
	if r.UnitPrice == 0 && r.Payable > 0 {
		r.Explanation += fmt.Sprintf("; the rule set has no rate for %q: not priced", r.Category)
	}
	return r
}

// amount is seconds at unitPrice öre per hour, rounded half up to whole öre.
func amount(seconds, unitPrice int64) int64 {
	return (seconds*unitPrice + 1800) / 3600
}

// pct is part of whole in whole per cent, rounded half away from zero; 0 of nothing.
func pct(part, whole int64) int64 {
	if whole == 0 {
		return 0
	}
	n := part * 100
	if n < 0 {
		return -((-n + whole/2) / whole)
	}
	return (n + whole/2) / whole
}

// addUnique adds s to a short set kept as a slice: a line has a few codes and visits,
// and a city's day has tens of thousands of lines (a map each would be most of its memory).
func addUnique(set []string, s string) []string {
	if slices.Contains(set, s) {
		return set
	}
	return append(set, s)
}

// sorted sorts set in place and returns it (nil when empty).
func sorted(set []string) []string {
	if len(set) == 0 {
		return nil
	}
	slices.Sort(set)
	return set
}

// mins writes seconds as minutes for an explanation: "32 min", "12.5 min".
func mins(s int64) string {
	if s%60 == 0 {
		return fmt.Sprintf("%d min", s/60)
	}
	return fmt.Sprintf("%.1f min", float64(s)/60)
}

func doubled(b bool) string {
	if b {
		return ", two staff"
	}
	return ""
}

// group is a visit's cohabitant group: the linked visits of clients living together,
// visited at once, whose time is split equally between them.
type group struct {
	n, index int   // how many, and which one this visit is (by ref)
	seconds  int64 // the group's time: its first visit's
}

// cohabitants links each visit with a shared_visit_ref to the visits it names (both
// ways, through any number of links) and returns the group of each linked visit.
func cohabitants(vs []store.ReconcileVisit) map[string]*group {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			r := find(p)
			parent[x] = r
			return r
		}
		return x
	}
	present := map[string]*store.ReconcileVisit{}
	for i := range vs {
		if vs[i].Status != homecare.VisitCancelled && vs[i].Status != homecare.VisitInProgress {
			present[vs[i].Ref] = &vs[i] // the visits a day reconciles: a cancelled one splits nothing
		}
	}
	for _, v := range vs {
		if present[v.Ref] == nil || v.SharedRef == "" || present[v.SharedRef] == nil || v.SharedRef == v.Ref {
			continue
		}
		a, b := find(v.Ref), find(v.SharedRef)
		if a != b {
			if b < a {
				a, b = b, a
			}
			parent[b] = a
			parent[a] = a
		}
	}
	members := map[string][]string{}
	for r := range parent {
		root := find(r)
		members[root] = append(members[root], r)
	}
	out := map[string]*group{}
	for _, ms := range members {
		slices.Sort(ms)
		first := present[ms[0]]
		secs := int64(first.EndAt.Sub(first.StartAt) / time.Second)
		for i, m := range ms {
			out[m] = &group{n: len(ms), index: i, seconds: max(secs, 0)}
		}
	}
	return out
}

// overlapping returns the visits whose staff were on another visit at the same time
// (not a cohabitant of it).
func overlapping(vs []store.ReconcileVisit, groups map[string]*group) map[string]bool {
	type stint struct {
		ref        string
		start, end time.Time
	}
	by := map[string][]stint{}
	for _, v := range vs {
		if v.Status == homecare.VisitCancelled {
			continue
		}
		for _, s := range v.Staff {
			k := string(s.HSAID)
			if k == "" {
				k = v.ProviderID + "/" + s.StaffRef
			}
			by[k] = append(by[k], stint{v.Ref, v.StartAt, v.EndAt})
		}
	}
	out := map[string]bool{}
	for _, ss := range by {
		slices.SortFunc(ss, func(a, b stint) int { return a.start.Compare(b.start) })
		for i := 1; i < len(ss); i++ {
			for j := i - 1; j >= 0; j-- {
				if !ss[i].start.Before(ss[j].end) {
					continue
				}
				if groups[ss[i].ref] != nil && groups[ss[j].ref] != nil {
					continue // cohabitants visited at once
				}
				out[ss[i].ref], out[ss[j].ref] = true, true
			}
		}
	}
	return out
}

// lockMatch says whether one of the visit's staff logged an event at the client's door
// within the window of t: an opening (unlock, unlatch, door opened) for the start, any
// successful event for the end.
func (e *Engine) lockMatch(v *store.ReconcileVisit, evs []store.ReconcileLockEvent, t time.Time, opening bool) bool {
	for _, ev := range evs {
		if ev.ClientKey != v.ClientKey || ev.Result != "success" || ev.Holder == "" || !onVisit(v, ev.Holder) {
			continue
		}
		if opening && ev.Action != "unlock" && ev.Action != "unlatch" && ev.Action != "door_opened" {
			continue
		}
		if d := ev.At.Sub(t); d >= -e.window && d <= e.window {
			return true
		}
	}
	return false
}

func onVisit(v *store.ReconcileVisit, holder string) bool {
	for _, s := range v.Staff {
		if string(s.HSAID) == holder {
			return true
		}
	}
	return false
}

// conflict returns the holder of a door opening at the client's during the visit (from
// the window before its start to its end) by someone not on it, or "".
func (e *Engine) conflict(v *store.ReconcileVisit, evs []store.ReconcileLockEvent) string {
	for _, ev := range evs {
		if ev.ClientKey != v.ClientKey || ev.Result != "success" || ev.Holder == "" || onVisit(v, ev.Holder) {
			continue
		}
		if ev.Action != "unlock" && ev.Action != "unlatch" {
			continue
		}
		if !ev.At.Before(v.StartAt.Add(-e.window)) && !ev.At.After(v.EndAt) {
			return ev.Holder
		}
	}
	return ""
}

// doorsWithoutVisit are the day's successful openings at a client's door by a key holder
// with no visit of the client from the window before its start to the window after its end.
func (e *Engine) doorsWithoutVisit(in *store.ReconcileInput) []Finding {
	byClient := map[string][]*store.ReconcileVisit{}
	for i := range in.Visits {
		v := &in.Visits[i]
		byClient[v.ClientKey] = append(byClient[v.ClientKey], v)
	}
	var out []Finding
	for _, ev := range in.LockEvents {
		if ev.Result != "success" || ev.Holder == "" || (ev.Action != "unlock" && ev.Action != "unlatch") ||
			homecare.LocalDate(ev.At) != in.Date {
			continue
		}
		near := false
		for _, v := range byClient[ev.ClientKey] {
			if !ev.At.Before(v.StartAt.Add(-e.window)) && !ev.At.After(v.EndAt.Add(e.window)) {
				near = true
				break
			}
		}
		if !near {
			out = append(out, Finding{Kind: FindingDoorWithoutVisit, ClientKey: ev.ClientKey, Date: in.Date, At: ev.At, Ref: ev.Holder})
		}
	}
	return out
}

func hasFlag(v *store.ReconcileVisit, f homecare.VisitFlag) bool { return slices.Contains(v.Flags, f) }

// visit applies the rules to one visit and adds it to its lines.
func (e *Engine) visit(d *day, v *store.ReconcileVisit, g *group, overlaps bool, evs []store.ReconcileLockEvent) []Finding {
	rs := e.rules
	var findings []Finding
	var codes []homecare.StatusCode
	var notes []string
	secs := max(int64(v.EndAt.Sub(v.StartAt)/time.Second), 0)
	if rs.Rounding == "minute" {
		secs = (secs + 30) / 60 * 60
	}
	loc := homecare.Stockholm()
	head := fmt.Sprintf("visit %s %s–%s (%s)", v.Ref, v.StartAt.In(loc).Format("15:04"), v.EndAt.In(loc).Format("15:04"), mins(secs))

	order := d.force[[2]string{v.ClientKey, v.ProviderID}]
	// Presence: the client's tag, the lock, or both, at each end.
	tagOK := func(m homecare.RegistrationMethod, uid string) bool {
		return m == homecare.MethodTag && uid != "" && !hasFlag(v, homecare.FlagForeignTag) && !hasFlag(v, homecare.FlagUnknownTag)
	}
	startTag, endTag := tagOK(v.StartMethod, v.StartTagUID), tagOK(v.EndMethod, v.EndTagUID)
	startLock := v.StartMethod == homecare.MethodLock || e.lockMatch(v, evs, v.StartAt, true)
	endLock := v.EndMethod == homecare.MethodLock || e.lockMatch(v, evs, v.EndAt, false)
	startOK, endOK := startTag || startLock, endTag || endLock
	notes = append(notes, "start "+presence(startTag, startLock, v.StartMethod)+", end "+presence(endTag, endLock, v.EndMethod))
	manual := v.StartMethod == homecare.MethodManual || v.EndMethod == homecare.MethodManual
	if manual {
		codes = append(codes, homecare.StatusManualEntry)
	}
	badTag := false
	if rs.RequireTagStartAndEnd {
		if !startOK && v.StartMethod != homecare.MethodOutsideHome {
			codes = append(codes, homecare.StatusUnverifiedStart)
			badTag = badTag || v.StartMethod == homecare.MethodTag
		}
		if !endOK && v.EndMethod != homecare.MethodOutsideHome {
			codes = append(codes, homecare.StatusUnverifiedEnd)
			badTag = badTag || v.EndMethod == homecare.MethodTag
		}
	}
	if h := e.conflict(v, evs); h != "" {
		codes = append(codes, homecare.StatusLockConflict)
		notes = append(notes, "the door was opened during it by "+h+", not on the visit")
	}
	if overlaps {
		codes = append(codes, homecare.StatusOverlappingVisits)
		notes = append(notes, "its staff were on another visit at the same time")
	}
	approved := v.SourceVersion > 1
	late := hasFlag(v, homecare.FlagLate)
	tooLate := v.ReceivedAt.Sub(v.EndAt) > time.Duration(rs.LateRecordReopenDays)*24*time.Hour
	if late || tooLate {
		codes = append(codes, homecare.StatusLateRecord)
	}
	declinedVisit := v.Status == homecare.VisitDeclined

	// What of the clock time is paid, before the insatser's own rules.
	pay, why := secs, ""
	switch {
	case order == nil:
		pay, why = 0, "no order in force for the client with "+v.ProviderID+": not paid"
		codes = append(codes, homecare.StatusNoOrder)
		findings = append(findings, Finding{Kind: FindingVisitWithoutOrder, ClientKey: v.ClientKey, Date: v.LocalDate, At: v.StartAt, Ref: v.Ref})
	case tooLate:
		pay, why = 0, fmt.Sprintf("received %d days after the visit, more than late_record_reopen_days (%d): reported, not paid",
			int(v.ReceivedAt.Sub(v.EndAt)/(24*time.Hour)), rs.LateRecordReopenDays)
	case declinedVisit:
		pay = 0
	case secs < int64(rs.MinVisitMinutes)*60:
		pay, why = 0, fmt.Sprintf("shorter than min_visit_minutes (%d): not paid", rs.MinVisitMinutes)
		codes = append(codes, homecare.StatusVisitTooShort)
	case secs > int64(rs.MaxVisitMinutes)*60:
		codes = append(codes, homecare.StatusVisitTooLong)
		if approved {
			why = fmt.Sprintf("longer than max_visit_minutes (%d), approved by a correction (version %d): paid", rs.MaxVisitMinutes, v.SourceVersion)
		} else {
			pay, why = 0, fmt.Sprintf("longer than max_visit_minutes (%d): paid when a supervisor approves it", rs.MaxVisitMinutes)
		}
	case badTag && !approved:
		pay, why = 0, "a tag that is not the client's: paid when a supervisor corrects the record"
	case badTag:
		why = fmt.Sprintf("a tag that is not the client's, approved by a correction (version %d): paid", v.SourceVersion)
	}
	if late && !tooLate {
		notes = append(notes, "a late record, within late_record_reopen_days: paid")
	}
	if why != "" {
		notes = append(notes, why)
	}
	if g != nil && g.n > 1 && rs.CohabitantSplit == "equal" && pay > 0 {
		together := g.seconds
		if rs.Rounding == "minute" {
			together = (together + 30) / 60 * 60 // the first visit rounded as any visit, then split
		}
		part := share(together, g.index, g.n)
		notes = append(notes, fmt.Sprintf("visited with %d cohabitant(s): %s of the %s together", g.n-1, mins(part), mins(together)))
		pay = part
	}
	if v.IsExtra {
		notes = append(notes, "an extra visit outside the order's schedule")
	}

	// The insatser: who gets which part of the time.
	type part struct {
		in      homecare.VisitInsats
		seconds int64 // registered clock time of the insats
	}
	var done, declined []homecare.VisitInsats
	for _, in := range v.Insatser {
		if in.Declined || declinedVisit {
			declined = append(declined, in)
		} else {
			done = append(done, in)
		}
	}
	if len(done) == 0 && len(declined) == 0 {
		done = []homecare.VisitInsats{{Code: ""}}
	}
	regs := allocate(secs, done)
	pays := allocate(pay, done)
	second := len(v.Staff) > 1
	anyMarked := slices.ContainsFunc(done, func(in homecare.VisitInsats) bool { return in.DoubleStaffed })
	verified := startOK && endOK
	touched := map[*line]bool{}
	addTo := func(l *line) {
		if !touched[l] {
			touched[l] = true
			l.Visits++
			l.visits = addUnique(l.visits, v.Ref)
			l.Status = append(l.Status, codes...)
			l.add(head + ": " + strings.Join(notes, "; "))
			if order != nil && l.OrderRef == "" {
				l.OrderRef = order.order.Ref
			}
		}
	}
	for i, in := range done {
		cat := e.category(in.Code)
		if in.Code == "" && order != nil && len(order.o.Insatser) > 0 {
			cat = e.category(order.o.Insatser[0].Code)
		}
		l := d.line(v.ClientKey, v.ProviderID, cat)
		addTo(l)
		if in.Code != "" {
			l.codes = addUnique(l.codes, in.Code)
		}
		reg, p := regs[i], pays[i]
		l.Registered += reg
		if verified {
			l.Verified += reg
		}
		if manual {
			l.Manual += reg
		}
		rule, hasRule := e.rules.Insatser[in.Code]
		label := in.Code
		if label == "" {
			label = "(no insats named)"
		}
		switch {
		case p == 0 && pay == 0:
		case hasRule && rule.SchablonMinutes > 0:
			p = int64(rule.SchablonMinutes) * 60
			l.Schablon += p
			l.add(fmt.Sprintf("%s paid by schablon: %s per occasion", label, mins(p)))
		case hasRule && rule.FixedMinutes > 0:
			p = int64(rule.FixedMinutes) * 60
			l.Schablon += p
			l.add(fmt.Sprintf("%s paid fixed: %s per visit", label, mins(p)))
		default:
			l.add(fmt.Sprintf("%s %s", label, mins(p)))
		}
		l.Payable += p
		// The second person's time, for double-staffed insatser (or the whole visit when
		// two staff registered it and no insats says which).
		if second && (in.DoubleStaffed || !anyMarked) {
			ds := regs[i]
			l.DoubleStaff += ds
			granted := order != nil && doubleGranted(order.o, in.Code)
			switch {
			case pay == 0:
			case granted || !rs.DoubleStaffingRequiresGrant:
				l.Payable += pays[i]
				l.add(fmt.Sprintf("%s second staff %s paid", label, mins(pays[i])))
			default:
				l.Status = append(l.Status, homecare.StatusDoubleStaffNotGranted)
				l.add(fmt.Sprintf("%s second staff %s not paid: the order does not grant double staffing", label, mins(ds)))
			}
		}
	}
	// A visit declined in full still took its clock time: registered (and verified,
	// manual) as any visit's, divided between the declined insatser.
	var declinedRegs []int64
	if len(done) == 0 {
		declinedRegs = allocate(secs, declined)
	}
	for i, in := range declined {
		cat := e.category(in.Code)
		l := d.line(v.ClientKey, v.ProviderID, cat)
		addTo(l)
		l.codes = addUnique(l.codes, in.Code)
		if declinedRegs != nil {
			l.Registered += declinedRegs[i]
			if verified {
				l.Verified += declinedRegs[i]
			}
			if manual {
				l.Manual += declinedRegs[i]
			}
		}
		l.Status = append(l.Status, homecare.StatusDeclined)
		rule := e.rules.Insatser[in.Code]
		base, from := int64(0), ""
		switch {
		case rule.SchablonMinutes > 0:
			base, from = int64(rule.SchablonMinutes)*60, "its schablon"
		case rule.FixedMinutes > 0:
			base, from = int64(rule.FixedMinutes)*60, "its fixed minutes"
		case order != nil && occasionMinutes(order.o, in.Code) > 0:
			base, from = int64(occasionMinutes(order.o, in.Code))*60, "the order's minutes per occasion"
		case in.Minutes != nil:
			base, from = int64(*in.Minutes)*60, "the minutes registered"
		}
		p := (base*int64(rule.DeclinedPct*100) + 5000) / 10000
		if order == nil || tooLate {
			p = 0
		}
		l.Declined += p
		l.Payable += p
		if from == "" {
			from = "nothing to take a share of"
		}
		l.add(fmt.Sprintf("%s declined: %g %% of %s (%s) = %s paid", in.Code, rule.DeclinedPct, mins(base), from, mins(p)))
	}
	return findings
}

// allocate splits seconds between insatser: those with minutes registered get them (all
// scaled down when they add up to more), the others share what is left equally; the
// parts add up to seconds exactly.
func allocate(seconds int64, ins []homecare.VisitInsats) []int64 {
	out := make([]int64, len(ins))
	if seconds <= 0 || len(ins) == 0 {
		return out
	}
	var given int64
	var free []int
	for i, in := range ins {
		if in.Minutes != nil {
			given += int64(*in.Minutes) * 60
		} else {
			free = append(free, i)
		}
	}
	if given == 0 && len(free) == 0 {
		// Every insats registered 0 minutes: equal shares.
		for i := range ins {
			out[i] = share(seconds, i, len(ins))
		}
		return out
	}
	rest := seconds
	if given > 0 {
		budget := min(given, seconds)
		if len(free) == 0 {
			budget = seconds // the registered minutes are the weights of the whole visit
		}
		var cum, done int64
		for i, in := range ins {
			if in.Minutes == nil {
				continue
			}
			cum += int64(*in.Minutes) * 60
			next := budget * cum / given
			out[i] = next - done
			done = next
		}
		rest = seconds - budget
	}
	for j, i := range free {
		out[i] = share(rest, j, len(free))
	}
	return out
}

func doubleGranted(o homecare.Order, code string) bool {
	for _, in := range o.Insatser {
		if in.Code == code && in.DoubleStaffing {
			return true
		}
	}
	return false
}

func occasionMinutes(o homecare.Order, code string) int {
	for _, in := range o.Insatser {
		if in.Code == code {
			return in.MinutesPerOccasion
		}
	}
	return 0
}

// presence says how one end of a visit was registered and verified.
func presence(tag, lock bool, m homecare.RegistrationMethod) string {
	switch {
	case tag && lock:
		return "tag and lock"
	case tag:
		return "tag"
	case lock:
		return "lock"
	case m == homecare.MethodTag:
		return "a tag not the client's"
	case m == homecare.MethodOutsideHome:
		return "outside the home"
	}
	return string(m)
}
