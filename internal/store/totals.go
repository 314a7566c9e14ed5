package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// VisitTotal is the executed time of one provider on one day: the figure nightly
// reconciliation compares with granted time. Only completed (or partly declined) visits
// under an order in force count; the rest are shown apart, never added in.
type VisitTotal struct {
	// LocalDate is the day in Europe/Stockholm, YYYY-MM-DD.
	LocalDate string
	// ProviderID is the provider id the visits carry.
	ProviderID string
	// Visits and Minutes are what counts: completed or partly declined visits of a client
	// whose order with this provider was in force that day.
	Visits  int64
	Minutes int64
	// NoOrder and NoOrderMinutes are completed visits with no order in force for the client
	// and provider that day: care given outside any order, for review.
	NoOrder, NoOrderMinutes int64
	// Declined, Cancelled and InProgress count the visits of those statuses.
	Declined, Cancelled, InProgress int64
}

// qVisitTotals sums visits per day and provider with whether an order was in force: an
// order of the client with the provider, in force from valid_from, not past valid_to or
// its end, and not rejected (the stored projection as of today).
const qVisitTotals = `SELECT local_date, provider_ref,
	SUM(CASE WHEN done AND has_order THEN 1 ELSE 0 END),
	SUM(CASE WHEN done AND has_order THEN duration_minutes ELSE 0 END),
	SUM(CASE WHEN done AND NOT has_order THEN 1 ELSE 0 END),
	SUM(CASE WHEN done AND NOT has_order THEN duration_minutes ELSE 0 END),
	SUM(CASE WHEN status = 'declined' THEN 1 ELSE 0 END),
	SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END),
	SUM(CASE WHEN status = 'in_progress' THEN 1 ELSE 0 END)
	FROM (SELECT v.local_date, v.provider_ref, v.status, v.duration_minutes,
		(v.status = 'completed' OR v.status = 'partially_declined') AS done,
		EXISTS (SELECT 1 FROM orders o WHERE o.client_id = v.client_id AND o.provider_ref = v.provider_ref
			AND o.valid_from <= v.local_date AND (o.valid_to IS NULL OR o.valid_to >= v.local_date)
			AND (o.ended_on IS NULL OR o.ended_on >= v.local_date) AND o.status <> 'rejected') AS has_order
		FROM visits v WHERE 1 = 1`

// VisitTotals sums visits per day and provider, ordered by day and
// provider; f's date and provider bounds apply, its Limit does not. A visit across
// midnight counts on the day it started: VisitTotalsBy with homecare.StartDay.
func (s *Store) VisitTotals(ctx context.Context, f VisitFilter) ([]VisitTotal, error) {
	return s.VisitTotalsBy(ctx, f, homecare.StartDay)
}

// VisitTotalsBy is VisitTotals with the municipality's midnight rule (knut.yaml
// visits.across_midnight). Under homecare.Split a visit across midnight is counted (Visits,
// NoOrder, Declined, ...) on the day it started and its minutes on the days they fell on,
// cut at Europe/Stockholm midnight, each part under the order in force that day; the
// days f bounds are the days the minutes fell on.
func (s *Store) VisitTotalsBy(ctx context.Context, f VisitFilter, rule homecare.MidnightRule) ([]VisitTotal, error) {
	if rule.OrDefault() == homecare.Split {
		return s.splitTotals(ctx, f)
	}
	return s.startDayTotals(ctx, f)
}

