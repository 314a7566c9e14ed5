package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// StaffEventKind is what a directory sync found about a person.
type StaffEventKind string

// The staff events (canonical: staff.joined, staff.changed, staff.left).
const (
	StaffJoined  StaffEventKind = "staff.joined"
	StaffChanged StaffEventKind = "staff.changed"
	StaffLeft    StaffEventKind = "staff.left"
)

// StaffEvent is one joiner, mover or leaver a sync recorded (staff_events).
type StaffEvent struct {
	Kind StaffEventKind
	// Key is the person's key in the directory (homecare.DirectoryPerson.Key).
	Key string
	// Reason says why a person left: "employment ended", "commissions ended",
	// "not in the directory".
	Reason string
	// Fields are the fields that changed.
	Fields []string
	// Directory, ProviderID and Day are filled in when read back (StaffEvents).
	Directory, ProviderID string
	Day                   homecare.Date
}

// SyncGuard is how many leavers one sync may record before it is taken for a broken
// directory answer (a partial export, an empty tree after a failed restore) rather than
// people leaving: more than MaxShare of the active staff, and more than MinCount, stops
// the sync with ErrMassRemoval and ends nobody. A directory that lists nobody while the
// hub has active staff from it is always stopped.
type SyncGuard struct {
	MaxShare float64
	MinCount int
}

// DefaultSyncGuard stops a sync that would end more than a tenth of a directory's
// staff, and at least five people.
var DefaultSyncGuard = SyncGuard{MaxShare: 0.10, MinCount: 5}

// ErrMassRemoval is a sync stopped by its SyncGuard.
var ErrMassRemoval = errors.New("directory sync stopped: it would end too many people at once (a partial or empty answer?); nobody was ended")

// StaffSync is what one directory sync did.
type StaffSync struct {
	Directory string
	Listed    int // persons in the snapshot
	Active    int // active from the directory after the sync
	Events    []StaffEvent
}

