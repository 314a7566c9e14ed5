package homecare

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Timeline is an order's events in the order they take effect: created
// first, then by effective date (OrderEvent.EffectiveDate), then by when
// they occurred in the sending system, then by event id. The order as of
// any date is the fold of the events in force by then (At), so the order a
// case system's messages arrived in does not change what the order is: an
// Avslut dated two months ahead ends it in two months, a Paus that follows
// it still applies, and an Andring that occurred before the one in force
// changes nothing.
type Timeline struct {
	events []OrderEvent
}

// NewTimeline returns the timeline of evs, which must have been accepted
// by Add before (as the store's are); it does not check them.
func NewTimeline(evs []OrderEvent) Timeline {
	t := Timeline{events: slices.Clone(evs)}
	slices.SortStableFunc(t.events, compareEvents)
	return t
}

// Events returns the events in the order they take effect.
func (t Timeline) Events() []OrderEvent { return slices.Clone(t.events) }

// compareEvents orders events by when they take effect; created first.
func compareEvents(a, b OrderEvent) int {
	if (a.Type == OrderCreated) != (b.Type == OrderCreated) {
		if a.Type == OrderCreated {
			return -1
		}
		return 1
	}
	return cmp.Or(a.EffectiveDate().Compare(b.EffectiveDate()), a.OccurredAt.Compare(b.OccurredAt),
		cmp.Compare(a.EventID, b.EventID))
}

// AddResult tells what an event Add accepted does.
type AddResult struct {
	// Stale is set for a change that occurred before the change in force:
	// it is recorded but changes nothing, and nobody is told of it.
	Stale bool
	// Effective is the day the event takes effect.
	Effective Date
}

// Add returns the timeline with ev, after checking that every event still
// applies with ev among them; else an error and t unchanged. The error is
// Apply's for ev, or, when ev makes an event already accepted impossible
// (an end dated before the execution reported), a *TransitionError naming
// that event. A duplicate event id is the caller's to recognise.
func (t Timeline) Add(ev OrderEvent) (Timeline, AddResult, error) {
	if err := ev.Validate(ValidateOptions{}); err != nil {
		return t, AddResult{}, err
	}
	if ev.Type == OrderCreated && len(t.events) > 0 {
		cur := t.Final()
		return t, AddResult{}, &TransitionError{OrderID: cur.ExternalID, From: cur.Status, Event: OrderCreated}
	}
	n := Timeline{events: make([]OrderEvent, 0, len(t.events)+1)}
	i, _ := slices.BinarySearchFunc(t.events, ev, compareEvents)
	n.events = append(append(append(n.events, t.events[:i]...), ev), t.events[i:]...)
	var o Order
	res := AddResult{Effective: ev.EffectiveDate()}
	for j, e := range n.events {
		next, err := o.apply(e) // ev was validated above, the others when they were added
		if err != nil {
			if j == i {
				return t, AddResult{}, err
			}
			var te *TransitionError
			if errors.As(err, &te) {
				te.Reason = fmt.Sprintf("with %s %s (in force %s), %s", ev.Type, ev.EventID, res.Effective, te.Error())
				te.Event, te.From = ev.Type, o.Status
				return t, AddResult{}, te
			}
			return t, AddResult{}, err
		}
		if j != i && (e.Type == OrderChanged || e.Type == OrderCreated) && ev.Type == OrderChanged &&
			e.OccurredAt.After(ev.OccurredAt) {
			res.Stale = true // the order in force comes from a change that occurred later
		}
		o = next
	}
	return n, res, nil
}

// At returns the order as it stands on day d: the fold of the events in
// force by then. Before the order was created (or with no events) it is
// the zero Order.
func (t Timeline) At(d Date) Order {
	var o Order
	if len(t.events) == 0 || d.Before(t.events[0].EffectiveDate()) {
		return o // created comes first: not in force yet
	}
	for _, e := range t.events {
		if d.Before(e.EffectiveDate()) {
			continue
		}
		if next, err := o.apply(e); err == nil {
			o = next
		}
	}
	return o
}

// Final returns the order once every event has taken effect.
func (t Timeline) Final() Order {
	var o Order
	for _, e := range t.events {
		if next, err := o.apply(e); err == nil {
			o = next
		}
	}
	return o
}

// NextEffective returns the first day after d on which an event takes
// effect, or the zero Date when none is pending.
func (t Timeline) NextEffective(d Date) Date {
	var next Date
	for _, e := range t.events {
		if ed := e.EffectiveDate(); d.Before(ed) && (next.IsZero() || ed.Before(next)) {
			next = ed
		}
	}
	return next
}
