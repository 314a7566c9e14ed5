package report_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
)

var unitPrice = map[string]int64{"omvardnad": 46400, "service": 38200} // öre per hour

// recLine builds a reconciliation line from its seconds; deviation and amount follow from
// them as the engine computes them.
func recLine(t *testing.T, kind homecare.LineKind, provider, client, category, day string,
	granted, registered, verified, payable int64, status ...homecare.StatusCode) homecare.ReconciliationLine {
	l := homecare.ReconciliationLine{Kind: kind, ProviderID: provider, ClientKey: client, Category: category,
		LocalDate: d(t, day), OrderRef: "lifecare/O-" + client[:4], Codes: []string{"OMV1"}, Granted: granted,
		Registered: registered, Verified: verified, Payable: payable, Deviation: payable - granted,
		UnitPrice: unitPrice[category], Amount: (payable*unitPrice[category] + 1800) / 3600,
		Status: homecare.SortStatusCodes(status), Explanation: "Visit " + day + ": paid as registered."}
	if granted > 0 {
		l.DeviationPct = int64(math.Round(float64(l.Deviation) * 100 / float64(granted)))
	}
	if category == "service" {
		l.Codes = []string{"STAD"}
	}
	return l
}

// monthInput is November 2026 for two providers: omsorg-norr with clients A and B over
// weeks 45 and 46, B's month over granted and A's under; vard-syd with C (much of it
// registered by hand), D (visits with no order) and E (an order not executed).
func monthInput(t *testing.T) report.MonthInput {
	const (
		a = "a1b2c3d4e5f60718"
		b = "b0b0b0b0c1c2c3c4"
		c = "c3c3c3c3d4d4d4d4"
		e = "e5e5e5e5f6f6f6f6"
		x = "d0d0d0d0e1e1e1e1"
	)
	day, period := homecare.LineDay, homecare.LinePeriod
	days := []homecare.ReconciliationLine{
		recLine(t, day, "omsorg-norr", a, "omvardnad", "2026-11-03", 3600, 1500, 1500, 1500),
		recLine(t, day, "omsorg-norr", a, "omvardnad", "2026-11-10", 3600, 1205, 605, 1205,
			homecare.StatusManualEntry, homecare.StatusUnverifiedStart),
		recLine(t, day, "omsorg-norr", b, "omvardnad", "2026-11-04", 1800, 2705, 2705, 2705, homecare.StatusLateRecord),
		recLine(t, day, "omsorg-norr", b, "service", "2026-11-12", 5760, 2400, 2400, 5760),
		recLine(t, day, "vard-syd", c, "omvardnad", "2026-11-05", 2700, 2700, 0, 2700,
			homecare.StatusUnverifiedStart, homecare.StatusUnverifiedEnd, homecare.StatusManualEntry),
		recLine(t, day, "vard-syd", c, "omvardnad", "2026-11-09", 2700, 2700, 2700, 2700, homecare.StatusDeclined),
		recLine(t, day, "vard-syd", x, "omvardnad", "2026-11-06", 0, 1200, 1200, 0, homecare.StatusNoOrder),
	}
	days[0].Visits, days[1].Visits, days[2].Visits, days[3].Visits = 1, 1, 1, 1
	days[4].Visits, days[5].Visits, days[6].Visits = 1, 1, 1
	days[1].Manual = 600
	days[2].Explanation = `<script>alert(1)</script> "late" & 'odd'`
	days[3].Schablon = 5760
	days[4].Manual = 2700
	days[5].Declined = 1350
	days[6].OrderRef = ""

	periods := []homecare.ReconciliationLine{
		recLine(t, period, "omsorg-norr", a, "omvardnad", "2026-11-01", 7200, 2705, 2105, 2705,
			homecare.StatusUnderGranted, homecare.StatusManualEntry, homecare.StatusUnverifiedStart),
		recLine(t, period, "omsorg-norr", b, "omvardnad", "2026-11-01", 1800, 2705, 2705, 2705,
			homecare.StatusOverGranted, homecare.StatusLateRecord),
		recLine(t, period, "omsorg-norr", b, "service", "2026-11-01", 5760, 2400, 2400, 5760),
		recLine(t, period, "vard-syd", c, "omvardnad", "2026-11-01", 5400, 5400, 2700, 5400,
			homecare.StatusManualEntry, homecare.StatusDeclined),
		recLine(t, period, "vard-syd", x, "omvardnad", "2026-11-01", 0, 1200, 1200, 0, homecare.StatusNoOrder),
		recLine(t, period, "vard-syd", e, "service", "2026-11-01", 3600, 0, 0, 0, homecare.StatusOrderNotExecuted),
	}
	periods[0].Manual, periods[0].Visits = 600, 2
	periods[1].Visits = 1
	periods[2].Schablon, periods[2].Visits = 5760, 1
	periods[3].Manual, periods[3].Declined, periods[3].Visits = 2700, 1350, 2
	periods[4].OrderRef, periods[4].Visits = "", 1

	return report.MonthInput{
		Month: report.Month{Year: 2026, Month: time.November},
		Run: homecare.ReconciliationRun{ID: "20261204T0300-7f3a", From: d(t, "2026-11-01"), To: d(t, "2026-11-30"),
			RuleSetName: "Demo kommun hemtjänst 2026", Trigger: "nightly",
			RuleSetHash: "3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a"},
		Days: days, Periods: periods, Rates: map[string]float64{"service": 382, "omvardnad": 464},
		ManualShareThresholdPct: 10, ProducedAt: time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC),
		Municipality: "Demo kommun",
	}
}

