package store

import (
	"context"
	"fmt"
)

// VisitTotal is the executed time of one provider on one day: the figure
// nightly reconciliation compares with granted time.
type VisitTotal struct {
	// LocalDate is the day in Europe/Stockholm, YYYY-MM-DD.
	LocalDate string
	// ProviderID is the provider id the visits carry.
	ProviderID string
	// Visits is how many visits were stored.
	Visits int64
	// Minutes is their summed duration.
	Minutes int64
}

// VisitTotals sums visits per day and provider, ordered by day and
// provider; f's date and provider bounds apply, its Limit does not.
func (s *Store) VisitTotals(ctx context.Context, f VisitFilter) ([]VisitTotal, error) {
	q := `SELECT local_date, provider_ref, COUNT(*), COALESCE(SUM(duration_minutes), 0) FROM visits WHERE 1 = 1`
	var args []any
	if !f.LocalDateFrom.IsZero() {
		q, args = q+` AND local_date >= ?`, append(args, f.LocalDateFrom.String())
	}
	if !f.LocalDateTo.IsZero() {
		q, args = q+` AND local_date <= ?`, append(args, f.LocalDateTo.String())
	}
	if f.Provider != "" {
		q, args = q+` AND provider_ref = ?`, append(args, f.Provider)
	}
	q += ` GROUP BY local_date, provider_ref ORDER BY local_date, provider_ref`
	rows, err := s.rdb.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("visit totals: %w", err)
	}
	defer rows.Close()
	var out []VisitTotal
	for rows.Next() {
		var t VisitTotal
		var day dateValue
		if err := rows.Scan(&day, &t.ProviderID, &t.Visits, &t.Minutes); err != nil {
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
