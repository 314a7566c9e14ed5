package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// visitFact is what executed time needs of one stored visit: who, by whom, when, its
// status and insatser. No personal data: the client is its store id.
type visitFact struct {
	ID        string    `db:"id"`
	ClientID  string    `db:"client_id"`
	Provider  string    `db:"provider_ref"`
	Status    string    `db:"status"`
	StartAt   nullTime  `db:"start_at"`
	EndAt     nullTime  `db:"end_at"`
	LocalDate dateValue `db:"local_date"`
	Minutes   int       `db:"duration_minutes"`
	insatser  []insatsFact
}

type insatsFact struct {
	VisitID       string `db:"visit_id"`
	Code          string `db:"code"`
	Minutes       *int   `db:"minutes"`
	Declined      bool   `db:"declined"`
	DoubleStaffed bool   `db:"double_staffed"`
}

// done reports whether the visit's time counts (given an order in force).
func (v *visitFact) done() bool {
	return v.Status == string(homecare.VisitCompleted) || v.Status == string(homecare.VisitPartiallyDeclined)
}

// shares divides the visit's minutes among days by rule.
func (v *visitFact) shares(rule homecare.MidnightRule) ([]homecare.DayShare, error) {
	if rule.OrDefault() == homecare.StartDay {
		// The stored local_date is the start day in Europe/Stockholm (Visit.Validate).
		d, err := homecare.ParseDate(string(v.LocalDate))
		if err != nil {
			return nil, fmt.Errorf("visit %s: local_date: %w", v.ID, err)
		}
		return []homecare.DayShare{{Date: d, Minutes: v.Minutes}}, nil
	}
	return homecare.DayShares(v.StartAt.Time, v.EndAt.Time, v.Minutes, rule), nil
}

const (
	visitFactCols  = `v.id, v.client_id, v.provider_ref, v.status, v.start_at, v.end_at, v.local_date, v.duration_minutes`
	insatsFactCols = `i.visit_id, i.code, i.minutes, i.declined, i.double_staffed`

	qFactsByDate = `SELECT ` + visitFactCols + ` FROM visits v
		WHERE v.local_date >= ? AND v.local_date <= ? ORDER BY v.id`
	qInsatsByDate = `SELECT ` + insatsFactCols + ` FROM visit_insatser i JOIN visits v ON v.id = i.visit_id
		WHERE v.local_date >= ? AND v.local_date <= ? ORDER BY i.visit_id, i.position`
	qFactsByDateProvider = `SELECT ` + visitFactCols + ` FROM visits v
		WHERE v.local_date >= ? AND v.local_date <= ? AND v.provider_ref = ? ORDER BY v.id`
	qInsatsByDateProvider = `SELECT ` + insatsFactCols + ` FROM visit_insatser i JOIN visits v ON v.id = i.visit_id
		WHERE v.local_date >= ? AND v.local_date <= ? AND v.provider_ref = ? ORDER BY i.visit_id, i.position`
	qFactsOfClientDay = `SELECT ` + visitFactCols + ` FROM visits v
		WHERE v.client_id = ? AND v.provider_ref = ? AND v.local_date >= ? AND v.local_date <= ? ORDER BY v.id`
	qInsatsOfClientDay = `SELECT ` + insatsFactCols + ` FROM visit_insatser i JOIN visits v ON v.id = i.visit_id
		WHERE v.client_id = ? AND v.provider_ref = ? AND v.local_date >= ? AND v.local_date <= ? ORDER BY i.visit_id, i.position`
)

// visitFacts reads the visits query selects with their insatser (insatsQuery: the same
// visits' insatser, by visit), into into, skipping visits already there.
func (s *Store) visitFacts(ctx context.Context, into map[string]*visitFact, query, insatsQuery string, args ...any) error {
	var vs []visitFact
	if err := s.sel(ctx, &vs, query, args...); err != nil {
		return fmt.Errorf("read visits: %w", err)
	}
	var ins []insatsFact
	if err := s.sel(ctx, &ins, insatsQuery, args...); err != nil {
		return fmt.Errorf("read visit insatser: %w", err)
	}
	fresh := map[string]*visitFact{}
	for i := range vs {
		if _, ok := into[vs[i].ID]; ok {
			continue
		}
		v := vs[i]
		into[v.ID], fresh[v.ID] = &v, &v
	}
	for _, in := range ins {
		if v := fresh[in.VisitID]; v != nil {
			v.insatser = append(v.insatser, in)
		}
	}
	return nil
}

// orderSpan is when an order is in force for its client with its provider, as
// qVisitTotals decides it: from valid_from, to valid_to and its end, unless rejected.
type orderSpan struct {
	ClientID     string    `db:"client_id"`
	Provider     string    `db:"provider_ref"`
	SourceSystem string    `db:"source_system"`
	ExternalID   string    `db:"external_id"`
	DecisionID   string    `db:"decision_external_id"`
	ValidFrom    dateValue `db:"valid_from"`
	ValidTo      dateValue `db:"valid_to"`
	EndedOn      dateValue `db:"ended_on"`
}

const qOrderSpans = `SELECT client_id, provider_ref, source_system, external_id, decision_external_id,
	valid_from, valid_to, ended_on FROM orders WHERE status <> 'rejected' ORDER BY valid_from, external_id`

// orderBook answers which order was in force for a client with a provider on a day.
type orderBook map[[2]string][]orderSpan

func (s *Store) orderBook(ctx context.Context) (orderBook, error) {
	var rows []orderSpan
	if err := s.sel(ctx, &rows, qOrderSpans); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	b := orderBook{}
	for _, r := range rows {
		k := [2]string{r.ClientID, r.Provider}
		b[k] = append(b[k], r)
	}
	return b, nil
}

// inForce returns the order in force for client with provider on day, the one that came
// into force last when several were (a new decision beside one ending); nil for none.
func (b orderBook) inForce(client, provider string, day homecare.Date) *orderSpan {
	d := dateValue(day.String())
	var found *orderSpan
	spans := b[[2]string{client, provider}]
	for i := range spans {
		o := &spans[i]
		// Dates compare as YYYY-MM-DD strings from both dialects.
		if dateString(o.ValidFrom) > string(d) || o.ValidTo != "" && dateString(o.ValidTo) < string(d) ||
			o.EndedOn != "" && dateString(o.EndedOn) < string(d) {
			continue
		}
		found = o // rows are by valid_from: the last one wins
	}
	return found
}

// dateString is a scanned date's first ten characters: PostgreSQL's DATE scans as a
// time, formatted YYYY-MM-DD, SQLite's as the text stored.
func dateString(d dateValue) string {
	if len(d) > 10 {
		return string(d[:10])
	}
	return string(d)
}

// sortedVisits returns the facts in id order, so aggregation is deterministic.
func sortedVisits(m map[string]*visitFact) []*visitFact {
	out := make([]*visitFact, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *visitFact) int { return strings.Compare(a.ID, b.ID) })
	return out
}
