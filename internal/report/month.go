package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// MonthInput is what the month's report is made of: one reconciliation run's lines for a
// month (DOMAIN.md §8a), and what the page says around them.
type MonthInput struct {
	Month Month
	// Run is the (latest) run the lines come from; its rule set's name and hash are
	// printed on every output.
	Run homecare.ReconciliationRun
	// Days are the month's current day lines; Periods its roll-up lines, one per client ×
	// provider × category, which carry the month's codes (OVER_GRANTED, UNDER_GRANTED,
	// ORDER_NOT_EXECUTED).
	Days    []homecare.ReconciliationLine
	Periods []homecare.ReconciliationLine
	// Rates are the rule set's kronor per hour by category, for the legend; a category
	// whose lines carry no unit price is priced from them.
	Rates map[string]float64
	// ManualShareThresholdPct is the rule set's manual_share_threshold_pct: a provider
	// with a larger share of its registered time registered by hand is marked for review.
	ManualShareThresholdPct float64
	ProducedAt              time.Time
	Municipality            string // display name
}

// monthCodes are the codes a month's roll-up carries; the report counts them on period
// lines (client-months) and every other code on day lines (client-days), so that a
// day's code is not counted again on its month.
var monthCodes = []homecare.StatusCode{homecare.StatusOverGranted, homecare.StatusUnderGranted,
	homecare.StatusOrderNotExecuted}

// lineSums are the seconds of a set of lines, summed.
type lineSums struct {
	granted, registered, verified, payable, schablon, declined, manual int64
}

func (s *lineSums) add(l *homecare.ReconciliationLine) {
	s.granted += l.Granted
	s.registered += l.Registered
	s.verified += l.Verified
	s.payable += l.Payable
	s.schablon += l.Schablon
	s.declined += l.Declined
	s.manual += l.Manual
}

// categorySums are one provider's period lines of one category, summed, and the
// category's unit price (öre per hour) as the lines carry it.
type categorySums struct {
	lineSums
	price int64
}

// providerMonth is one provider's month: the payment basis and what the municipality's
// summary and page show beside it.
type providerMonth struct {
	basis homecare.PaymentBasis
	sums  lineSums // of the period lines
	// minutes are the sums of the categories' minutes (each rounded once), so that the
	// municipality's summary agrees with the payment basis.
	granted, registered, verified, payable int
	cats                                   map[string]*categorySums
	clients                                map[string]bool
	status                                 map[homecare.StatusCode]int // lines per code, counted as monthCodes says
	// unverified counts the day lines with UNVERIFIED_START or UNVERIFIED_END (once).
	unverified int
	days       []homecare.ReconciliationLine
	periods    []homecare.ReconciliationLine
}

// providerMonths sums the input by provider, sorted by provider id. Sums and amounts come
// from the period lines (a monthly grant is compared at month level, not prorated), and
// visits from the day lines.
func providerMonths(in MonthInput) []*providerMonth {
	byID := map[string]*providerMonth{}
	get := func(id string) *providerMonth {
		p, ok := byID[id]
		if !ok {
			p = &providerMonth{cats: map[string]*categorySums{}, clients: map[string]bool{},
				status: map[homecare.StatusCode]int{}}
			byID[id] = p
		}
		return p
	}
	for i := range in.Periods {
		l := &in.Periods[i]
		p := get(l.ProviderID)
		p.periods = append(p.periods, *l)
		p.clients[l.ClientKey] = true
		p.sums.add(l)
		c, ok := p.cats[l.Category]
		if !ok {
			c = &categorySums{}
			p.cats[l.Category] = c
		}
		c.add(l)
		if c.price == 0 {
			c.price = l.UnitPrice
		}
		for _, code := range monthCodes {
			if l.Has(code) {
				p.status[code]++
			}
		}
	}
	for i := range in.Days {
		l := &in.Days[i]
		p := get(l.ProviderID)
		p.days = append(p.days, *l)
		p.clients[l.ClientKey] = true
		p.basis.Visits += l.Visits
		for _, code := range l.Status {
			if !slices.Contains(monthCodes, code) {
				p.status[code]++
			}
		}
		if l.Has(homecare.StatusUnverifiedStart) || l.Has(homecare.StatusUnverifiedEnd) {
			p.unverified++
		}
	}

	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*providerMonth, 0, len(ids))
	for _, id := range ids {
		p := byID[id]
		b := &p.basis
		b.MessageID = fmt.Sprintf("payment-basis/%s/%s/%s", id, in.Month, in.Run.ID)
		b.Month = in.Month.String()
		b.ProviderID = id
		b.ProducedAt = in.ProducedAt
		b.RunID = in.Run.ID
		b.RuleSetName = in.Run.RuleSetName
		b.RuleSetHash = in.Run.RuleSetHash
		b.Clients = len(p.clients)
		for _, name := range sortedKeys(p.cats) {
			c := p.cats[name]
			price := c.price
			if price == 0 {
				price = int64(math.Round(in.Rates[name] * 100))
			}
			pc := homecare.PaymentCategory{Category: name, GrantedMinutes: homecare.Minutes(c.granted),
				RegisteredMinutes: homecare.Minutes(c.registered), PayableMinutes: homecare.Minutes(c.payable),
				SchablonMinutes: homecare.Minutes(c.schablon), DeclinedMinutes: homecare.Minutes(c.declined),
				// From the summed seconds, rounded once: the sum of the lines' amounts
				// would carry each line's rounding.
				UnitPriceOre: price, AmountOre: roundDiv(c.payable*price, 3600)}
			b.Categories = append(b.Categories, pc)
			p.granted += pc.GrantedMinutes
			p.registered += pc.RegisteredMinutes
			p.verified += homecare.Minutes(c.verified)
			p.payable += pc.PayableMinutes
			b.GrantedMinutes += pc.GrantedMinutes
			b.PayableMinutes += pc.PayableMinutes
			b.AmountOre += pc.AmountOre
		}
		b.ManualSharePct = pct1(p.sums.manual, p.sums.registered)
		b.ManualReview = b.ManualSharePct > in.ManualShareThresholdPct
		out = append(out, p)
	}
	return out
}

