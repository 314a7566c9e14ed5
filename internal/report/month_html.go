package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// WriteMonthHTML writes the month's report as one self-contained HTML page for a finance
// manager to open or mail: no scripts, fonts, style sheets or images from elsewhere, the
// charts inline SVG. It shows the run and rule set, a summary per provider, each
// provider's granted, executed and payable hours per ISO week (a week's bars link to the
// day lines behind them), the spread of the client-months' deviation from granted time,
// and the lines per status code. Numbers are Swedish: a decimal comma, a space between
// thousands.
func WriteMonthHTML(w io.Writer, in MonthInput) error {
	if in.Month.Month < time.January || in.Month.Month > time.December {
		return fmt.Errorf("month report: %v is not a month", in.Month)
	}
	return monthTemplate.Execute(w, newMonthPage(in))
}

type monthPage struct {
	Municipality, Month, MonthName                       string
	RuleSetName, RuleSetHash, RuleSetShort, RunID, RunOf string
	Produced, Threshold                                  string
	Rates                                                []rateView
	Summary                                              []summaryView
	Total                                                summaryView
	Providers                                            []providerView
	Histogram                                            barChart
	Buckets                                              []string
	Spread                                               []spreadRow
	Ungranted                                            string
	Flagged                                              []lineView
	StatusProviders                                      []string
	Status                                               []statusRow
}

type rateView struct{ Category, Rate string }

type summaryView struct {
	Provider, Anchor                                           string
	Clients, Visits                                            int
	Granted, Executed, Payable, Deviation, Amount, ManualShare string
	Review                                                     bool
}

type providerView struct {
	ID, Anchor string
	Chart      barChart
	Weeks      []weekView
}

type weekView struct {
	Anchor, Label, Range       string
	Granted, Executed, Payable string
	Count                      string // "2 lines"
	Lines                      []lineView
	// Omitted are the week's lines left out of Lines: a city's week is tens of
	// thousands of lines, and the page lists the ones to look at (MaxWeekLines).
	Omitted int
}

// MaxWeekLines is how many of a provider's week's lines the page lists: those with a
// status code other than OK first, by the size of their deviation; the CSV and `knut
// reconcile runs` have the rest.
const MaxWeekLines = 200

type lineView struct {
	Provider, Date, Client, Category, Codes string
	Granted, Registered, Payable, Deviation string
	Status, Explanation                     string
}

type spreadRow struct {
	Provider string
	Counts   []int
}

type statusRow struct {
	Code, About, Unit string
	Counts            []int
	Total             int
}

// statusAbout says in a few words what each code means to the reader of the page
// (docs/reconciliation.md has the rules).
var statusAbout = map[homecare.StatusCode]string{
	homecare.StatusOK:                    "nothing to remark",
	homecare.StatusNoOrder:               "visits with no order in force: paid nothing",
	homecare.StatusOrderNotExecuted:      "granted time with no visit",
	homecare.StatusOverGranted:           "the month paid more than granted + the allowed deviation",
	homecare.StatusUnderGranted:          "the month paid less than granted − the allowed deviation",
	homecare.StatusVisitTooShort:         "visit shorter than the minimum: paid nothing",
	homecare.StatusVisitTooLong:          "visit longer than the maximum: paid when approved",
	homecare.StatusUnverifiedStart:       "no tag or lock at the start",
	homecare.StatusUnverifiedEnd:         "no tag or lock at the end",
	homecare.StatusManualEntry:           "a time registered by hand",
	homecare.StatusLateRecord:            "received days after the visit",
	homecare.StatusLockConflict:          "the door opened by someone not on the visit",
	homecare.StatusDoubleStaffNotGranted: "a second person the order does not grant",
	homecare.StatusDeclined:              "the client declined at the door",
	homecare.StatusClientAbsent:          "the order paused (hospital, travel)",
	homecare.StatusOverlappingVisits:     "the same staff on two visits at once",
}

// deviationBounds split the client-months' DeviationPct into buckets (lo, hi]: ≤ −50,
// −49…−25, −24…−10, −9…+10, +11…+25, +26…+50, > +50. +10 is in the middle, as a month
// is OVER_GRANTED only past max_deviation_pct.
var deviationBounds = []int64{-50, -25, -10, 10, 25, 50}