// TestPaymentBases: the month's sums per provider, worked out by hand.
func TestPaymentBases(t *testing.T) {
	in := monthInput(t)
	at := in.ProducedAt
	basis := func(provider string) homecare.PaymentBasis {
		return homecare.PaymentBasis{MessageID: "payment-basis/" + provider + "/2026-11/20261204T0300-7f3a", Month: "2026-11",
			ProviderID: provider, ProducedAt: at, RunID: in.Run.ID, RuleSetName: in.Run.RuleSetName, RuleSetHash: in.Run.RuleSetHash}
	}
	norr, syd := basis("omsorg-norr"), basis("vard-syd")
	norr.Clients, norr.Visits = 2, 4
	norr.Categories = []homecare.PaymentCategory{
		// 7200+1800 s granted; 2705+2705 s registered and payable: 90,17 min → 90, and
		// 5410 s × 464 kr/h = 697,289 kr → 69729 öre (the lines' own amounts would sum to 69728).
		{Category: "omvardnad", GrantedMinutes: 150, RegisteredMinutes: 90, PayableMinutes: 90, UnitPriceOre: 46400, AmountOre: 69729},
		// Städ as schablon: 96 min at 382 kr/h = 611,20 kr.
		{Category: "service", GrantedMinutes: 96, RegisteredMinutes: 40, PayableMinutes: 96, SchablonMinutes: 96,
			UnitPriceOre: 38200, AmountOre: 61120},
	}
	norr.GrantedMinutes, norr.PayableMinutes, norr.AmountOre = 246, 186, 130849
	norr.ManualSharePct = 7.7 // 600 of 7810 s
	syd.Clients, syd.Visits = 3, 3
	syd.Categories = []homecare.PaymentCategory{
		// 5400 s payable at 464 kr/h: 90 min, 696 kr; 1350 s declined: 22,5 min → 23.
		{Category: "omvardnad", GrantedMinutes: 90, RegisteredMinutes: 110, PayableMinutes: 90, DeclinedMinutes: 23,
			UnitPriceOre: 46400, AmountOre: 69600},
		{Category: "service", GrantedMinutes: 60, UnitPriceOre: 38200},
	}
	syd.GrantedMinutes, syd.PayableMinutes, syd.AmountOre = 150, 90, 69600
	syd.ManualSharePct, syd.ManualReview = 40.9, true // 2700 of 6600 s, over 10 %

	if diff := cmp.Diff([]homecare.PaymentBasis{norr, syd}, report.PaymentBases(in)); diff != "" {
		t.Errorf("payment bases (-want +got):\n%s", diff)
	}
}

