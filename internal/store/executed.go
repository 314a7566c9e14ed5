package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// ExecutedChanges are the client-days whose executed time is to be sent to the case
// system: new days and days a correction or a late record changed since they were sent,
// each with its next version. MarkExecutedSent records them once they are handed on.
type ExecutedChanges struct {
	// Days are the days to send, by day, provider and message id.
	Days []homecare.ExecutedDay
	// Unchanged counts the client-days read again that said what was sent already.
	Unchanged int

	keys   []executedKey // Days' keys and digests, in the same order
	queued []queuedDay   // the reconcile_days rows read
}

type executedKey struct {
	client, day, provider, digest string
}

type queuedDay struct {
	ClientID string    `db:"client_id"`
	Day      dateValue `db:"local_date"`
	Provider string    `db:"provider_ref"`
	QueuedAt nullTime  `db:"queued_at"`
}

type sentDay struct {
	ClientID string    `db:"client_id"`
	Day      dateValue `db:"local_date"`
	Provider string    `db:"provider_ref"`
	Version  int       `db:"version"`
	Digest   string    `db:"digest"`
}

const (
	qQueuedDays = `SELECT client_id, local_date, provider_ref, queued_at FROM reconcile_days
		WHERE local_date <= ? AND queued_at >= ? ORDER BY local_date, provider_ref, client_id`
	qSentDays = `SELECT client_id, local_date, provider_ref, version, digest FROM executed_days
		WHERE local_date >= ? AND local_date <= ?`
	qSentDay = `SELECT client_id, local_date, provider_ref, version, digest FROM executed_days
		WHERE client_id = ? AND local_date = ? AND provider_ref = ?`
	qClientPersonID = `SELECT person_id_hash, person_id_enc, person_id_type FROM clients WHERE id = ?`
)