// PaymentBases returns the month's payment basis for each provider with a line, sorted by
// provider id. A category's minutes are its lines' seconds summed and rounded once
// (homecare.Minutes), and its amount is the summed payable seconds times the unit price,
// rounded half up to whole öre; a basis's totals are the sums of its categories, so the
// basis adds up. The manual share is of the registered seconds, to one decimal, and
// ManualReview is set when that share is over in.ManualShareThresholdPct.
//
// Sums come from the period lines, visits from the day lines. A category whose lines
// carry no unit price is priced from in.Rates.
func PaymentBases(in MonthInput) []homecare.PaymentBasis {
	var out []homecare.PaymentBasis
	for _, p := range providerMonths(in) {
		out = append(out, p.basis)
	}
	return out
}

// PaymentBasisColumns are the payment basis CSV's columns, in order.
var PaymentBasisColumns = []string{"provider", "month", "category", "granted_minutes", "registered_minutes",
	"payable_minutes", "schablon_minutes", "declined_minutes", "unit_price_kr", "amount_kr", "run_id", "ruleset_hash"}

// WritePaymentBasisCSV writes bases as CSV with a header row (PaymentBasisColumns): a row
// per provider and category, then the provider's TOTAL row. Kronor have two decimals and
// a decimal point.
func WritePaymentBasisCSV(w io.Writer, bases []homecare.PaymentBasis) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(PaymentBasisColumns); err != nil {
		return err
	}
	for _, b := range bases {
		var total homecare.PaymentCategory
		row := func(c homecare.PaymentCategory, price string) []string {
			return []string{b.ProviderID, b.Month, c.Category, strconv.Itoa(c.GrantedMinutes),
				strconv.Itoa(c.RegisteredMinutes), strconv.Itoa(c.PayableMinutes), strconv.Itoa(c.SchablonMinutes),
				strconv.Itoa(c.DeclinedMinutes), price, kr(c.AmountOre), b.RunID, b.RuleSetHash}
		}
		for _, c := range b.Categories {
			if err := cw.Write(row(c, kr(c.UnitPriceOre))); err != nil {
				return err
			}
			total.RegisteredMinutes += c.RegisteredMinutes
			total.SchablonMinutes += c.SchablonMinutes
			total.DeclinedMinutes += c.DeclinedMinutes
		}
		total.Category, total.GrantedMinutes, total.PayableMinutes, total.AmountOre = "TOTAL", b.GrantedMinutes,
			b.PayableMinutes, b.AmountOre
		if err := cw.Write(row(total, "")); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// MunicipalityColumns are the municipality summary CSV's columns, in order. The status
// columns count lines: over_granted, under_granted and order_not_executed client-months,
// the others client-days; unverified is a day unverified at its start, end or both.
var MunicipalityColumns = []string{"provider", "month", "clients", "visits", "granted_minutes",
	"registered_minutes", "verified_minutes", "payable_minutes", "deviation_minutes", "deviation_pct",
	"over_granted", "under_granted", "order_not_executed", "no_order", "unverified", "manual_entry",
	"late_record", "lock_conflict", "manual_share_pct", "manual_review", "amount_kr", "run_id", "ruleset_hash"}

// WriteMunicipalityCSV writes the month per provider, and a TOTAL row for the
// municipality, as CSV with a header row (MunicipalityColumns). Minutes are summed as the
// payment basis sums them (each category's seconds rounded once), so the files and the
// rows add up; deviation_minutes is payable_minutes − granted_minutes, and deviation_pct
// the deviation over the granted seconds, to one decimal (empty when nothing is granted).
// The amount is the payment basis's.
func WriteMunicipalityCSV(w io.Writer, in MonthInput) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(MunicipalityColumns); err != nil {
		return err
	}
	pms := providerMonths(in)
	for _, r := range append(summaryRows(pms), totalRow(pms, in.ManualShareThresholdPct)) {
		dev := r.payable - r.granted
		if err := cw.Write([]string{r.provider, in.Month.String(), strconv.Itoa(r.clients), strconv.Itoa(r.visits),
			strconv.Itoa(r.granted), strconv.Itoa(r.registered), strconv.Itoa(r.verified), strconv.Itoa(r.payable),
			strconv.Itoa(dev), r.deviationPct(), strconv.Itoa(r.status[homecare.StatusOverGranted]),
			strconv.Itoa(r.status[homecare.StatusUnderGranted]), strconv.Itoa(r.status[homecare.StatusOrderNotExecuted]),
			strconv.Itoa(r.status[homecare.StatusNoOrder]), strconv.Itoa(r.unverified),
			strconv.Itoa(r.status[homecare.StatusManualEntry]), strconv.Itoa(r.status[homecare.StatusLateRecord]),
			strconv.Itoa(r.status[homecare.StatusLockConflict]), strconv.FormatFloat(r.manualPct, 'f', 1, 64),
			strconv.FormatBool(r.review), kr(r.amount), in.Run.ID, in.Run.RuleSetHash}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// summaryRow is one line of the municipality's summary: a provider, or the total.
type summaryRow struct {
	provider                               string
	clients, visits                        int
	granted, registered, verified, payable int // minutes
	grantedS, payableS                     int64
	status                                 map[homecare.StatusCode]int
	unverified                             int
	manualPct                              float64
	review                                 bool
	amount                                 int64
}

// deviationPct is payable over granted, in per cent with one decimal and a dot; empty
// when nothing is granted.
func (r summaryRow) deviationPct() string {
	if r.grantedS == 0 {
		return ""
	}
	return strconv.FormatFloat(pct1(r.payableS-r.grantedS, r.grantedS), 'f', 1, 64)
}

func summaryRows(pms []*providerMonth) []summaryRow {
	var out []summaryRow
	for _, p := range pms {
		out = append(out, summaryRow{provider: p.basis.ProviderID, clients: p.basis.Clients, visits: p.basis.Visits,
			granted: p.granted, registered: p.registered, verified: p.verified, payable: p.payable,
			grantedS: p.sums.granted, payableS: p.sums.payable, status: p.status, unverified: p.unverified,
			manualPct: p.basis.ManualSharePct, review: p.basis.ManualReview, amount: p.basis.AmountOre})
	}
	return out
}

// totalRow is the municipality's month, the providers' rows summed; a client with two
// providers is one client.
func totalRow(pms []*providerMonth, thresholdPct float64) summaryRow {
	t := summaryRow{provider: "TOTAL", status: map[homecare.StatusCode]int{}}
	var sums lineSums
	clients := map[string]bool{}
	for _, p := range pms {
		for c := range p.clients {
			clients[c] = true
		}
		t.visits += p.basis.Visits
		t.unverified += p.unverified
		t.amount += p.basis.AmountOre
		for code, n := range p.status {
			t.status[code] += n
		}
		t.granted += p.granted
		t.registered += p.registered
		t.verified += p.verified
		t.payable += p.payable
		sums.granted += p.sums.granted
		sums.payable += p.sums.payable
		sums.registered += p.sums.registered
		sums.manual += p.sums.manual
	}
	t.clients = len(clients)
	t.grantedS, t.payableS = sums.granted, sums.payable
	t.manualPct = pct1(sums.manual, sums.registered)
	t.review = t.manualPct > thresholdPct
	return t
}

// roundDiv is a/b rounded half away from zero; b > 0.
func roundDiv(a, b int64) int64 {
	if a < 0 {
		return -((-a + b/2) / b)
	}
	return (a + b/2) / b
}

// pct1 is part/whole in per cent, rounded half away from zero to one decimal; 0 when whole
// is 0.
func pct1(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(roundDiv(part*1000, whole)) / 10
}

// kr writes öre as kronor with two decimals and a decimal point.
func kr(ore int64) string {
	sign := ""
	if ore < 0 {
		sign, ore = "-", -ore
	}
	return fmt.Sprintf("%s%d.%02d", sign, ore/100, ore%100)
}