var deviationLabels = []string{"≤ −50", "−49…−25", "−24…−10", "−9…+10", "+11…+25", "+26…+50", "> +50"}

func deviationBucket(pct int64) int {
	i := 0
	for i < len(deviationBounds) && pct > deviationBounds[i] {
		i++
	}
	return i
}

var svMonths = []string{"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
	"oktober", "november", "december"}

func newMonthPage(in MonthInput) monthPage {
	pg := monthPage{Municipality: in.Municipality, Month: in.Month.String(),
		MonthName:   fmt.Sprintf("%s %d", svMonths[in.Month.Month-1], in.Month.Year),
		RuleSetName: in.Run.RuleSetName, RuleSetHash: in.Run.RuleSetHash, RuleSetShort: shorten(in.Run.RuleSetHash, 12),
		RunID: in.Run.ID, Threshold: svNum(in.ManualShareThresholdPct, 1), Buckets: deviationLabels}
	if !in.Run.From.IsZero() {
		pg.RunOf = in.Run.From.String() + " – " + in.Run.To.String()
	}
	if !in.ProducedAt.IsZero() {
		pg.Produced = in.ProducedAt.In(homecare.Stockholm()).Format("2006-01-02 15:04 MST")
	}
	for _, c := range sortedKeys(in.Rates) {
		pg.Rates = append(pg.Rates, rateView{c, svNum(in.Rates[c], 2)})
	}

	pms := providerMonths(in)
	anchors := map[string]bool{}
	for _, p := range pms {
		anchor := uniqueAnchor(anchors, p.basis.ProviderID)
		pg.Providers = append(pg.Providers, providerPage(in.Month, p, anchor))
		pg.StatusProviders = append(pg.StatusProviders, p.basis.ProviderID)
	}
	for i, r := range summaryRows(pms) {
		pg.Summary = append(pg.Summary, summaryViewOf(r, pg.Providers[i].Anchor))
	}
	pg.Total = summaryViewOf(totalRow(pms, in.ManualShareThresholdPct), "")

	total, ungranted := make([]int, len(deviationLabels)), 0
	for _, p := range pms {
		row := spreadRow{Provider: p.basis.ProviderID, Counts: make([]int, len(deviationLabels))}
		for _, l := range p.periods {
			if l.Granted == 0 {
				ungranted++
			} else {
				b := deviationBucket(l.DeviationPct)
				row.Counts[b]++
				total[b]++
			}
			if l.Has(homecare.StatusNoOrder) || slices.ContainsFunc(monthCodes, l.Has) {
				pg.Flagged = append(pg.Flagged, lineViewOf(l))
			}
		}
		pg.Spread = append(pg.Spread, row)
	}
	if ungranted > 0 {
		pg.Ungranted = count(ungranted, "client-month", "client-months") + " with nothing granted"
	}
	var groups []chartGroup
	for i, n := range total {
		groups = append(groups, chartGroup{label: deviationLabels[i], values: []float64{float64(n)},
			title: deviationLabels[i] + " %: " + count(n, "client-month", "client-months")})
	}
	pg.Histogram = newBarChart("Client-months by deviation from granted time", "count", groups, []string{"h"}, 56, true)

	for _, code := range homecare.StatusCodes() {
		r := statusRow{Code: string(code), About: statusAbout[code], Unit: "client-days"}
		if slices.Contains(monthCodes, code) {
			r.Unit = "client-months"
		}
		for _, p := range pms {
			r.Counts = append(r.Counts, p.status[code])
			r.Total += p.status[code]
		}
		if r.Total > 0 {
			pg.Status = append(pg.Status, r)
		}
	}
	return pg
}

func summaryViewOf(r summaryRow, anchor string) summaryView {
	v := summaryView{Provider: r.provider, Anchor: anchor, Clients: r.clients, Visits: r.visits,
		Granted: svNum(float64(r.granted)/60, 2), Executed: svNum(float64(r.registered)/60, 2),
		Payable: svNum(float64(r.payable)/60, 2), Amount: svKr(r.amount), ManualShare: svNum(r.manualPct, 1) + " %",
		Review: r.review}
	if r.grantedS != 0 {
		v.Deviation = svSigned(pct1(r.payableS-r.grantedS, r.grantedS), 1) + " %"
	}
	return v
}