// ExecutedChanges counts the executed time of every client with every provider on each
// day from..to (Europe/Stockholm dates, both inclusive) and on each client-day queued for
// reconciliation up to to (reconcile_days: a late record, a correction) since
// queuedSince, by rule, and returns the days that are new or differ from what was last
// sent (MarkExecutedSent). The queue is read, not taken: the nightly reconciliation
// reads it too, and a day read twice that did not change sends nothing.
// A queued day whose visits are gone (a correction moved them) is sent again as zero.
//
// What counts is what VisitTotals counts: completed and partly declined visits of a
// client whose order with the provider was in force that day. Declined, cancelled and
// in-progress visits, and completed ones without an order, are counted apart.
func (s *Store) ExecutedChanges(ctx context.Context, from, to homecare.Date, rule homecare.MidnightRule, queuedSince time.Time) (*ExecutedChanges, error) {
	if s.pid == nil {
		return nil, ErrNoPersonIDKeys
	}
	rule = rule.OrDefault()
	c := &ExecutedChanges{}
	if err := s.sel(ctx, &c.queued, qQueuedDays, to.String(), s.tv(queuedSince)); err != nil {
		return nil, fmt.Errorf("executed days: queued days: %w", err)
	}
	// Under split a visit that started up to MaxVisitDays earlier may have minutes on a day.
	back := 0
	if rule == homecare.Split {
		back = homecare.MaxVisitDays
	}
	facts := map[string]*visitFact{}
	wanted := map[[3]string]bool{} // client, day, provider
	inRange := func(d homecare.Date) bool { return !d.Before(from) && !to.Before(d) }
	if !to.Before(from) {
		if err := s.visitFacts(ctx, facts, qFactsByDate, qInsatsByDate, from.AddDays(-back).String(), to.String()); err != nil {
			return nil, fmt.Errorf("executed days: %w", err)
		}
	}
	for _, q := range c.queued {
		d, err := homecare.ParseDate(dateString(q.Day))
		if err != nil {
			return nil, fmt.Errorf("executed days: queued day: %w", err)
		}
		wanted[[3]string{q.ClientID, d.String(), q.Provider}] = true
		if err := s.visitFacts(ctx, facts, qFactsOfClientDay, qInsatsOfClientDay,
			q.ClientID, q.Provider, d.AddDays(-back).String(), d.String()); err != nil {
			return nil, fmt.Errorf("executed days: %w", err)
		}
	}
	book, err := s.orderBook(ctx)
	if err != nil {
		return nil, fmt.Errorf("executed days: %w", err)
	}

	days := map[[3]string]*homecare.ExecutedDay{}
	day := func(client string, d homecare.Date, provider string) *homecare.ExecutedDay {
		k := [3]string{client, d.String(), provider}
		if days[k] == nil {
			days[k] = &homecare.ExecutedDay{LocalDate: d, ProviderID: provider, AcrossMidnight: rule}
		}
		return days[k]
	}
	counted := func(client string, d homecare.Date, provider string) bool {
		return inRange(d) || wanted[[3]string{client, d.String(), provider}]
	}
	for _, v := range sortedVisits(facts) {
		shares, err := v.shares(rule)
		if err != nil {
			return nil, fmt.Errorf("executed days: %w", err)
		}
		if start := shares[0].Date; counted(v.ClientID, start, v.Provider) {
			e := day(v.ClientID, start, v.Provider)
			switch {
			case v.done() && book.inForce(v.ClientID, v.Provider, start) != nil:
				e.Visits++
			case v.done():
				e.NoOrder++
			case v.Status == string(homecare.VisitDeclined):
				e.Declined++
			case v.Status == string(homecare.VisitCancelled):
				e.Cancelled++
			case v.Status == string(homecare.VisitInProgress):
				e.InProgress++
			}
		}
		if !v.done() {
			continue
		}
		perInsats := make([][]int, len(v.insatser))
		for i, in := range v.insatser {
			if in.Minutes != nil && !in.Declined {
				perInsats[i] = homecare.Apportion(*in.Minutes, shares)
			}
		}
		for si, sh := range shares {
			if !counted(v.ClientID, sh.Date, v.Provider) {
				continue
			}
			e := day(v.ClientID, sh.Date, v.Provider)
			if book.inForce(v.ClientID, v.Provider, sh.Date) == nil {
				e.NoOrderMinutes += sh.Minutes
				continue
			}
			e.Minutes += sh.Minutes
			e.DoubleStaffedMinutes += doubleStaffed(v, perInsats, si, sh.Minutes)
			seen := map[string]bool{}
			for i, in := range v.insatser {
				if in.Declined {
					continue
				}
				m := 0
				if perInsats[i] != nil {
					m = perInsats[i][si]
				}
				addInsats(e, in.Code, si == 0 && !seen[in.Code], m)
				seen[in.Code] = true
			}
		}
	}
	for k := range wanted { // a queued day with no visits left
		if d, err := homecare.ParseDate(k[1]); err == nil {
			day(k[0], d, k[2])
		}
	}

	sent, err := s.sentDays(ctx, from, to, c.queued)
	if err != nil {
		return nil, err
	}
	keys := make([][3]string, 0, len(days))
	for k := range days {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [3]string) int {
		return strings.Compare(a[1]+"\x00"+a[2]+"\x00"+a[0], b[1]+"\x00"+b[2]+"\x00"+b[0])
	})
	produced := s.clock().UTC().Truncate(time.Second)
	for _, k := range keys {
		e := days[k]
		if o := book.inForce(k[0], k[2], e.LocalDate); o != nil {
			e.Order = &homecare.ExecutedOrder{SourceSystem: o.SourceSystem, ExternalID: o.ExternalID, DecisionID: o.DecisionID}
		}
		slices.SortFunc(e.Insatser, func(a, b homecare.ExecutedInsats) int { return strings.Compare(a.Code, b.Code) })
		digest := e.Digest()
		prev, ok := sent[k]
		switch {
		case ok && prev.Digest == digest:
			c.Unchanged++
			continue
		case !ok && e.Empty():
			continue // nothing was said of the day, and there is nothing to say
		}
		e.Version = prev.Version + 1
		e.MessageID = fmt.Sprintf("executed/%s/%s/%s/v%d", k[0], k[2], k[1], e.Version)
		e.ProducedAt = produced
		if e.Client, err = s.clientOf(ctx, k[0]); err != nil {
			return nil, err
		}
		c.Days = append(c.Days, *e)
		c.keys = append(c.keys, executedKey{client: k[0], day: k[1], provider: k[2], digest: digest})
	}
	return c, nil
}

