package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Rollup sums a period's day lines per client × provider × category into period lines,
// and judges the period: OVER_GRANTED, UNDER_GRANTED and ORDER_NOT_EXECUTED are the
// month's codes (Tyresö: granted time is not moved between months; Stockholm: överskriden
// tid is justified per month), so the day lines do not carry them.
type Rollup struct {
	e        *Engine
	from, to homecare.Date
	lines    map[lineKey]*period
}

type period struct {
	homecare.ReconciliationLine
	codes  []string              // each once
	status []homecare.StatusCode // the days' codes, each once
	days   int
}

func addUniqueCode(set []homecare.StatusCode, c homecare.StatusCode) []homecare.StatusCode {
	if slices.Contains(set, c) {
		return set
	}
	return append(set, c)
}

// NewRollup returns an empty roll-up of the days from to to.
func (e *Engine) NewRollup(from, to homecare.Date) *Rollup {
	return &Rollup{e: e, from: from, to: to, lines: map[lineKey]*period{}}
}

// Add sums a day line in.
func (r *Rollup) Add(l *homecare.ReconciliationLine) {
	k := lineKey{l.ClientKey, l.ProviderID, l.Category}
	p := r.lines[k]
	if p == nil {
		p = &period{ReconciliationLine: homecare.ReconciliationLine{Kind: homecare.LinePeriod, ClientKey: l.ClientKey,
			ProviderID: l.ProviderID, Category: l.Category, LocalDate: r.from, UnitPrice: l.UnitPrice},
		}
		r.lines[k] = p
	}
	if l.OrderRef != "" {
		p.OrderRef = l.OrderRef
	}
	for _, c := range l.Codes {
		p.codes = addUnique(p.codes, c)
	}
	for _, c := range l.Status {
		if c != homecare.StatusOK && c != homecare.StatusOrderNotExecuted {
			p.status = addUniqueCode(p.status, c)
		}
	}
	p.days++
	p.Granted += l.Granted
	p.Registered += l.Registered
	p.Verified += l.Verified
	p.Payable += l.Payable
	p.Schablon += l.Schablon
	p.Declined += l.Declined
	p.DoubleStaff += l.DoubleStaff
	p.Manual += l.Manual
	p.Visits += l.Visits
}

// Lines returns the period lines, sorted, each judged against its granted time.
func (r *Rollup) Lines() []homecare.ReconciliationLine {
	max := r.e.rules.MaxDeviationPct
	out := make([]homecare.ReconciliationLine, 0, len(r.lines))
	for _, p := range r.lines {
		l := p.ReconciliationLine
		l.Codes = sorted(p.codes)
		l.Deviation = l.Payable - l.Granted
		l.DeviationPct = pct(l.Deviation, l.Granted)
		l.Amount = amount(l.Payable, l.UnitPrice)
		status := slices.Clone(p.status)
		var why []string
		why = append(why, fmt.Sprintf("%s to %s, %d days with lines, %d visits: granted %s, registered %s, payable %s",
			r.from, r.to, p.days, l.Visits, mins(l.Granted), mins(l.Registered), mins(l.Payable)))
		limit := float64(l.Granted) * max / 100
		switch {
		case l.Granted > 0 && l.Registered == 0 && l.Visits == 0:
			status = append(status, homecare.StatusOrderNotExecuted)
			why = append(why, "granted time and no visit in the period")
		case l.Granted > 0 && float64(l.Deviation) > limit:
			status = append(status, homecare.StatusOverGranted)
			why = append(why, fmt.Sprintf("%+d %% of the granted time, more than max_deviation_pct (%g %%): to be justified", l.DeviationPct, max))
		case l.Granted > 0 && float64(-l.Deviation) > limit:
			status = append(status, homecare.StatusUnderGranted)
			why = append(why, fmt.Sprintf("%+d %% of the granted time, less than granted by more than max_deviation_pct (%g %%)", l.DeviationPct, max))
		case l.Granted == 0 && l.Payable > 0 && !slices.Contains(p.status, homecare.StatusNoOrder):
			status = append(status, homecare.StatusOverGranted)
			why = append(why, "paid time in a category the order grants nothing in")
		}
		l.Status = homecare.SortStatusCodes(status)
		l.Explanation = strings.Join(why, "; ")
		out = append(out, l)
	}
	slices.SortFunc(out, compareLines)
	return out
}

// Options are one run's.
type Options struct {
	From, To homecare.Date
	// Trigger says who ran it: cli, nightly, demo.
	Trigger string
	// ReadOnly reads every input of the period and computes nothing: the benchmark's
	// measure of what merely reading costs.
	ReadOnly bool
	// Compare lists the clients (store keys) whose lines are compared with the current
	// lines before the run (the client-days a late record or a correction reopened).
	Compare map[string]bool
	// Progress, when set, is called after each day.
	Progress func(day homecare.Date, done, total int)
}