// startDayTotals is the start-day rule, summed by the database.
func (s *Store) startDayTotals(ctx context.Context, f VisitFilter) ([]VisitTotal, error) {
	q := qVisitTotals
	var args []any
	if !f.LocalDateFrom.IsZero() {
		q, args = q+` AND v.local_date >= ?`, append(args, f.LocalDateFrom.String())
	}
	if !f.LocalDateTo.IsZero() {
		q, args = q+` AND v.local_date <= ?`, append(args, f.LocalDateTo.String())
	}
	if f.Provider != "" {
		q, args = q+` AND v.provider_ref = ?`, append(args, f.Provider)
	}
	q += `) x GROUP BY local_date, provider_ref ORDER BY local_date, provider_ref`
	rows, err := s.rdb.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("visit totals: %w", err)
	}
	defer rows.Close()
	var out []VisitTotal
	for rows.Next() {
		var t VisitTotal
		var day dateValue
		if err := rows.Scan(&day, &t.ProviderID, &t.Visits, &t.Minutes, &t.NoOrder, &t.NoOrderMinutes,
			&t.Declined, &t.Cancelled, &t.InProgress); err != nil {
			return nil, fmt.Errorf("visit totals: %w", err)
		}
		t.LocalDate = string(day)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("visit totals: %w", err)
	}
	return out, nil
}

// splitTotals is the split rule: the visits are read and cut into days here, as the cut
// depends on Europe/Stockholm's midnights, which neither database knows the same way.
func (s *Store) splitTotals(ctx context.Context, f VisitFilter) ([]VisitTotal, error) {
	// A visit lasts at most MaxVisitDays, so one that started that long before the first
	// day may still have minutes on it.
	from, to := "0001-01-01", "9999-12-31"
	if !f.LocalDateFrom.IsZero() {
		from = f.LocalDateFrom.AddDays(-homecare.MaxVisitDays).String()
	}
	if !f.LocalDateTo.IsZero() {
		to = f.LocalDateTo.String()
	}
	facts := map[string]*visitFact{}
	var err error
	if f.Provider != "" {
		err = s.visitFacts(ctx, facts, qFactsByDateProvider, qInsatsByDateProvider, from, to, f.Provider)
	} else {
		err = s.visitFacts(ctx, facts, qFactsByDate, qInsatsByDate, from, to)
	}
	if err != nil {
		return nil, fmt.Errorf("visit totals: %w", err)
	}
	book, err := s.orderBook(ctx)
	if err != nil {
		return nil, fmt.Errorf("visit totals: %w", err)
	}
	in := func(d homecare.Date) bool {
		return (f.LocalDateFrom.IsZero() || !d.Before(f.LocalDateFrom)) && (f.LocalDateTo.IsZero() || !f.LocalDateTo.Before(d))
	}
	sums := map[[2]string]*VisitTotal{}
	at := func(d homecare.Date, provider string) *VisitTotal {
		k := [2]string{d.String(), provider}
		if sums[k] == nil {
			sums[k] = &VisitTotal{LocalDate: k[0], ProviderID: provider}
		}
		return sums[k]
	}
	for _, v := range sortedVisits(facts) {
		shares, err := v.shares(homecare.Split)
		if err != nil {
			return nil, fmt.Errorf("visit totals: %w", err)
		}
		start := shares[0].Date
		if in(start) {
			t := at(start, v.Provider)
			switch {
			case v.done() && book.inForce(v.ClientID, v.Provider, start) != nil:
				t.Visits++
			case v.done():
				t.NoOrder++
			case v.Status == string(homecare.VisitDeclined):
				t.Declined++
			case v.Status == string(homecare.VisitCancelled):
				t.Cancelled++
			case v.Status == string(homecare.VisitInProgress):
				t.InProgress++
			}
		}
		if !v.done() {
			continue
		}
		for _, sh := range shares {
			if !in(sh.Date) {
				continue
			}
			t := at(sh.Date, v.Provider)
			if book.inForce(v.ClientID, v.Provider, sh.Date) != nil {
				t.Minutes += int64(sh.Minutes)
			} else {
				t.NoOrderMinutes += int64(sh.Minutes)
			}
		}
	}
	out := make([]VisitTotal, 0, len(sums))
	for _, t := range sums {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b VisitTotal) int {
		if a.LocalDate != b.LocalDate {
			return strings.Compare(a.LocalDate, b.LocalDate)
		}
		return strings.Compare(a.ProviderID, b.ProviderID)
	})
	return out, nil
}