// providerPage is a provider's weekly chart and, per week, the day lines behind it.
func providerPage(m Month, p *providerMonth, anchor string) providerView {
	pv := providerView{ID: p.basis.ProviderID, Anchor: anchor}
	days := slices.Clone(p.days)
	slices.SortStableFunc(days, func(a, b homecare.ReconciliationLine) int {
		return cmp.Or(a.LocalDate.Compare(b.LocalDate), strings.Compare(a.ClientKey, b.ClientKey),
			strings.Compare(a.Category, b.Category))
	})
	var groups []chartGroup
	for _, wk := range isoWeeks(m) {
		var s lineSums
		wv := weekView{Anchor: fmt.Sprintf("%s-v%02d", anchor, wk.week), Label: fmt.Sprintf("v.%d", wk.week),
			Range: dayRange(wk.first, wk.last)}
		var week []int
		for i := range days {
			if d := days[i].LocalDate; !d.Before(wk.first) && !wk.last.Before(d) {
				s.add(&days[i])
				week = append(week, i)
			}
		}
		wv.Count = count(len(week), "line", "lines")
		if len(week) > MaxWeekLines {
			// The lines to look at first: a code other than OK, then the largest deviation.
			remark := func(l *homecare.ReconciliationLine) int {
				if len(l.Status) == 1 && l.Status[0] == homecare.StatusOK {
					return 1
				}
				return 0
			}
			abs := func(n int64) int64 { return max(n, -n) }
			slices.SortStableFunc(week, func(a, b int) int {
				return cmp.Or(cmp.Compare(remark(&days[a]), remark(&days[b])), cmp.Compare(abs(days[b].Deviation), abs(days[a].Deviation)))
			})
			wv.Omitted = len(week) - MaxWeekLines
			week = week[:MaxWeekLines]
			slices.Sort(week)
		}
		for _, i := range week {
			wv.Lines = append(wv.Lines, lineViewOf(days[i]))
		}
		wv.Granted, wv.Executed, wv.Payable = hours(s.granted), hours(s.registered), hours(s.payable)
		pv.Weeks = append(pv.Weeks, wv)
		groups = append(groups, chartGroup{label: wv.Label, href: wv.Anchor,
			values: []float64{float64(s.granted) / 3600, float64(s.registered) / 3600, float64(s.payable) / 3600},
			title: fmt.Sprintf("%s (%s): granted %s h, executed %s h, payable %s h; %s", wv.Label, wv.Range,
				wv.Granted, wv.Executed, wv.Payable, wv.Count)})
	}
	pv.Chart = newBarChart(pv.ID+": hours per week", "h", groups, []string{"g", "e", "p"}, 16, false)
	return pv
}

func lineViewOf(l homecare.ReconciliationLine) lineView {
	status := make([]string, len(l.Status))
	for i, c := range l.Status {
		status[i] = string(c)
	}
	v := lineView{Provider: l.ProviderID, Date: l.LocalDate.String(), Client: shorten(l.ClientKey, 8), Category: l.Category,
		Codes: strings.Join(l.Codes, "+"), Granted: minutes1(l.Granted), Registered: minutes1(l.Registered),
		Payable: minutes1(l.Payable), Status: strings.Join(status, " "), Explanation: l.Explanation}
	if l.Granted != 0 {
		v.Deviation = svSigned(float64(l.DeviationPct), 0) + " %"
	}
	return v
}

// isoWeek is the part of an ISO week inside a month.
type isoWeek struct {
	week        int
	first, last homecare.Date
}

func isoWeeks(m Month) []isoWeek {
	var out []isoWeek
	for d := m.First(); !m.Last().Before(d); d = d.AddDays(1) {
		_, wk := d.In(time.UTC).ISOWeek()
		if len(out) == 0 || out[len(out)-1].week != wk {
			out = append(out, isoWeek{week: wk, first: d})
		}
		out[len(out)-1].last = d
	}
	return out
}

var svMonthsShort = []string{"jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"}

// dayRange writes "2–8 nov", or "1 nov" for one day.
func dayRange(a, b homecare.Date) string {
	if a == b {
		return fmt.Sprintf("%d %s", a.Day, svMonthsShort[a.Month-1])
	}
	return fmt.Sprintf("%d–%d %s", a.Day, b.Day, svMonthsShort[b.Month-1])
}

