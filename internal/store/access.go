package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// AccessFacts is what the store knows of one person's access in a period, for the
// quarterly access review (behörighetsgranskning, DOMAIN.md §7.3): who they are in the
// directory, their commissions, what they did through the hub (the audit trail), and the
// visits they registered. internal/report turns it into the review's lines and flags.
type AccessFacts struct {
	// Directory and Key name the person in the directory sync; both empty for a hub
	// caller no directory lists (a system's function certificate).
	Directory, Key string
	ProviderID     string
	HSAIDs         []string
	GivenName      string
	FamilyName     string
	Title          string
	Protected      bool
	// LeftOn is the day a sync found them gone; zero while they work.
	LeftOn      homecare.Date
	Commissions []homecare.Commission
	// Log is the person's log list: what they did through the hub in the period, from
	// the audit trail (their certificates' HSA-IDs as actor), oldest first.
	Log []AuditRecord
	// LastActivity is the last thing they did through the hub or the last visit they
	// registered, up to the period's end; zero for none ever.
	LastActivity time.Time
	// Visits counts the visits they registered in the period; ForeignVisits those for
	// another provider than theirs.
	Visits, ForeignVisits int
	// Since is when the hub first knew them: a directory sync first listed them, or
	// their first call or visit; "no activity in 90 days" needs 90 days of access.
	Since time.Time
	// Keys counts the doors whose key grant they held in the period (the hub wanted or
	// the vendor confirmed it); KeysAfterLeaving those still granted on or after LeftOn;
	// OpenedWithoutGrant and OpenedWithoutVisit the doors they opened in the period with
	// no grant in force, and with one but no visit of the client near.
	Keys, KeysAfterLeaving, OpenedWithoutGrant, OpenedWithoutVisit int
}

// AccessFacts returns the facts of everyone with access in from..to (local days, both
// inclusive): every person a directory sync lists who had not left before from, and
// every other HSA-ID the audit trail shows calling the hub, or a visit shows registered,
// then (no directory lists them: their provider is the one they registered visits for).
func (s *Store) AccessFacts(ctx context.Context, from, to homecare.Date) ([]AccessFacts, error) {
	loc := homecare.Stockholm()
	start, end := from.In(loc), to.AddDays(1).In(loc)
	var people []struct {
		ID       string    `db:"id"`
		Source   string    `db:"source_system"`
		Key      string    `db:"external_id"`
		Provider string    `db:"provider_ref"`
		Given    string    `db:"given_name"`
		Family   string    `db:"family_name"`
		Title    string    `db:"title"`
		Prot     bool      `db:"protected_person"`
		LeftOn   dateValue `db:"left_on"`
		Created  nullTime  `db:"created_at"`
	}
	if err := s.sel(ctx, &people, `SELECT id, source_system, external_id, provider_ref, given_name, family_name, title,
		protected_person, left_on, created_at FROM staff WHERE source_system LIKE 'dir:%' AND (left_on IS NULL OR left_on >= ?)
		ORDER BY provider_ref, external_id`, from.String()); err != nil {
		return nil, fmt.Errorf("access facts: staff: %w", err)
	}
	var ids []struct {
		HSAID   string `db:"hsa_id"`
		StaffID string `db:"staff_id"`
	}
	if err := s.sel(ctx, &ids, `SELECT hsa_id, staff_id FROM staff_hsa_ids ORDER BY hsa_id`); err != nil {
		return nil, fmt.Errorf("access facts: hsa-ids: %w", err)
	}
	var comms []struct {
		StaffID   string    `db:"staff_id"`
		HSAID     string    `db:"hsa_id"`
		Name      string    `db:"name"`
		Unit      string    `db:"care_unit_hsa_id"`
		ValidFrom dateValue `db:"valid_from"`
		ValidTo   dateValue `db:"valid_to"`
	}
	if err := s.sel(ctx, &comms, `SELECT staff_id, hsa_id, name, care_unit_hsa_id, valid_from, valid_to FROM staff_commissions
		ORDER BY staff_id, position`); err != nil {
		return nil, fmt.Errorf("access facts: commissions: %w", err)
	}
	var audit []auditRow
	if err := s.sel(ctx, &audit, `SELECT `+auditCols+` FROM audit_log WHERE actor LIKE 'hsa:%' AND at < ? ORDER BY seq`,
		s.tv(end)); err != nil {
		return nil, fmt.Errorf("access facts: audit: %w", err)
	}
	var visits []struct {
		HSAID    string   `db:"hsa_id"`
		Provider string   `db:"provider_ref"`
		Start    nullTime `db:"start_at"`
	}
	if err := s.sel(ctx, &visits, `SELECT vs.hsa_id, v.provider_ref, v.start_at FROM visit_staff vs JOIN visits v ON v.id = vs.visit_id
		WHERE vs.hsa_id <> '' AND v.start_at < ? ORDER BY v.start_at`, s.tv(end)); err != nil {
		return nil, fmt.Errorf("access facts: visits: %w", err)
	}

	out := make([]AccessFacts, 0, len(people))
	byHSA := map[string]*AccessFacts{}
	byID := map[string]int{}
	for i, p := range people {
		f := AccessFacts{Directory: strings.TrimPrefix(p.Source, "dir:"), Key: p.Key, ProviderID: p.Provider,
			GivenName: p.Given, FamilyName: p.Family, Title: p.Title, Protected: p.Prot, Since: p.Created.Time}
		if p.LeftOn != "" {
			d, err := homecare.ParseDate(dateString(p.LeftOn))
			if err != nil {
				return nil, fmt.Errorf("access facts: %w", err)
			}
			f.LeftOn = d
		}
		out = append(out, f)
		byID[p.ID] = i
	}
	for _, h := range ids {
		if i, ok := byID[h.StaffID]; ok {
			out[i].HSAIDs = append(out[i].HSAIDs, h.HSAID)
		}
	}
	for i := range out {
		for _, h := range out[i].HSAIDs {
			byHSA[h] = &out[i]
		}
	}
	for _, c := range comms {
		i, ok := byID[c.StaffID]
		if !ok {
			continue
		}
		cm := homecare.Commission{HSAID: homecare.HSAID(c.HSAID), Name: c.Name, CareUnitHSAID: homecare.HSAID(c.Unit)}
		var err error
		if c.ValidFrom != "" {
			if cm.ValidFrom, err = homecare.ParseDate(dateString(c.ValidFrom)); err != nil {
				return nil, fmt.Errorf("access facts: %w", err)
			}
		}
		if c.ValidTo != "" {
			if cm.ValidTo, err = homecare.ParseDate(dateString(c.ValidTo)); err != nil {
				return nil, fmt.Errorf("access facts: %w", err)
			}
		}
		out[i].Commissions = append(out[i].Commissions, cm)
	}
	// Hub callers no directory lists, by HSA-ID; added to out at the end, as byHSA
	// points into it.
	callers := map[string]*AccessFacts{}
	var order []string
	for _, r := range audit {
		hsa := strings.TrimPrefix(r.Actor, "hsa:")
		f := byHSA[hsa]
		if f == nil {
			if r.At.Time.Before(start) {
				continue
			}
			if f = callers[hsa]; f == nil {
				f = &AccessFacts{HSAIDs: []string{hsa}, Since: r.At.Time}
				callers[hsa] = f
				order = append(order, hsa)
			}
		}
		if r.At.Time.After(f.LastActivity) {
			f.LastActivity = r.At.Time
		}
		if !r.At.Time.Before(start) {
			f.Log = append(f.Log, s.auditRecord(r))
		}
	}
	for _, v := range visits {
		f := byHSA[v.HSAID]
		if f == nil {
			f = callers[v.HSAID]
		}
		if f == nil {
			if v.Start.Time.Before(start) {
				continue
			}
			f = &AccessFacts{HSAIDs: []string{v.HSAID}, ProviderID: v.Provider, Since: v.Start.Time}
			callers[v.HSAID] = f
			order = append(order, v.HSAID)
		}
		if f.Directory == "" && f.ProviderID == "" {
			f.ProviderID = v.Provider // a caller who also registers visits
		}
		if f.Since.IsZero() || v.Start.Time.Before(f.Since) {
			f.Since = v.Start.Time
		}
		if v.Start.Time.After(f.LastActivity) {
			f.LastActivity = v.Start.Time
		}
		if !v.Start.Time.Before(start) {
			f.Visits++
			if v.Provider != "" && v.Provider != f.ProviderID {
				f.ForeignVisits++
			}
		}
	}
	if err := s.keyFacts(ctx, byHSA, start, end); err != nil {
		return nil, err
	}
	for _, hsa := range order {
		out = append(out, *callers[hsa])
	}
	slices.SortStableFunc(out, func(a, b AccessFacts) int {
		return strings.Compare(a.ProviderID+"\x00"+a.Key+strings.Join(a.HSAIDs, ","), b.ProviderID+"\x00"+b.Key+strings.Join(b.HSAIDs, ","))
	})
	return out, nil
}

