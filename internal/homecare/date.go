package homecare

import (
	"errors"
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // Stockholm must load on hosts and containers without /usr/share/zoneinfo.
)

// stockholm is loaded once; the embedded tzdata makes failure impossible short of a broken build.
var stockholm = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic("homecare: load Europe/Stockholm: " + err.Error())
	}
	return loc
})

// Stockholm returns the Europe/Stockholm location. Every municipality is in it, and local
// dates (which day a visit counts for, daily and monthly reconciliation) are computed in it
// (DOMAIN.md §8a). It is loaded once and works without system zoneinfo.
func Stockholm() *time.Location { return stockholm() }

// Date is a calendar date without time or zone, such as a visit's local_date or an
// employment start. It is comparable with ==, and its JSON form is "2006-01-02".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// LocalDate returns the date of t in Europe/Stockholm: the day an instant belongs to for
// reconciliation and reports.
func LocalDate(t time.Time) Date { return DateOf(t.In(Stockholm())) }

// ParseDate parses "2006-01-02" and rejects dates that do not exist.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		// time's error quotes the input; the reason names the rule only.
		return Date{}, errors.New("date: want YYYY-MM-DD, a date that exists")
	}
	return DateOf(t), nil
}

// IsZero reports whether d is the zero Date, meaning "no date"; it lets `omitzero` drop it.
func (d Date) IsZero() bool { return d == Date{} }

// String returns "2006-01-02".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// AddDays returns the date n days after d (before, for negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Before(e):
		return -1
	case e.Before(d):
		return 1
	}
	return 0
}

// In returns midnight at the start of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// MarshalText writes "2006-01-02".
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "2006-01-02", so invalid dates fail at decode time.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