// Result is what a run did.
type Result struct {
	Run        homecare.ReconciliationRun
	Days       int
	Visits     int
	LockEvents int
	DayLines   int
	Periods    []homecare.ReconciliationLine
	Status     map[homecare.StatusCode]int // day lines with each code
	Granted    int64
	Payable    int64
	Amount     int64
	Findings   map[string]int
	Changes    []Change
}

// Change is a line that the run changed against the one current before it.
type Change struct {
	Key        string
	ClientKey  string
	ProviderID string
	Category   string
	Date       homecare.Date
	// Before and After are the line's registered and payable seconds and status codes
	// (Payable -1: no line).
	Before, After LineFigures
}

// LineFigures are what a Change compares.
type LineFigures struct {
	Registered, Payable int64
	Status              string
}

// Run reconciles opts.From..opts.To under rs with what st holds, records the run and its
// lines (unless ReadOnly), and supersedes the earlier runs of days it holds all of.
func Run(ctx context.Context, st *store.Store, rs *RuleSet, opts Options) (*Result, error) {
	if opts.To.Before(opts.From) {
		return nil, fmt.Errorf("reconcile: %s is after %s", opts.From, opts.To)
	}
	orders, err := st.ClientOrders(ctx)
	if err != nil {
		return nil, err
	}
	eng := New(rs, orders)
	total := 0
	for d := opts.From; !opts.To.Before(d); d = d.AddDays(1) {
		total++
	}
	res := &Result{Status: map[homecare.StatusCode]int{}, Findings: map[string]int{}}
	res.Run = homecare.ReconciliationRun{From: opts.From, To: opts.To, RuleSetName: rs.Name, RuleSetHash: rs.Hash(), Trigger: opts.Trigger}
	// The lines of the clients to compare, as the earlier runs left them, and the last
	// day those runs covered: a day no run covered before is new, not a change.
	before := map[string]lineState{}
	var covered homecare.Date
	if len(opts.Compare) > 0 && !opts.ReadOnly {
		runs, err := st.CurrentReconcileLines(ctx, opts.From, opts.To, func(l *homecare.ReconciliationLine) error {
			if opts.Compare[l.ClientKey] {
				before[l.Key()] = lineState{l.Registered, l.Payable, statusString(l.Status)}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if covered.Before(r.To) {
				covered = r.To
			}
		}
	}
	if !opts.ReadOnly {
		if err := st.StartReconcileRun(ctx, &res.Run); err != nil {
			return nil, err
		}
	}
	roll := eng.NewRollup(opts.From, opts.To)
	after := map[string]lineState{}
	// The lines are written by a goroutine of their own while the next days are read and
	// reconciled: the store's one writer, the reads on its read pool.
	written := make(chan []homecare.ReconciliationLine, 1)
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for lines := range written {
			if err == nil {
				err = st.AddReconcileLines(ctx, res.Run.ID, lines)
			}
		}
		writeErr <- err
	}()
	err = st.ReadReconcileInputs(ctx, opts.From, opts.To, eng.Window(), func(in *store.ReconcileInput) error {
		res.Days++
		res.Visits += len(in.Visits)
		res.LockEvents += len(in.LockEvents)
		if in.Watermark.After(res.Run.Watermark) {
			res.Run.Watermark = in.Watermark
		}
		if opts.ReadOnly {
			if opts.Progress != nil {
				opts.Progress(in.Date, res.Days, total)
			}
			return nil
		}
		lines, findings := eng.Day(in)
		for i := range lines {
			l := &lines[i]
			roll.Add(l)
			res.DayLines++
			res.Granted += l.Granted
			res.Payable += l.Payable
			for _, c := range l.Status {
				res.Status[c]++
			}
			if opts.Compare[l.ClientKey] && !covered.Before(l.LocalDate) {
				after[l.Key()] = lineState{l.Registered, l.Payable, statusString(l.Status)}
			}
		}
		for _, f := range findings {
			res.Findings[f.Kind]++
		}
		written <- lines
		if opts.Progress != nil {
			opts.Progress(in.Date, res.Days, total)
		}
		return nil
	})
	close(written)
	if werr := <-writeErr; err == nil {
		err = werr
	}
	if err != nil || opts.ReadOnly {
		return res, err
	}
	res.Periods = roll.Lines()
	for i := range res.Periods {
		res.Amount += res.Periods[i].Amount
	}
	if err := st.AddReconcileLines(ctx, res.Run.ID, res.Periods); err != nil {
		return nil, err
	}
	res.Changes = changes(before, after)
	res.Run.Lines = res.DayLines + len(res.Periods)
	res.Run.Summary = res.summary()
	if err := st.FinishReconcileRun(ctx, &res.Run); err != nil {
		return nil, err
	}
	// The run read every client's visits of the period: the audit trail says so, with
	// its purpose (DOMAIN.md Appendix A, step 8).
	if _, err := st.Audit(ctx, store.AuditEntry{Actor: "hub:reconcile/" + opts.Trigger, Action: "reconcile.run",
		Outcome: store.AuditOK, Resource: fmt.Sprintf("reconcile:%s..%s/%s", opts.From, opts.To, res.Run.ID),
		Purpose: "ersättning"}); err != nil {
		return nil, err
	}
	return res, nil
}

type lineState struct {
	registered, payable int64
	status              string
}

func statusString(cs []homecare.StatusCode) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}

