package homecare

import (
	"slices"
	"time"
)

// EVBMonths is the IVO deadline for ej verkställda beslut (EVB): a decision not executed
// within three months of the decision date, or not executed again within three months of an
// interruption, must be reported to IVO (SoL 16 kap. 6 f §, DOMAIN.md §1.5).
const EVBMonths = 3

// AddMonths returns the date n months after d (before, for negative n) the way Swedish law
// counts a period of months (lag (1930:173) om beräkning av lagstadgad tid): the day with the
// same number, or the month's last day when it has no such day. So 31 January + 3 months is 30
// April, where time.AddDate would give 1 May.
func (d Date) AddMonths(n int) Date {
	m := int(d.Month) - 1 + n
	y := d.Year + m/12
	m %= 12
	if m < 0 {
		m += 12
		y--
	}
	month := time.Month(m + 1)
	last := time.Date(y, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return Date{y, month, min(d.Day, last)}
}

// DaysUntil returns the number of days from d to e, negative when e is before d. It counts
// calendar days, so daylight saving time plays no part.
func (d Date) DaysUntil(e Date) int {
	return int(e.In(time.UTC).Sub(d.In(time.UTC)) / (24 * time.Hour))
}

// EVBKind is which IVO clock runs for a decision.
type EVBKind string

// The EVB clocks.
const (
	// EVBNotExecuted: the decision is not executed yet; the clock runs from its decision date.
	EVBNotExecuted EVBKind = "not_executed"
	// EVBInterrupted: care under the decision stopped after it had started (a pause, or a
	// gap between one provider's order and the next); the clock runs from the first day
	// without care.
	EVBInterrupted EVBKind = "interrupted"
)

// EVBPeriod is one stretch of days on which a decision was not executed: from the decision
// date until the first execution under it, or from the first day of an interruption until
// care started again. A planned pause end is not a resume: only the case system's
// resumption (or a new order executed) ends an interruption.
type EVBPeriod struct {
	Kind  EVBKind
	Start Date // the first day without care
	// End is the first day with care again; zero while the period runs, or when the
	// decision ended during it (EndedOn).
	End Date
	// Deadline is the last day care may (re)start in time: Start + 3 months.
	Deadline Date
	// Overdue is set once care did not (re)start by Deadline: the period is reported to IVO.
	Overdue bool
	// Days counts the days without care: to End, to the decision's end, or to the day asked.
	Days int
	// OrderID is the order interrupted (for EVBInterrupted), Reason why: the pause's reason,
	// or the end reason of the order before a gap.
	OrderID string
	Reason  string
	// EndedOn is the decision's last day when it ended during the period, without care
	// (re)starting; EndReason why.
	EndedOn   Date
	EndReason EndReason
}

// DecisionEVB is a decision's IVO clock on one day, from all its orders (a rejected order,
// the order of a provider who took over) as they stood that day.
type DecisionEVB struct {
	DecisionID string
	DecidedAt  Date // the earliest decision date any of its orders gave
	// FirstExecuted is the first day care was given under the decision; ExecutedBy who said
	// so (provider:…, or ByVisits when inferred).
	FirstExecuted Date
	ExecutedBy    string
	// EndedOn is the decision's last day once every order under it has ended and the last
	// did not end for a change of provider; EndReason why.
	EndedOn   Date
	EndReason EndReason
	Periods   []EVBPeriod
}

// Overdue returns the periods to report to IVO.
func (d DecisionEVB) Overdue() []EVBPeriod {
	var out []EVBPeriod
	for _, p := range d.Periods {
		if p.Overdue {
			out = append(out, p)
		}
	}
	return out
}

// span is a run of days, last inclusive; open when last is zero.
type span struct{ first, last Date }

// EVBForDecision returns the IVO clock on day today of the decision whose orders are given,
// each as it stood that day (Timeline.At(today)). Orders of other decisions must not be
// among them. Care is given on a day when some order is executed by then, has not ended
// before it, and is not interrupted on it.
func EVBForDecision(orders []Order, today Date) DecisionEVB {
	var d DecisionEVB
	var care []span
	allClosed := len(orders) > 0
	var lastEnd Order
	for _, o := range orders {
		d.DecisionID = o.DecisionID
		if !o.DecidedAt.IsZero() && (d.DecidedAt.IsZero() || o.DecidedAt.Before(d.DecidedAt)) {
			d.DecidedAt = o.DecidedAt
		}
		if !o.Status.Closed() {
			allClosed = false
		} else if lastEnd.IsZero() || lastEnd.EndedAt.Before(o.EndedAt) {
			lastEnd = o
		}
		if o.ExecutedAt.IsZero() || today.Before(o.ExecutedAt) {
			continue
		}
		if d.FirstExecuted.IsZero() || o.ExecutedAt.Before(d.FirstExecuted) {
			d.FirstExecuted, d.ExecutedBy = o.ExecutedAt, o.ExecutedBy
		}
		care = append(care, caredDays(o)...)
	}
	if d.DecidedAt.IsZero() {
		return d
	}
	horizon := today // the first day not counted: today is not over yet
	if allClosed && lastEnd.EndReason != EndProviderChange {
		d.EndedOn, d.EndReason = lastEnd.EndedAt, lastEnd.EndReason
		if end := d.EndedOn.AddDays(1); end.Before(horizon) {
			horizon = end
		}
	}
	slices.SortFunc(care, func(a, b span) int { return a.first.Compare(b.first) })

	// Walk the days from the decision date to the horizon, jumping from one span of care
	// to the next; what lies between is a period without care.
	day := d.DecidedAt
	for _, c := range care {
		if !day.Before(horizon) {
			break
		}
		if day.Before(c.first) {
			end := c.first
			if horizon.Before(end) {
				end = horizon
			}
			d.Periods = append(d.Periods, period(orders, d, day, end, end == c.first))
		}
		if c.last.IsZero() {
			day = horizon
			break
		}
		if next := c.last.AddDays(1); day.Before(next) {
			day = next
		}
	}
	if day.Before(horizon) {
		d.Periods = append(d.Periods, period(orders, d, day, horizon, false))
	}
	for i := range d.Periods {
		p := &d.Periods[i]
		switch {
		case !p.End.IsZero():
			p.Overdue = p.Deadline.Before(p.End)
		default:
			// Open, or cut by the decision's end: overdue once the deadline day is
			// over without care.
			p.Overdue = p.Deadline.Before(horizon)
		}
	}
	return d
}

// period builds the period from start up to end (exclusive); resumed says care started
// again on end, else the period is open on end (the horizon).
func period(orders []Order, d DecisionEVB, start, end Date, resumed bool) EVBPeriod {
	p := EVBPeriod{Kind: EVBNotExecuted, Start: start, Deadline: start.AddMonths(EVBMonths), Days: start.DaysUntil(end)}
	if resumed {
		p.End = end
	} else if !d.EndedOn.IsZero() && d.EndedOn.Before(end) {
		p.EndedOn, p.EndReason = d.EndedOn, d.EndReason
	}
	if d.FirstExecuted.IsZero() || start.Before(d.FirstExecuted) {
		return p
	}
	p.Kind = EVBInterrupted
	for _, o := range orders {
		for _, in := range o.Interruptions {
			if in.From == start || (in.From.Before(start) && in.Open(start)) {
				p.OrderID, p.Reason = o.ExternalID, string(in.Reason)
				return p
			}
		}
	}
	// A gap between orders: the one that ended the day before.
	for _, o := range orders {
		if o.EndedAt == start.AddDays(-1) {
			p.OrderID, p.Reason = o.ExternalID, string(o.EndReason)
		}
	}
	return p
}

// caredDays returns the spans of days on which o gave care: from its execution to its end,
// less its interruptions.
func caredDays(o Order) []span {
	var out []span
	first := o.ExecutedAt
	for _, in := range o.Interruptions {
		if first.IsZero() {
			break
		}
		stop := in.ResumedOn
		if in.From.Before(first) {
			// Paused before execution: care starts at execution, or when resumed if later.
			if !stop.IsZero() && first.Before(stop) {
				first = stop
			} else if stop.IsZero() {
				first = Date{}
			}
			continue
		}
		if first.Before(in.From) {
			out = append(out, span{first, in.From.AddDays(-1)})
		}
		first = stop
	}
	if !first.IsZero() && (o.EndedAt.IsZero() || !o.EndedAt.Before(first)) {
		out = append(out, span{first, o.EndedAt})
	}
	return out
}