// TestPaymentBasisRounding: each sum is rounded once, half up, and the manual share is
// marked only over the threshold.
func TestPaymentBasisRounding(t *testing.T) {
	tests := []struct {
		name          string
		payable       []int64 // seconds, one period line each
		manual        int64   // of the first line's registered (= payable) seconds
		minutes       int
		amount        int64
		manualPct     float64
		review        bool
		withoutPrices bool // the lines carry no unit price: the rate is used
	}{
		{name: "an hour and a half", payable: []int64{5400}, minutes: 90, amount: 69600},
		{name: "half a minute rounds up", payable: []int64{90}, minutes: 2, amount: 1160},
		{name: "under half a minute rounds down", payable: []int64{29}, minutes: 0, amount: 374},
		{name: "the sum is rounded, not each line", payable: []int64{2705, 2705}, minutes: 90, amount: 69729},
		{name: "seconds, not minutes, are summed", payable: []int64{89, 89}, minutes: 3, amount: 2294},
		{name: "manual share at the threshold", payable: []int64{600, 5400}, manual: 600, minutes: 100, amount: 77333,
			manualPct: 10},
		{name: "manual share rounded to the threshold", payable: []int64{601, 5400}, manual: 601, minutes: 100,
			amount: 77346, manualPct: 10},
		{name: "manual share over the threshold", payable: []int64{660, 5400}, manual: 660, minutes: 101, amount: 78107,
			manualPct: 10.9, review: true},
		{name: "priced from the rates", payable: []int64{5400}, minutes: 90, amount: 69600, withoutPrices: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := report.MonthInput{Month: report.Month{Year: 2026, Month: time.November}, ManualShareThresholdPct: 10,
				Rates: map[string]float64{"omvardnad": 464}}
			for i, p := range tt.payable {
				l := recLine(t, homecare.LinePeriod, "p", fmt.Sprintf("client-%d", i), "omvardnad", "2026-11-01", p, p, p, p)
				if tt.withoutPrices {
					l.UnitPrice = 0
				}
				in.Periods = append(in.Periods, l)
			}
			in.Periods[0].Manual = tt.manual
			bases := report.PaymentBases(in)
			if len(bases) != 1 || len(bases[0].Categories) != 1 {
				t.Fatalf("bases = %+v, want one with one category", bases)
			}
			b, c := bases[0], bases[0].Categories[0]
			if c.PayableMinutes != tt.minutes || c.AmountOre != tt.amount || b.AmountOre != tt.amount {
				t.Errorf("payable %d min, %d öre (total %d), want %d min, %d öre", c.PayableMinutes, c.AmountOre, b.AmountOre,
					tt.minutes, tt.amount)
			}
			if b.ManualSharePct != tt.manualPct || b.ManualReview != tt.review {
				t.Errorf("manual share %v %%, review %v; want %v %%, %v", b.ManualSharePct, b.ManualReview, tt.manualPct, tt.review)
			}
		})
	}
}

func TestPaymentBasisCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WritePaymentBasisCSV(&buf, report.PaymentBases(monthInput(t))); err != nil {
		t.Fatal(err)
	}
	golden(t, "month_2026-11_payment_basis.csv", buf.Bytes())

	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	totals := map[string]string{}
	for _, r := range rows[1:] {
		if r[2] == "TOTAL" {
			totals[r[0]] = r[9]
		}
	}
	if diff := cmp.Diff(map[string]string{"omsorg-norr": "1308.49", "vard-syd": "696.00"}, totals); diff != "" {
		t.Errorf("TOTAL amounts (-want +got):\n%s", diff)
	}
}

func TestMunicipalityCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteMunicipalityCSV(&buf, monthInput(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "month_2026-11_municipality.csv", buf.Bytes())
}

func TestMonthHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteMonthHTML(&buf, monthInput(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "month_2026-11.html", buf.Bytes())
	page := buf.String()

	// Self-contained: nothing from the network, no script.
	for _, bad := range []string{"http://", "https://", "//cdn", "<script", "<link", "@import", "url(", "<img", "<iframe"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile explanation is not shown escaped")
	}
	if n := strings.Count(page, "<svg"); n != 3 {
		t.Errorf("%d charts, want 3 (a week chart per provider and the deviation histogram)", n)
	}
	// November 2026: Sunday the 1st is in week 44, Monday the 30th in week 49.
	for _, p := range []string{"p-omsorg-norr", "p-vard-syd"} {
		for wk := 44; wk <= 49; wk++ {
			anchor := fmt.Sprintf("%s-v%d", p, wk)
			if !strings.Contains(page, `<a href="#`+anchor+`">`) || !strings.Contains(page, `<details id="`+anchor+`">`) {
				t.Errorf("week %d of %s: no bar linking to its section #%s", wk, p, anchor)
			}
		}
	}
	for _, want := range []string{
		">v.44</text>", "1 nov", "2–8 nov", "30 nov",
		// The deviation histogram per provider: A −62 %, B +50 % and 0 %; C 0 %, E −100 %.
		`<tr><td>omsorg-norr</td><td class="n">1</td><td class="n">0</td><td class="n">0</td><td class="n">1</td><td class="n">0</td><td class="n">1</td><td class="n">0</td></tr>`,
		`<tr><td>vard-syd</td><td class="n">1</td><td class="n">0</td><td class="n">0</td><td class="n">1</td><td class="n">0</td><td class="n">0</td><td class="n">0</td></tr>`,
		"not counted: 1 client-month with nothing granted",
		"40,9 % ⚑ review", "1\u00a0308,49", "3f9a1c0e5b7d", // the short hash
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestMonthHTMLEmpty: a month without lines still makes a page; no month is an error.
func TestMonthHTMLEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteMonthHTML(&buf, report.MonthInput{Month: report.Month{Year: 2027, Month: time.February}}); err != nil {
		t.Fatal(err)
	}
	if page := buf.String(); !strings.Contains(page, "februari 2027") || strings.Count(page, "<svg") != 1 {
		t.Errorf("empty month: want the title and only the histogram, got\n%s", page)
	}
	if err := report.WriteMonthHTML(&buf, report.MonthInput{}); err == nil {
		t.Error("WriteMonthHTML(no month) = nil")
	}
}

// TestMonthHTMLCapsWeekLines: a week of more lines than MaxWeekLines lists the lines with
// a code other than OK and the largest deviations, and says how many more there are.
func TestMonthHTMLCapsWeekLines(t *testing.T) {
	in := report.MonthInput{Month: report.Month{Year: 2026, Month: time.November}}
	n := report.MaxWeekLines + 50
	for i := range n {
		client := fmt.Sprintf("%016x", i)
		l := recLine(t, homecare.LineDay, "omsorg-norr", client, "omvardnad", "2026-11-03", 1800, 1800, 1800, 1800)
		switch i {
		case 7:
			l = recLine(t, homecare.LineDay, "omsorg-norr", client, "omvardnad", "2026-11-03", 1800, 60, 0, 0, homecare.StatusVisitTooShort)
		case 11:
			l = recLine(t, homecare.LineDay, "omsorg-norr", client, "omvardnad", "2026-11-03", 0, 1800, 1800, 0, homecare.StatusNoOrder)
		}
		in.Days = append(in.Days, l)
	}
	var buf bytes.Buffer
	if err := report.WriteMonthHTML(&buf, in); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if got := strings.Count(page, `<td class="expl">`); got != report.MaxWeekLines {
		t.Errorf("the week lists %d lines, want %d", got, report.MaxWeekLines)
	}
	for _, want := range []string{"VISIT_TOO_SHORT", "NO_ORDER", fmt.Sprintf("%d more are in the payment basis", n-report.MaxWeekLines), fmt.Sprintf("%d lines", n)} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not contain %q", want)
		}
	}
}
