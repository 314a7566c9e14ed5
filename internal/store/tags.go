package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// TagRegistration says which client's door an NFC/RFID tag is at, from which day until
// which. A tag is at one client at a time; a tag moved to another door is ended at the
// first before it is registered at the second, so the register keeps where it was when.
type TagRegistration struct {
	// UID is the tag's UID, normalised (homecare.NormalizeTagUID).
	UID string
	// Client is the client whose home it is in.
	Client homecare.PersonID
	// ValidFrom is the first local day it is there; ValidTo the first day it is not (zero:
	// still there).
	ValidFrom, ValidTo homecare.Date
	// Location says where in the home ("inside the door frame"): no personal data.
	Location string
	// RegisteredBy is who registered it (an audit actor, "os:alice").
	RegisteredBy string
	RegisteredAt time.Time
}

// ErrTagTaken is returned for a tag registered at another client's door.
var ErrTagTaken = errors.New("the tag is registered at another client's door: end it there first (knut tags remove)")

const (
	qOpenTag = `SELECT client_id, valid_from FROM tags WHERE uid = ? AND valid_to IS NULL`
	qAddTag  = `INSERT INTO tags (uid, client_id, valid_from, location, registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?)`
	qEndTag  = `UPDATE tags SET valid_to = ? WHERE uid = ? AND valid_to IS NULL`
	qTags    = `SELECT t.uid, t.valid_from, t.valid_to, t.location, t.registered_by, t.registered_at,
		c.person_id_hash, c.person_id_enc FROM tags t JOIN clients c ON c.id = t.client_id`
)

type tagRow struct {
	UID          string    `db:"uid"`
	ValidFrom    dateValue `db:"valid_from"`
	ValidTo      dateValue `db:"valid_to"`
	Location     string    `db:"location"`
	RegisteredBy string    `db:"registered_by"`
	RegisteredAt nullTime  `db:"registered_at"`
	PersonIDHash []byte    `db:"person_id_hash"`
	PersonIDEnc  []byte    `db:"person_id_enc"`
}

// RegisterTag records that the tag uid is at client's door from the local day from, by
// actor (audited). The same tag registered again at the same client changes nothing; at
// another client's door while still registered here it is ErrTagTaken.
func (s *Store) RegisterTag(ctx context.Context, uid string, client homecare.PersonID, from homecare.Date, location, actor string) error {
	norm, err := homecare.NormalizeTagUID(uid)
	if err != nil {
		return fmt.Errorf("register tag: %w", err)
	}
	if client.IsZero() || from.IsZero() {
		return errors.New("register tag: a client and a first day are required")
	}
	hash, clientID, enc, err := s.personKey(client.Reveal())
	if err != nil {
		return fmt.Errorf("register tag: %w", err)
	}
	return s.write(ctx, func(tx *Tx) error {
		var open []struct {
			ClientID  string    `db:"client_id"`
			ValidFrom dateValue `db:"valid_from"`
		}
		if err := tx.sel(ctx, &open, qOpenTag, norm); err != nil {
			return fmt.Errorf("register tag: %w", err)
		}
		if len(open) > 0 {
			if open[0].ClientID == clientID {
				return nil
			}
			return fmt.Errorf("register tag %s: %w (there since %s)", norm, ErrTagTaken, dateString(open[0].ValidFrom))
		}
		at := s.tv(s.clock())
		if _, err := tx.exec(ctx, qEnsureClient, clientID, hash, enc, string(client.Type()), at, at); err != nil {
			return fmt.Errorf("register tag: client: %w", err)
		}
		if _, err := tx.exec(ctx, qAddTag, norm, clientID, from.String(), location, actor, at); err != nil {
			return fmt.Errorf("register tag %s: %w", norm, err)
		}
		_, err := tx.Audit(ctx, AuditEntry{Actor: actor, Action: "tag.register", Outcome: AuditOK,
			Resource: "tag:" + norm, ClientID: clientID, Detail: "from " + from.String()})
		return err
	})
}