// changes lists the lines whose payable time or status differ, sorted by key.
func changes(before, after map[string]lineState) []Change {
	var out []Change
	for _, k := range slices.Sorted(maps.Keys(merge(before, after))) {
		b, bok := before[k]
		a, aok := after[k]
		if bok && aok && a == b {
			continue
		}
		c := Change{Key: k, Before: LineFigures{Payable: -1}, After: LineFigures{Payable: -1}}
		parts := strings.Split(k, "|")
		c.ClientKey, c.ProviderID, c.Category = parts[1], parts[2], parts[3]
		c.Date, _ = homecare.ParseDate(parts[4])
		if bok {
			c.Before = LineFigures{b.registered, b.payable, b.status}
		}
		if aok {
			c.After = LineFigures{a.registered, a.payable, a.status}
		}
		out = append(out, c)
	}
	return out
}

func merge(a, b map[string]lineState) map[string]bool {
	m := make(map[string]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// String says what a change is, for the log and the run's summary.
func (c Change) String() string {
	figures := func(f LineFigures) string {
		if f.Payable < 0 {
			return "no line"
		}
		return fmt.Sprintf("registered %s, payable %s (%s)", mins(f.Registered), mins(f.Payable), f.Status)
	}
	was, is := figures(c.Before), figures(c.After)
	short := c.ClientKey
	if len(short) > 8 {
		short = short[:8]
	}
	return fmt.Sprintf("%s client %s %s %s: %s → %s", c.Date, short, c.ProviderID, c.Category, was, is)
}

// summary is the run's one paragraph: what it read, paid and found.
func (r *Result) summary() string {
	var codes []string
	for _, c := range homecare.StatusCodes() {
		if n := r.Status[c]; n > 0 {
			codes = append(codes, fmt.Sprintf("%s %d", c, n))
		}
	}
	var fs []string
	for _, k := range slices.Sorted(maps.Keys(r.Findings)) {
		fs = append(fs, fmt.Sprintf("%s %d", k, r.Findings[k]))
	}
	s := fmt.Sprintf("%d days, %d visits, %d lock events; %d day lines, %d period lines; granted %d h %02d min, payable %d h %02d min, %s kr",
		r.Days, r.Visits, r.LockEvents, r.DayLines, len(r.Periods), r.Granted/3600, r.Granted%3600/60, r.Payable/3600, r.Payable%3600/60,
		kronor(r.Amount))
	if len(codes) > 0 {
		s += "; day lines by code: " + strings.Join(codes, ", ")
	}
	if len(fs) > 0 {
		s += "; findings: " + strings.Join(fs, ", ")
	}
	if len(r.Changes) > 0 {
		s += fmt.Sprintf("; %d lines changed against the earlier run", len(r.Changes))
	}
	return s
}

// kronor writes öre as kronor with two decimals.
func kronor(ore int64) string {
	sign := ""
	if ore < 0 {
		sign, ore = "-", -ore
	}
	return fmt.Sprintf("%s%d.%02d", sign, ore/100, ore%100)
}

// Current is what the store holds as current for a period: the day lines of the latest
// runs that cover each day, their roll-up under rs, and the runs they came from (latest
// first). The monthly report and the payment basis are made of it.
type Current struct {
	Days    []homecare.ReconciliationLine
	Periods []homecare.ReconciliationLine
	Runs    []homecare.ReconciliationRun
}

// CurrentLines reads the current day lines of from..to and rolls them up under rs.
func CurrentLines(ctx context.Context, st *store.Store, rs *RuleSet, from, to homecare.Date) (*Current, error) {
	roll := New(rs, nil).NewRollup(from, to)
	c := &Current{}
	runs, err := st.CurrentReconcileLines(ctx, from, to, func(l *homecare.ReconciliationLine) error {
		c.Days = append(c.Days, *l)
		roll.Add(l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.Runs, c.Periods = runs, roll.Lines()
	return c, nil
}

// ErrNoRun is returned for a month no finished run covers.
var ErrNoRun = errors.New("no reconciliation run covers the month")

// MonthInput is month m's current lines under rs as the monthly report takes them,
// produced at now. The report names the latest run the lines come from.
func MonthInput(ctx context.Context, st *store.Store, rs *RuleSet, m report.Month, now time.Time) (report.MonthInput, error) {
	c, err := CurrentLines(ctx, st, rs, m.First(), m.Last())
	if err != nil {
		return report.MonthInput{}, err
	}
	if len(c.Runs) == 0 {
		return report.MonthInput{}, fmt.Errorf("%s: %w (knut reconcile --month %s)", m, ErrNoRun, m)
	}
	return report.MonthInput{Month: m, Run: c.Runs[0], Days: c.Days, Periods: c.Periods, Rates: rs.Rates,
		ManualShareThresholdPct: rs.ManualShareThresholdPct, ProducedAt: now, Municipality: rs.Name}, nil
}
