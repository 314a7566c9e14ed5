package homecare

import (
	"math"
	"time"
)

// MidnightRule says on which day a visit that runs past local midnight counts. It is the
// municipality's rule (knut.yaml visits.across_midnight): TES exports and most payment
// rules count the whole visit on the day it started, some municipalities pay each day
// for the time worked that day.
type MidnightRule string

// The midnight rules.
const (
	// StartDay counts the whole visit on the day it started: its local_date. The default.
	StartDay MidnightRule = "start_day"
	// Split counts each day's part of the visit on that day, cut at Europe/Stockholm
	// midnight, so a 22:00-02:00 visit is 120 minutes on each day (on the nights the
	// clocks change, the day's real length: 23 or 25 hours).
	Split MidnightRule = "split"
)

// MidnightRules are the rules, the default first.
var MidnightRules = []MidnightRule{StartDay, Split}

// UnmarshalText accepts only the known rules.
func (r *MidnightRule) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "midnight rule", MidnightRules...)
	*r = v
	return err
}

// OrDefault is r, or StartDay when r is empty.
func (r MidnightRule) OrDefault() MidnightRule {
	if r == "" {
		return StartDay
	}
	return r
}

// DayShare is the part of a visit that counts on one day.
type DayShare struct {
	Date    Date
	Minutes int
}

// DayShares divides a visit of minutes (its duration_minutes) that ran from start to end
// among the days it counts on by rule: all on the day it started (StartDay; an empty rule
// too), or each day its part cut at Europe/Stockholm midnight (Split). The shares add up
// to minutes exactly: each cut is placed in proportion and rounded once, from the start
// (a 22:00:40-00:30:10 visit of 150 minutes is 120 + 30), so no minute is won or lost by
// splitting. A visit ending at midnight has no share on the next day.
func DayShares(start, end time.Time, minutes int, rule MidnightRule) []DayShare {
	first := LocalDate(start)
	if rule.OrDefault() == StartDay || !end.After(start) {
		return []DayShare{{Date: first, Minutes: minutes}}
	}
	loc := Stockholm()
	span := end.Sub(start)
	var out []DayShare
	prev := 0
	for d := first; ; d = d.AddDays(1) {
		// time.Date normalises the day after the last of a month, and midnight is never
		// in the hour the clocks skip or repeat in Sweden (02:00-03:00).
		cut := d.AddDays(1).In(loc)
		if !cut.Before(end) {
			out = append(out, DayShare{Date: d, Minutes: minutes - prev})
			return out
		}
		// The minutes up to the cut, in proportion, so the last share is what is left of
		// minutes even where duration_minutes was rounded from seconds.
		upTo := int(math.Round(float64(minutes) * float64(cut.Sub(start)) / float64(span)))
		out = append(out, DayShare{Date: d, Minutes: upTo - prev})
		prev = upTo
	}
}

// Apportion divides n (an insats's minutes) over shares in proportion to their minutes,
// rounding each cut once so the parts add up to n. With a single share it is n.
func Apportion(n int, shares []DayShare) []int {
	if len(shares) == 0 {
		return nil
	}
	out := make([]int, len(shares))
	total := 0
	for _, s := range shares {
		total += s.Minutes
	}
	if len(shares) == 1 || total == 0 {
		out[0] = n
		return out
	}
	prev, acc := 0, 0
	for i, s := range shares {
		acc += s.Minutes
		upTo := int(math.Round(float64(n) * float64(acc) / float64(total)))
		out[i] = upTo - prev
		prev = upTo
	}
	return out
}