// RemoveTag ends the tag's registration: from the local day on it is at no door. A tag
// that is not registered is an error.
func (s *Store) RemoveTag(ctx context.Context, uid string, on homecare.Date, actor string) error {
	norm, err := homecare.NormalizeTagUID(uid)
	if err != nil {
		return fmt.Errorf("remove tag: %w", err)
	}
	return s.write(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, qEndTag, on.String(), norm)
		if err != nil {
			return fmt.Errorf("remove tag %s: %w", norm, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("remove tag %s: it is not registered at any door", norm)
		}
		_, err = tx.Audit(ctx, AuditEntry{Actor: actor, Action: "tag.remove", Outcome: AuditOK,
			Resource: "tag:" + norm, Detail: "from " + on.String()})
		return err
	})
}

// Tags lists the register, every tag's every period, by UID and first day; with a
// client, only that client's.
func (s *Store) Tags(ctx context.Context, client homecare.PersonID) ([]TagRegistration, error) {
	if s.pid == nil {
		return nil, ErrNoPersonIDKeys
	}
	q, args := qTags, []any{}
	if !client.IsZero() {
		_, id, _, err := s.personKey(client.Reveal())
		if err != nil {
			return nil, err
		}
		q, args = q+` WHERE t.client_id = ?`, append(args, id)
	}
	var rows []tagRow
	if err := s.sel(ctx, &rows, q+` ORDER BY t.uid, t.valid_from`, args...); err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	out := make([]TagRegistration, 0, len(rows))
	for _, r := range rows {
		digits, err := s.pid.decrypt(r.PersonIDEnc, r.PersonIDHash)
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", r.UID, err)
		}
		pid, err := homecare.ParsePlausiblePersonID(digits)
		if err != nil {
			return nil, fmt.Errorf("tag %s: stored %w", r.UID, err)
		}
		t := TagRegistration{UID: r.UID, Client: pid, Location: r.Location, RegisteredBy: r.RegisteredBy, RegisteredAt: r.RegisteredAt.Time}
		if t.ValidFrom, err = homecare.ParseDate(dateString(r.ValidFrom)); err != nil {
			return nil, fmt.Errorf("tag %s: %w", r.UID, err)
		}
		if r.ValidTo != "" {
			if t.ValidTo, err = homecare.ParseDate(dateString(r.ValidTo)); err != nil {
				return nil, fmt.Errorf("tag %s: %w", r.UID, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// at is the client whose door the tag is at on day: ok is false for a tag at no door then.
func tagAt(regs []TagRegistration, day homecare.Date) (homecare.PersonID, bool) {
	for _, r := range regs {
		if !day.Before(r.ValidFrom) && (r.ValidTo.IsZero() || day.Before(r.ValidTo)) {
			return r.Client, true
		}
	}
	return homecare.PersonID{}, false
}

// reviewFlags are the flags ReviewVisits decides; the others are the store step's.
var reviewFlags = []homecare.VisitFlag{homecare.FlagForeignTag, homecare.FlagUnknownTag, homecare.FlagStaffOverlap, homecare.FlagNoOrder}

// ReviewStats is what ReviewVisits found.
type ReviewStats struct {
	// Visits is how many visits it read; Changed how many it flagged or cleared.
	Visits, Changed int
	// ForeignTag, UnknownTag, StaffOverlap and NoOrder count the visits with each flag now.
	ForeignTag, UnknownTag, StaffOverlap, NoOrder int
}

// ReviewVisits sets the flags that need other records than the visit itself on the
// visits of the local days from..to: foreign_tag (a tag read at the start or end is at
// another client's door that day), unknown_tag (at no door in the register) and
// staff_overlap (a staff member on this visit was on another visit at the same time;
// visits of cohabitants registered together, sharedVisitId, are one visit) and no_order
// (no order of the client with the visit's provider in force that day: what the
// executed-time totals count apart). It clears
// them where they no longer hold (a tag registered since, a correction), so running it
// again changes nothing. The nightly visits job runs it for yesterday and the client-days
// queued again; `knut visits review` for any days.
func (s *Store) ReviewVisits(ctx context.Context, from, to homecare.Date) (ReviewStats, error) {
	var st ReviewStats
	regs, err := s.Tags(ctx, homecare.PersonID{})
	if err != nil {
		return st, err
	}
	byUID := map[string][]TagRegistration{}
	for _, r := range regs {
		byUID[r.UID] = append(byUID[r.UID], r)
	}
	// A visit the day before may run into the first day.
	visits, err := s.loadVisits(ctx, s, visitSelect+` WHERE v.local_date >= ? AND v.local_date <= ? ORDER BY v.start_at`,
		from.AddDays(-1).String(), to.String())
	if err != nil {
		return st, fmt.Errorf("review visits: %w", err)
	}
	overlap := staffOverlaps(visits)
	var changed [][3]string // flags, source system, external id
	book, err := s.orderBook(ctx)
	if err != nil {
		return st, fmt.Errorf("review visits: %w", err)
	}
	for i, v := range visits {
		if v.LocalDate.Before(from) {
			continue
		}
		st.Visits++
		var want []homecare.VisitFlag
		for _, uid := range []string{v.StartTagUID, v.EndTagUID} {
			if uid == "" {
				continue
			}
			switch at, ok := tagAt(byUID[uid], v.LocalDate); {
			case !ok:
				want = append(want, homecare.FlagUnknownTag)
			case at != v.Client.PersonID:
				want = append(want, homecare.FlagForeignTag)
			}
		}
		if overlap[i] {
			want = append(want, homecare.FlagStaffOverlap)
		}
		_, clientID, _, err := s.personKey(v.Client.PersonID.Reveal())
		if err != nil {
			return st, fmt.Errorf("review visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
		}
		if book.inForce(clientID, v.ProviderID, v.LocalDate) == nil {
			want = append(want, homecare.FlagNoOrder)
		}
		next := homecare.Visit{Flags: slices.DeleteFunc(slices.Clone(v.Flags), func(f homecare.VisitFlag) bool {
			return slices.Contains(reviewFlags, f)
		})}
		next.AddFlags(want...)
		for _, f := range next.Flags {
			switch f {
			case homecare.FlagForeignTag:
				st.ForeignTag++
			case homecare.FlagUnknownTag:
				st.UnknownTag++
			case homecare.FlagStaffOverlap:
				st.StaffOverlap++
			case homecare.FlagNoOrder:
				st.NoOrder++
			}
		}
		if joinFlags(next.Flags) == joinFlags(v.Flags) {
			continue
		}
		changed = append(changed, [3]string{joinFlags(next.Flags), v.SourceSystem, v.ExternalID})
	}
	// One transaction for the days' changes: a night's review commits once.
	err = s.write(ctx, func(tx *Tx) error {
		for _, c := range changed {
			if _, err := tx.exec(ctx, `UPDATE visits SET flags = ? WHERE source_system = ? AND external_id = ?`, c[0], c[1], c[2]); err != nil {
				return fmt.Errorf("review visit %s/%s: %w", c[1], c[2], err)
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Changed = len(changed)
	return st, nil
}

// staffOverlaps reports, per visit (visits in start order), whether one of its staff was
// on another visit whose time overlaps it. Staff are told apart by HSA-ID, or by the
// provider's own staff id within the provider.
func staffOverlaps(visits []homecare.Visit) []bool {
	out := make([]bool, len(visits))
	type span struct {
		i     int
		start time.Time
		end   time.Time
	}
	by := map[string][]span{}
	for i, v := range visits {
		for _, st := range v.Staff {
			key := "hsa:" + string(st.HSAID)
			if st.HSAID == "" {
				key = "ref:" + v.ProviderID + "/" + st.StaffRef
			}
			by[key] = append(by[key], span{i, v.StartAt, v.EndAt})
		}
	}
	shared := func(a, b homecare.Visit) bool {
		return a.SharedVisitRef != "" && a.SharedVisitRef == b.ExternalID || b.SharedVisitRef != "" && b.SharedVisitRef == a.ExternalID
	}
	for _, spans := range by {
		// In start order: a visit overlaps a later one that starts before it ends.
		for j := range spans {
			for k := j + 1; k < len(spans) && spans[k].start.Before(spans[j].end); k++ {
				a, b := spans[j].i, spans[k].i
				if a == b || shared(visits[a], visits[b]) || visits[a].ExternalID == visits[b].ExternalID {
					continue
				}
				out[a], out[b] = true, true
			}
		}
	}
	return out
}
