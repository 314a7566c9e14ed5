package homecare

import "time"

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

// EVBKind is which IVO clock runs for an order.
type EVBKind string

// The EVB clocks.
const (
	// EVBNotExecuted: the decision is not executed yet; the clock runs from decided_at.
	EVBNotExecuted EVBKind = "not_executed"
	// EVBInterrupted: the order is paused; the clock runs from the pause's first day.
	EVBInterrupted EVBKind = "interrupted"
)

// EVBStatus is an order's IVO clock at one moment.
type EVBStatus struct {
	// Kind is the clock running; empty when none does (executed and not paused, or closed).
	Kind EVBKind
	// Start is the day the clock started: decided_at, or the pause's first day.
	Start Date
	// Deadline is the last day the order may be executed (again) in time: Start + 3 months.
	Deadline Date
	// Overdue is set once Deadline has passed: the order must be reported to IVO.
	Overdue bool
	// DaysOverdue counts the days since Deadline when Overdue.
	DaysOverdue int
}

// EVB returns o's IVO clock at now, whose date is taken in Europe/Stockholm. An order that is
// not executed runs the not_executed clock from decided_at (also while paused before
// execution); an executed order that is paused runs the interrupted clock from the pause's
// first day, unless the pause's last day (to) is before that deadline. Closed and rejected orders run
// no clock: the decision's clock then continues on the order that replaces them.
func EVB(o Order, now time.Time) EVBStatus {
	today := LocalDate(now)
	var st EVBStatus
	switch {
	case o.Status.Closed() || o.Status == OrderStatusRejected || o.IsZero():
		return EVBStatus{}
	case o.ExecutedAt.IsZero():
		if o.DecidedAt.IsZero() {
			return EVBStatus{}
		}
		st = EVBStatus{Kind: EVBNotExecuted, Start: o.DecidedAt}
	case o.Status == OrderStatusPaused && o.Pause != nil:
		st = EVBStatus{Kind: EVBInterrupted, Start: o.Pause.From}
	default:
		return EVBStatus{}
	}
	st.Deadline = st.Start.AddMonths(EVBMonths)
	if st.Kind == EVBInterrupted && !o.Pause.To.IsZero() && o.Pause.To.Before(st.Deadline) {
		// The pause's last day is before the deadline, so care resumes in time: a resumed
		// event that is late to arrive is not an interruption of three months.
		return st
	}
	if st.Deadline.Before(today) {
		st.Overdue, st.DaysOverdue = true, st.Deadline.DaysUntil(today)
	}
	return st
}