// Count returns how many events of kind the sync recorded.
func (s StaffSync) Count(kind StaffEventKind) int {
	n := 0
	for _, e := range s.Events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

type staffRow struct {
	ID         string    `db:"id"`
	ExternalID string    `db:"external_id"`
	Digest     string    `db:"record_digest"`
	LeftOn     dateValue `db:"left_on"`
	Hash       []byte    `db:"person_id_hash"`
}

// SyncStaff compares a directory's snapshot with the staff the hub holds from it, on the
// store's day, in one transaction: a person not seen before (by any of their HSA-IDs, by
// the key, or by their person id under a new HSA-ID) joins; a listed person whose record
// differs changed; a person whose employment or every commission ended, or who is no
// longer listed, left. Each is a staff_events row (the message msgID that brought the
// snapshot). A snapshot that lists one HSA-ID for two people is refused, and one that
// would end more people than guard allows stops with ErrMassRemoval, changing nothing.
func (s *Store) SyncStaff(ctx context.Context, directory string, people []homecare.DirectoryPerson, guard SyncGuard, msgID string) (res StaffSync, err error) {
	err = s.write(ctx, func(tx *Tx) error { res, err = tx.SyncStaff(ctx, directory, people, guard, msgID); return err })
	return res, err
}

// SyncStaff is Store.SyncStaff in tx: the pipeline's store step runs it in the
// transaction that marks the snapshot's message processed.
func (tx *Tx) SyncStaff(ctx context.Context, directory string, people []homecare.DirectoryPerson, guard SyncGuard, msgID string) (StaffSync, error) {
	s := tx.s
	res := StaffSync{Directory: directory, Listed: len(people)}
	if directory == "" {
		return res, errors.New("sync staff: no directory")
	}
	owner := map[homecare.HSAID]int{}
	keys := map[string]int{}
	for i, p := range people {
		if p.Directory != directory {
			return res, fmt.Errorf("sync staff %s: record %d is from directory %q", directory, i+1, p.Directory)
		}
		for _, h := range p.HSAIDs {
			if j, dup := owner[h]; dup {
				return res, fmt.Errorf("sync staff %s: records %d and %d list the same HSA-ID: two people cannot hold one", directory, j+1, i+1)
			}
			owner[h] = i
		}
		if j, dup := keys[p.Key()]; dup {
			return res, fmt.Errorf("sync staff %s: records %d and %d are the same person (the same staff id)", directory, j+1, i+1)
		}
		keys[p.Key()] = i
	}
	today := homecare.LocalDate(s.clock())
	err := func() error {
		var current []staffRow
		if err := tx.sel(ctx, &current, `SELECT id, external_id, record_digest, left_on, person_id_hash FROM staff WHERE source_system = ?`,
			"dir:"+directory); err != nil {
			return fmt.Errorf("sync staff %s: %w", directory, err)
		}
		byID := map[string]*staffRow{}
		byKey := map[string]*staffRow{}
		byHash := map[string]*staffRow{}
		for i := range current {
			r := &current[i]
			byID[r.ID], byKey[r.ExternalID] = r, r
			if r.Hash != nil {
				byHash[string(r.Hash)] = r
			}
		}
		var ids []struct {
			HSAID   string `db:"hsa_id"`
			StaffID string `db:"staff_id"`
		}
		if err := tx.sel(ctx, &ids, `SELECT h.hsa_id, h.staff_id FROM staff_hsa_ids h JOIN staff s ON s.id = h.staff_id WHERE s.source_system = ?`,
			"dir:"+directory); err != nil {
			return fmt.Errorf("sync staff %s: %w", directory, err)
		}
		byHSA := map[string]*staffRow{}
		for _, h := range ids {
			if r := byID[h.StaffID]; r != nil {
				byHSA[h.HSAID] = r
			}
		}

		active := 0
		for _, r := range current {
			if r.LeftOn == "" {
				active++
			}
		}
		seen := map[string]bool{}
		type write struct {
			p      homecare.DirectoryPerson
			row    *staffRow
			digest string
			hash   []byte
			enc    []byte
			event  StaffEvent
		}
		var writes []write
		for _, p := range people {
			w := write{p: p, digest: recordDigest(p)}
			if !p.PersonID.IsZero() {
				var err error
				if w.hash, _, w.enc, err = s.personKey(p.PersonID.Reveal()); err != nil {
					return fmt.Errorf("sync staff %s: %w", directory, err)
				}
			}
			for _, h := range p.HSAIDs {
				if w.row = byHSA[string(h)]; w.row != nil {
					break
				}
			}
			if w.row == nil {
				w.row = byKey[p.Key()]
			}
			if w.row == nil && w.hash != nil {
				w.row = byHash[string(w.hash)] // the same person under a new HSA-ID
			}
			if w.row != nil {
				if seen[w.row.ID] {
					return fmt.Errorf("sync staff %s: two records are one person the hub knows (an HSA-ID moved between them)", directory)
				}
				seen[w.row.ID] = true
			}
			activeNow := p.ActiveOn(today)
			switch {
			case w.row == nil && activeNow:
				w.event = StaffEvent{Kind: StaffJoined, Key: p.Key()}
			case w.row == nil:
				w.event = StaffEvent{Kind: StaffLeft, Key: p.Key(), Reason: endReason(p, today)} // listed, but gone already
			case w.row.LeftOn == "" && !activeNow:
				w.event = StaffEvent{Kind: StaffLeft, Key: p.Key(), Reason: endReason(p, today)}
			case w.row.LeftOn != "" && activeNow:
				w.event = StaffEvent{Kind: StaffJoined, Key: p.Key(), Reason: "back in the directory"}
			case w.row.Digest != w.digest:
				w.event = StaffEvent{Kind: StaffChanged, Key: p.Key(), Fields: []string{"record"}}
			}
			writes = append(writes, w)
		}
		var vanished []*staffRow
		for i := range current {
			if r := &current[i]; r.LeftOn == "" && !seen[r.ID] {
				vanished = append(vanished, r)
			}
		}
		leaving := len(vanished)
		for _, w := range writes {
			if w.row != nil && w.event.Kind == StaffLeft {
				leaving++
			}
		}
		if active > 0 && (len(people) == 0 || leaving > guard.MinCount && float64(leaving) > guard.MaxShare*float64(active)) {
			return fmt.Errorf("%w: %d of %d active staff of %s would leave, the directory listed %d (the guard allows %.0f %% and at least %d)",
				ErrMassRemoval, leaving, active, directory, len(people), guard.MaxShare*100, guard.MinCount)
		}

		at := s.tv(s.clock())
		event := func(id string, e StaffEvent) error {
			res.Events = append(res.Events, e)
			_, err := tx.exec(ctx, `INSERT INTO staff_events (id, staff_id, directory, kind, day, at, reason, fields, message_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, newID(), id, directory, string(e.Kind), today.String(), at, e.Reason,
				strings.Join(e.Fields, ","), msgID)
			return err
		}
		for _, w := range writes {
			if w.event.Kind == "" && w.row != nil {
				continue // listed as before
			}
			id, err := tx.saveDirectoryPerson(ctx, w.p, w.row, w.digest, w.hash, w.enc, w.event.Kind == StaffLeft, today, at)
			if err != nil {
				return fmt.Errorf("sync staff %s: %w", directory, err)
			}
			if err := event(id, w.event); err != nil {
				return fmt.Errorf("sync staff %s: %w", directory, err)
			}
		}
		for _, r := range vanished {
			if _, err := tx.exec(ctx, `UPDATE staff SET left_on = ?, status = 'inactive', updated_at = ? WHERE id = ?`,
				today.String(), at, r.ID); err != nil {
				return fmt.Errorf("sync staff %s: %w", directory, err)
			}
			if err := event(r.ID, StaffEvent{Kind: StaffLeft, Key: r.ExternalID, Reason: "not in the directory"}); err != nil {
				return fmt.Errorf("sync staff %s: %w", directory, err)
			}
		}
		return tx.queryRow(ctx, `SELECT COUNT(*) FROM staff WHERE source_system = ? AND left_on IS NULL`,
			[]any{"dir:" + directory}, &res.Active)
	}()
	return res, err
}

// saveDirectoryPerson inserts or updates the person's staff row, HSA-IDs and
// commissions, and returns the row's id.
func (t *Tx) saveDirectoryPerson(ctx context.Context, p homecare.DirectoryPerson, row *staffRow, digest string,
	hash, enc []byte, left bool, today homecare.Date, at any) (string, error) {
	var leftOn any
	if left {
		leftOn = today.String()
	}
	end := nullDate(p.EmploymentEnd)
	status := "active"
	if left {
		status = "inactive"
	}
	var first string
	if len(p.HSAIDs) > 0 {
		first = string(p.HSAIDs[0])
	}
	id := ""
	if row == nil {
		id = newID()
		if _, err := t.exec(ctx, `INSERT INTO staff (id, source_system, external_id, hsa_id, given_name, family_name, status,
			created_at, updated_at, provider_ref, person_id_hash, person_id_enc, title, units, employment_end, protected_person,
			record_digest, left_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, "dir:"+p.Directory, p.Key(), first, p.GivenName, p.FamilyName, status, at, at, p.ProviderID,
			nullBytes(hash), nullBytes(enc), p.Title, strings.Join(p.Units, "|"), end, p.ProtectedPerson, digest, leftOn); err != nil {
			return "", err
		}
	} else {
		id = row.ID
		if _, err := t.exec(ctx, `UPDATE staff SET external_id = ?, hsa_id = ?, given_name = ?, family_name = ?, status = ?,
			updated_at = ?, provider_ref = ?, person_id_hash = ?, person_id_enc = ?, title = ?, units = ?, employment_end = ?,
			protected_person = ?, record_digest = ?, left_on = ?, version = version + 1 WHERE id = ?`,
			p.Key(), first, p.GivenName, p.FamilyName, status, at, p.ProviderID, nullBytes(hash), nullBytes(enc), p.Title,
			strings.Join(p.Units, "|"), end, p.ProtectedPerson, digest, leftOn, id); err != nil {
			return "", err
		}
		if _, err := t.exec(ctx, `DELETE FROM staff_commissions WHERE staff_id = ?`, id); err != nil {
			return "", err
		}
	}
	for _, h := range p.HSAIDs {
		// An HSA-ID stays with the person who held it: one listed again under another
		// record moves (the snapshot check refused two holders at once).
		if _, err := t.exec(ctx, `INSERT INTO staff_hsa_ids (hsa_id, staff_id, added_at) VALUES (?, ?, ?)
			ON CONFLICT (hsa_id) DO UPDATE SET staff_id = excluded.staff_id`, string(h), id, at); err != nil {
			return "", err
		}
	}
	for i, c := range p.Commissions {
		if _, err := t.exec(ctx, `INSERT INTO staff_commissions (staff_id, position, hsa_id, name, purpose, care_unit_hsa_id,
			care_provider_hsa_id, valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, i, string(c.HSAID), c.Name,
			c.Purpose, string(c.CareUnitHSAID), string(c.CareProviderHSAID), nullDate(c.ValidFrom), nullDate(c.ValidTo)); err != nil {
			return "", err
		}
	}
	return id, nil
}

// recordDigest tells one record of a person from another: SHA-256 of its canonical JSON.
func recordDigest(p homecare.DirectoryPerson) string {
	p.Units = slices.Clone(p.Units)
	slices.Sort(p.Units)
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// endReason says why p is not active on day.
func endReason(p homecare.DirectoryPerson, day homecare.Date) string {
	if !p.EmploymentEnd.IsZero() && p.EmploymentEnd.Before(day) {
		return "employment ended"
	}
	return "commissions ended"
}

// StaffEvents returns the events of directory's syncs ("" for every directory), oldest
// first.
func (s *Store) StaffEvents(ctx context.Context, directory string) ([]StaffEvent, error) {
	var rows []struct {
		Kind      string    `db:"kind"`
		Key       string    `db:"external_id"`
		Reason    string    `db:"reason"`
		Fields    string    `db:"fields"`
		Directory string    `db:"directory"`
		Provider  string    `db:"provider_ref"`
		Day       dateValue `db:"day"`
	}
	if err := s.sel(ctx, &rows, `SELECT e.kind, s.external_id, e.reason, e.fields, e.directory, s.provider_ref, e.day
		FROM staff_events e JOIN staff s ON s.id = e.staff_id WHERE ? = '' OR e.directory = ? ORDER BY e.at, e.id`,
		directory, directory); err != nil {
		return nil, fmt.Errorf("staff events: %w", err)
	}
	out := make([]StaffEvent, len(rows))
	for i, r := range rows {
		day, err := homecare.ParseDate(dateString(r.Day))
		if err != nil {
			return nil, fmt.Errorf("staff events: %w", err)
		}
		out[i] = StaffEvent{Kind: StaffEventKind(r.Kind), Key: r.Key, Reason: r.Reason, Directory: r.Directory,
			ProviderID: r.Provider, Day: day}
		if r.Fields != "" {
			out[i].Fields = strings.Split(r.Fields, ",")
		}
	}
	return out, nil
}

// StaffCaller is what the directory syncs say about the holder of an HSA-ID: the
// provider they work for, and whether they left.
type StaffCaller struct {
	ProviderID string
	Directory  string
	// LeftOn is the day a sync found them gone; zero while they work.
	LeftOn homecare.Date
}

// StaffByHSAID returns the staff member holding hsaID, for a caller's certificate;
// ok is false for an HSA-ID no directory sync listed (a system's function certificate,
// staff of a directory the hub does not sync).
func (s *Store) StaffByHSAID(ctx context.Context, hsaID string) (c StaffCaller, ok bool, err error) {
	var rows []struct {
		Provider string    `db:"provider_ref"`
		Source   string    `db:"source_system"`
		LeftOn   dateValue `db:"left_on"`
	}
	if err := s.sel(ctx, &rows, `SELECT s.provider_ref, s.source_system, s.left_on FROM staff_hsa_ids h
		JOIN staff s ON s.id = h.staff_id WHERE h.hsa_id = ?`, hsaID); err != nil {
		return c, false, fmt.Errorf("staff by hsa-id: %w", err)
	}
	if len(rows) == 0 {
		return c, false, nil
	}
	c = StaffCaller{ProviderID: rows[0].Provider, Directory: strings.TrimPrefix(rows[0].Source, "dir:")}
	if rows[0].LeftOn != "" {
		if c.LeftOn, err = homecare.ParseDate(dateString(rows[0].LeftOn)); err != nil {
			return c, false, fmt.Errorf("staff by hsa-id: %w", err)
		}
	}
	return c, true, nil
}