// doubleStaffed returns the minutes of share si (of minutes) that two staff worked: the
// double-staffed insatser's minutes where they carry them, otherwise the share's.
func doubleStaffed(v *visitFact, perInsats [][]int, si, minutes int) int {
	n, found := 0, false
	for i, in := range v.insatser {
		if in.Declined || !in.DoubleStaffed {
			continue
		}
		if perInsats[i] == nil {
			return minutes // a double-staffed insats without its own time: the whole visit
		}
		n, found = n+perInsats[i][si], true
	}
	if !found {
		return 0
	}
	return min(n, minutes)
}

// addInsats adds an insats's minutes to e, counting the visit once (on its first share).
func addInsats(e *homecare.ExecutedDay, code string, first bool, minutes int) {
	i := slices.IndexFunc(e.Insatser, func(x homecare.ExecutedInsats) bool { return x.Code == code })
	if i < 0 {
		e.Insatser = append(e.Insatser, homecare.ExecutedInsats{Code: code})
		i = len(e.Insatser) - 1
	}
	if first {
		e.Insatser[i].Visits++
	}
	e.Insatser[i].Minutes += minutes
}

// sentDays reads what was last sent for the days from..to and the queued client-days.
func (s *Store) sentDays(ctx context.Context, from, to homecare.Date, queued []queuedDay) (map[[3]string]sentDay, error) {
	var rows []sentDay
	if !to.Before(from) {
		if err := s.sel(ctx, &rows, qSentDays, from.String(), to.String()); err != nil {
			return nil, fmt.Errorf("executed days: sent: %w", err)
		}
	}
	for _, q := range queued {
		var one []sentDay
		if err := s.sel(ctx, &one, qSentDay, q.ClientID, dateString(q.Day), q.Provider); err != nil {
			return nil, fmt.Errorf("executed days: sent: %w", err)
		}
		rows = append(rows, one...)
	}
	out := make(map[[3]string]sentDay, len(rows))
	for _, r := range rows {
		out[[3]string{r.ClientID, dateString(r.Day), r.Provider}] = r
	}
	return out, nil
}

// clientOf returns a client's person id, decrypted, for the case system.
func (s *Store) clientOf(ctx context.Context, clientID string) (homecare.VisitClient, error) {
	var r struct {
		Hash []byte `db:"person_id_hash"`
		Enc  []byte `db:"person_id_enc"`
		Type string `db:"person_id_type"`
	}
	if err := s.get(ctx, &r, qClientPersonID, clientID); err != nil {
		return homecare.VisitClient{}, fmt.Errorf("executed days: client %s: %w", clientID, err)
	}
	digits, err := s.pid.decrypt(r.Enc, r.Hash)
	if err != nil {
		return homecare.VisitClient{}, fmt.Errorf("executed days: client %s: %w", clientID, err)
	}
	pid, err := homecare.ParsePlausiblePersonID(digits) // checked when it came in
	if err != nil {
		return homecare.VisitClient{}, fmt.Errorf("executed days: client %s: stored %w", clientID, err)
	}
	return homecare.VisitClient{PersonID: pid, PersonIDType: pid.Type()}, nil
}

// MarkExecutedSent records that c's days were handed on (their versions and digests, so
// the next run sends a day again only when it changes), in one transaction.
func (s *Store) MarkExecutedSent(ctx context.Context, c *ExecutedChanges) error {
	return s.write(ctx, func(tx *Tx) error {
		at := s.tv(s.clock())
		for i, k := range c.keys {
			d := c.Days[i]
			if _, err := tx.exec(ctx, `INSERT INTO executed_days (client_id, local_date, provider_ref, version, digest, message_id, sent_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, local_date, provider_ref) DO UPDATE SET
				version = excluded.version, digest = excluded.digest, message_id = excluded.message_id, sent_at = excluded.sent_at`,
				k.client, k.day, k.provider, d.Version, k.digest, d.MessageID, at); err != nil {
				return fmt.Errorf("mark executed day %s sent: %w", d.MessageID, err)
			}
		}
		return nil
	})
}