// keyFacts adds each person's key grants and lock findings in [start, end) to their facts.
func (s *Store) keyFacts(ctx context.Context, byHSA map[string]*AccessFacts, start, end time.Time) error {
	var grants []struct {
		Holder    string   `db:"holder"`
		Op        string   `db:"op"`
		Requested nullTime `db:"requested_at"`
		Revoked   nullTime `db:"revoked_at"`
	}
	if err := s.sel(ctx, &grants, `SELECT holder, op, requested_at, revoked_at FROM key_grants WHERE requested_at < ?`, s.tv(end)); err != nil {
		return fmt.Errorf("access facts: key grants: %w", err)
	}
	for _, g := range grants {
		f := byHSA[g.Holder]
		if f == nil {
			continue
		}
		// Held in the period: a grant now, or one revoked within it.
		held := g.Op == "grant" || (g.Revoked.Valid && !g.Revoked.Time.Before(start))
		if !held {
			continue
		}
		f.Keys++
		if !f.LeftOn.IsZero() {
			left := f.LeftOn.In(homecare.Stockholm())
			if g.Op == "grant" || !g.Revoked.Time.Before(left) {
				f.KeysAfterLeaving++
			}
		}
	}
	var findings []struct {
		Holder  string `db:"holder"`
		Finding string `db:"finding"`
		N       int    `db:"n"`
	}
	if err := s.sel(ctx, &findings, `SELECT holder, finding, COUNT(*) AS n FROM lock_events WHERE finding <> '' AND holder <> ''
		AND occurred_at >= ? AND occurred_at < ? GROUP BY holder, finding`, s.tv(start), s.tv(end)); err != nil {
		return fmt.Errorf("access facts: lock findings: %w", err)
	}
	for _, r := range findings {
		f := byHSA[r.Holder]
		switch {
		case f == nil:
		case r.Finding == FindingNoGrant:
			f.OpenedWithoutGrant += r.N
		case r.Finding == FindingNoVisit:
			f.OpenedWithoutVisit += r.N
		}
	}
	return nil
}