// uniqueAnchor makes an element id of a provider id: lower-case letters, digits and
// dashes, unique on the page.
func uniqueAnchor(seen map[string]bool, id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	base := "p-" + b.String()
	a := base
	for i := 2; seen[a]; i++ {
		a = base + "-" + strconv.Itoa(i)
	}
	seen[a] = true
	return a
}

// barChart is an SVG bar chart laid out in Go, so the page needs no script.
type barChart struct {
	Label, Unit                       string
	Width, Height, Left, Right, TickX int
	LabelY                            int
	Ticks                             []chartTick
	Groups                            []barGroup
}

type chartTick struct{ Y, TextY, Label string }

type barGroup struct {
	Href, Label, Title, LabelX string
	Bars                       []chartBar
}

type chartBar struct{ Class, X, Y, W, H, Value, ValueX, ValueY string }

type chartGroup struct {
	label, href, title string
	values             []float64 // one per series
}

// newBarChart lays out groups of bars, one bar per series (classes names each series's
// CSS class), the y axis marked with unit, barWidth pixels wide, on a y axis from 0 to a round number; withValues
// writes each bar's value above it.
func newBarChart(label, unit string, groups []chartGroup, classes []string, barWidth int, withValues bool) barChart {
	const left, top, plotH, groupGap = 48, 16, 160, 24
	groupW := len(classes)*barWidth + (len(classes)-1)*2
	c := barChart{Label: label, Unit: unit, Left: left, TickX: left - 6, Width: left + len(groups)*(groupW+groupGap) + 8,
		Height: top + plotH + 28, LabelY: top + plotH + 18}
	c.Right = c.Width - 8
	maxV := 0.0
	for _, g := range groups {
		for _, v := range g.values {
			maxV = max(maxV, v)
		}
	}
	step := niceStep(maxV / 4)
	if withValues { // counts: whole steps
		step = max(step, 1)
	}
	ticks := max(1, int(math.Ceil(maxV/step-1e-9)))
	topV := float64(ticks) * step
	y := func(v float64) float64 { return top + plotH - v/topV*plotH }
	for i := 0; i <= ticks; i++ {
		v := float64(i) * step
		c.Ticks = append(c.Ticks, chartTick{Y: coord(y(v)), TextY: coord(y(v) + 4), Label: svNum(v, decimalsOf(step))})
	}
	for i, g := range groups {
		x0 := left + groupGap/2 + i*(groupW+groupGap)
		bg := barGroup{Href: g.href, Label: g.label, Title: g.title, LabelX: coord(float64(x0) + float64(groupW)/2)}
		for j, v := range g.values {
			x := float64(x0 + j*(barWidth+2))
			b := chartBar{Class: classes[j], X: coord(x), Y: coord(y(v)), W: strconv.Itoa(barWidth),
				H: coord(y(0) - y(v))}
			if withValues {
				b.Value, b.ValueX, b.ValueY = svNum(v, 0), coord(x+float64(barWidth)/2), coord(y(v)-4)
			}
			bg.Bars = append(bg.Bars, b)
		}
		c.Groups = append(c.Groups, bg)
	}
	return c
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten (0.5 at least).
func niceStep(v float64) float64 {
	if v <= 0.5 {
		return 0.5
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 5, 10} {
		if v <= f*p+1e-9 {
			return f * p
		}
	}
	return 10 * p
}

func decimalsOf(step float64) int {
	if step == math.Trunc(step) {
		return 0
	}
	return 1
}

// coord writes a pixel coordinate with at most one decimal.
func coord(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// svNum writes v with decimals decimals, a decimal comma and a no-break space between
// thousands.
func svNum(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "−", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "\u00a0" + whole[i:]
	}
	if frac != "" {
		whole += "," + frac
	}
	if strings.Trim(whole, "0,") == "" {
		sign = "" // no −0,0
	}
	return sign + whole
}

// svSigned is svNum with a + before a positive number.
func svSigned(v float64, decimals int) string {
	s := svNum(v, decimals)
	if v > 0 && strings.Trim(s, "0,") != "" {
		s = "+" + s
	}
	return s
}

// svKr writes öre as kronor, Swedish style.
func svKr(ore int64) string { return svNum(float64(ore)/100, 2) }

func hours(seconds int64) string { return svNum(float64(seconds)/3600, 2) }

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func minutes1(seconds int64) string { return svNum(float64(seconds)/60, 1) }

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var monthTemplate = template.Must(template.New("month").Parse(monthHTML))

const monthHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reconciliation {{.Month}} · {{.Municipality}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;margin:2rem auto;max-width:1100px;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .4rem}
h2{font-size:1.2rem;margin:2.2rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
p.meta,.meta{color:#57606a;margin:.2rem 0}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:600;border-top:2px solid #8c959f}
.review{color:#b35900;font-weight:600}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
details{margin:.3rem 0;border:1px solid #e5e7eb;border-radius:4px;padding:.3rem .6rem}
details:target{border-color:#4c78a8;box-shadow:0 0 0 2px #c8d9ee}
summary{cursor:pointer}
.expl{color:#57606a;max-width:34rem;white-space:pre-line}
svg{display:block;margin:.5rem 0;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
svg line{stroke:#e5e7eb}
.g{fill:#b6bec9;background:#b6bec9}.e{fill:#4c78a8;background:#4c78a8}.p{fill:#2e8b57;background:#2e8b57}.h{fill:#8e6cc0}
svg a:hover rect,svg a:focus rect{opacity:.75}
.key i{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em;vertical-align:-.05em}
footer{margin-top:2.5rem;color:#57606a;font-size:12px}
@media print{details{break-inside:avoid}summary{list-style:none}}
</style>
</head>
<body>
<h1>Reconciliation of executed hours · {{.Municipality}} · {{.MonthName}}</h1>
<p class="meta">Rule set <strong>{{.RuleSetName}}</strong> <span class="mono" title="{{.RuleSetHash}}">{{.RuleSetShort}}</span> · run <span class="mono">{{.RunID}}</span>{{with .RunOf}} over {{.}}{{end}}{{with .Produced}} · produced {{.}}{{end}}</p>
<p class="meta">{{with .Rates}}Rates: {{range $i, $r := .}}{{if $i}}, {{end}}{{$r.Category}} {{$r.Rate}} kr/h{{end}}. {{end}}A provider with more than {{.Threshold}} % of its executed time registered by hand is marked for review ⚑.</p>

<h2>Summary per provider</h2>
<table>
<thead><tr><th>Provider</th><th class="n">Clients</th><th class="n">Visits</th><th class="n">Granted h</th><th class="n">Executed h</th><th class="n">Payable h</th><th class="n">Deviation</th><th class="n">Amount kr</th><th class="n">Manual share</th></tr></thead>
<tbody>
{{range .Summary}}<tr><td><a href="#{{.Anchor}}">{{.Provider}}</a></td><td class="n">{{.Clients}}</td><td class="n">{{.Visits}}</td><td class="n">{{.Granted}}</td><td class="n">{{.Executed}}</td><td class="n">{{.Payable}}</td><td class="n">{{.Deviation}}</td><td class="n">{{.Amount}}</td><td class="n{{if .Review}} review{{end}}">{{.ManualShare}}{{if .Review}} ⚑ review{{end}}</td></tr>
{{end}}{{with .Total}}<tr class="total"><td>Total</td><td class="n">{{.Clients}}</td><td class="n">{{.Visits}}</td><td class="n">{{.Granted}}</td><td class="n">{{.Executed}}</td><td class="n">{{.Payable}}</td><td class="n">{{.Deviation}}</td><td class="n">{{.Amount}}</td><td class="n{{if .Review}} review{{end}}">{{.ManualShare}}{{if .Review}} ⚑{{end}}</td></tr>
{{end}}</tbody>
</table>
<p class="meta">Executed is the registered clock time, payable what the rules pay; deviation is payable against granted. Hours are each sum rounded once to whole minutes; the amount is each category's payable time × its rate, rounded once to whole öre (the payment basis).</p>
{{range .Providers}}
<h2 id="{{.Anchor}}">{{.ID}}</h2>
<p class="meta key">Hours per ISO week (weeks cut at the month's ends): <i class="g"></i>granted <i class="e"></i>executed <i class="p"></i>payable. Click a week for its lines.</p>
{{template "chart" .Chart}}
{{range .Weeks}}<details id="{{.Anchor}}"><summary><strong>{{.Label}}</strong> {{.Range}}: granted {{.Granted}} h · executed {{.Executed}} h · payable {{.Payable}} h · {{.Count}}</summary>
{{if .Lines}}{{template "days" .Lines}}{{else}}<p class="meta">No lines this week.</p>{{end}}{{with .Omitted}}<p class="meta">The lines with a status code and the largest deviations are listed; {{.}} more are in the payment basis and municipality CSVs (knut report month --csv, --municipality-csv).</p>{{end}}
</details>
{{end}}{{end}}
<h2>Deviation from granted time per client and month</h2>
<p class="meta">Client-months (period lines) by payable time against granted, in per cent{{with .Ungranted}}; not counted: {{.}}{{end}}.</p>
{{template "chart" .Histogram}}
<table>
<thead><tr><th>Provider</th>{{range .Buckets}}<th class="n">{{.}} %</th>{{end}}</tr></thead>
<tbody>
{{range .Spread}}<tr><td>{{.Provider}}</td>{{range .Counts}}<td class="n">{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<details><summary>Client-months with OVER_GRANTED, UNDER_GRANTED, ORDER_NOT_EXECUTED or NO_ORDER: {{len .Flagged}}</summary>
{{if .Flagged}}<table>
<thead><tr><th>Provider</th><th>Client</th><th>Category</th><th>Codes</th><th class="n">Granted min</th><th class="n">Executed min</th><th class="n">Payable min</th><th class="n">Deviation</th><th>Status</th><th>Explanation</th></tr></thead>
<tbody>
{{range .Flagged}}<tr><td>{{.Provider}}</td><td class="mono">{{.Client}}</td><td>{{.Category}}</td><td class="mono">{{.Codes}}</td><td class="n">{{.Granted}}</td><td class="n">{{.Registered}}</td><td class="n">{{.Payable}}</td><td class="n">{{.Deviation}}</td><td class="mono">{{.Status}}</td><td class="expl">{{.Explanation}}</td></tr>
{{end}}</tbody>
</table>{{end}}
</details>

<h2>Status codes</h2>
<table>
<thead><tr><th>Code</th><th>Meaning</th><th>Counted in</th>{{range .StatusProviders}}<th class="n">{{.}}</th>{{end}}<th class="n">Total</th></tr></thead>
<tbody>
{{range .Status}}<tr><td class="mono">{{.Code}}</td><td>{{.About}}</td><td>{{.Unit}}</td>{{range .Counts}}<td class="n">{{.}}</td>{{end}}<td class="n">{{.Total}}</td></tr>
{{end}}</tbody>
</table>
<p class="meta">A line carries every code that applies. Month codes are counted on the client-months, the others on the client-days.</p>
<footer>Knutpunkt monthly reconciliation {{.Month}} · rule set {{.RuleSetName}} <span class="mono">{{.RuleSetHash}}</span> · run <span class="mono">{{.RunID}}</span></footer>
</body>
</html>
{{- define "chart"}}<svg width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Label}}">
<text x="{{.TickX}}" y="8" text-anchor="end">{{.Unit}}</text>
{{range .Ticks}}<line x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.Y}}" y2="{{.Y}}"></line><text x="{{$.TickX}}" y="{{.TextY}}" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Groups}}{{if .Href}}<a href="#{{.Href}}">{{else}}<g>{{end}}<title>{{.Title}}</title>{{range .Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"></rect>{{if .Value}}<text x="{{.ValueX}}" y="{{.ValueY}}" text-anchor="middle">{{.Value}}</text>{{end}}{{end}}<text x="{{.LabelX}}" y="{{$.LabelY}}" text-anchor="middle">{{.Label}}</text>{{if .Href}}</a>{{else}}</g>{{end}}
{{end}}</svg>{{end}}
{{- define "days"}}<table>
<thead><tr><th>Date</th><th>Client</th><th>Category</th><th>Codes</th><th class="n">Granted min</th><th class="n">Executed min</th><th class="n">Payable min</th><th>Status</th><th>Explanation</th></tr></thead>
<tbody>
{{range .}}<tr><td>{{.Date}}</td><td class="mono">{{.Client}}</td><td>{{.Category}}</td><td class="mono">{{.Codes}}</td><td class="n">{{.Granted}}</td><td class="n">{{.Registered}}</td><td class="n">{{.Payable}}</td><td class="mono">{{.Status}}</td><td class="expl">{{.Explanation}}</td></tr>
{{end}}</tbody>
</table>{{end}}
`
