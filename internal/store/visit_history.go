package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// visitCorrectionDomain binds a sealed correction to its row.
const visitCorrectionDomain = "knutpunkt/visit-correction/v1\x00"

// VisitVersionError is a changed visit sent under the version already stored: a
// correction needs a new version, so the change is refused rather than written over the
// visit without a trace. It is permanent.
type VisitVersionError struct {
	SourceSystem, ExternalID string
	Version                  int
	Fields                   []string // what differs
}

func (e *VisitVersionError) Error() string {
	return fmt.Sprintf("visit %s: version %d is stored with other values (%s): a correction needs a new version",
		e.ExternalID, e.Version, strings.Join(e.Fields, ", "))
}

// FieldChange is one field a correction changed, with its old and new value as canonical
// JSON.
type FieldChange struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"`
}

// VisitCorrection is one change of a visit: a new version from the source.
type VisitCorrection struct {
	Seq         int // 1 for the first correction
	FromVersion int
	ToVersion   int
	By          string // the source system that sent it
	ChangedAt   time.Time
	Changes     []FieldChange
}

// visitChanges returns the fields in which next differs from cur, by their canonical JSON,
// leaving out the source's version and the hub's flags.
func visitChanges(cur, next homecare.Visit) []FieldChange {
	a, b := visitFields(cur), visitFields(next)
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var out []FieldChange
	for _, k := range keys {
		if string(a[k]) != string(b[k]) {
			out = append(out, FieldChange{Field: k, Old: a[k], New: b[k]})
		}
	}
	return out
}

func visitFields(v homecare.Visit) map[string]json.RawMessage {
	v.Version, v.Flags = 0, nil
	v.ReceivedAt = time.Time{} // when the source got it: not part of the visit
	b, _ := json.Marshal(v)
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(b, &m)
	return m
}

func fieldsOf(cs []FieldChange) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Field
	}
	return out
}

// visitID returns the stored id of v.
func (t *Tx) visitID(ctx context.Context, v *homecare.Visit) (string, error) {
	var id string
	if err := t.queryRow(ctx, `SELECT id FROM visits WHERE source_system = ? AND external_id = ?`,
		[]any{v.SourceSystem, v.ExternalID}, &id); err != nil {
		return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
	}
	return id, nil
}

// recordCorrection appends the change from cur to next to visit_corrections.
func (t *Tx) recordCorrection(ctx context.Context, visitID string, cur, next homecare.Visit, changes []FieldChange) error {
	var seq int
	if err := t.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM visit_corrections WHERE visit_id = ?`,
		[]any{visitID}, &seq); err != nil {
		return fmt.Errorf("correction: %w", err)
	}
	body, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	id := newID()
	if _, err := t.exec(ctx, `INSERT INTO visit_corrections (id, visit_id, seq, from_version, to_version, by_ref, changed_at, changes_enc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, visitID, seq, cur.Version, next.Version, next.SourceSystem,
		t.s.tv(t.s.clock()), t.s.pid.seal(body, visitCorrectionDomain+id)); err != nil {
		return fmt.Errorf("correction: %w", err)
	}
	return nil
}

// queueReconcile marks a client's day with a provider for the nightly reconciliation to
// read again, once per transaction. In a Writer's first pass the row waits in the
// write-behind with the visit that queued it, instead of a statement that would flush the
// batch's rows so far; otherwise it is one upsert. Either way a client-day queued again
// takes the newest reason and time (qQueueReconcileSuffix).
func (t *Tx) queueReconcile(ctx context.Context, clientID string, day homecare.Date, provider, reason string) error {
	key := clientID + "\x00" + day.String() + "\x00" + provider
	if t.queued[key] {
		return nil
	}
	if t.queued == nil {
		t.queued = map[string]bool{}
	}
	t.queued[key] = true
	row := []any{clientID, day.String(), provider, reason, t.s.tv(t.s.clock())}
	if t.wb != nil {
		t.wb.reconcile.add(row...)
		return nil
	}
	if _, err := t.exec(ctx, qQueueReconcilePrefix+`(?, ?, ?, ?, ?)`+qQueueReconcileSuffix, row...); err != nil {
		return fmt.Errorf("queue reconciliation: %w", err)
	}
	return nil
}

// VisitHistory returns the visit with the given source key as it stands and its
// corrections, oldest first; ErrNotFound if there is none.
func (s *Store) VisitHistory(ctx context.Context, sourceSystem, externalID string) (homecare.Visit, []VisitCorrection, error) {
	v, err := s.Visit(ctx, sourceSystem, externalID)
	if err != nil {
		return v, nil, err
	}
	var rows []struct {
		ID          string   `db:"id"`
		Seq         int      `db:"seq"`
		FromVersion int      `db:"from_version"`
		ToVersion   int      `db:"to_version"`
		By          string   `db:"by_ref"`
		ChangedAt   nullTime `db:"changed_at"`
		Enc         []byte   `db:"changes_enc"`
	}
	if err := s.sel(ctx, &rows, `SELECT c.id, c.seq, c.from_version, c.to_version, c.by_ref, c.changed_at, c.changes_enc
		FROM visit_corrections c JOIN visits v ON v.id = c.visit_id
		WHERE v.source_system = ? AND v.external_id = ? ORDER BY c.seq`, sourceSystem, externalID); err != nil {
		return v, nil, fmt.Errorf("visit history %s/%s: %w", sourceSystem, externalID, err)
	}
	out := make([]VisitCorrection, len(rows))
	for i, r := range rows {
		pt, err := s.pid.open(r.Enc, visitCorrectionDomain+r.ID)
		if err != nil {
			return v, nil, fmt.Errorf("visit correction %s: %w", r.ID, err)
		}
		c := VisitCorrection{Seq: r.Seq, FromVersion: r.FromVersion, ToVersion: r.ToVersion, By: r.By, ChangedAt: r.ChangedAt.Time}
		if err := json.Unmarshal(pt, &c.Changes); err != nil {
			return v, nil, fmt.Errorf("visit correction %s: %w", r.ID, err)
		}
		out[i] = c
	}
	return v, out, nil
}

// ReconcileDay is a client-day to reconcile again.
type ReconcileDay struct {
	LocalDate homecare.Date
	Provider  string
	Reason    string // late, correction
	// ClientKey is the client's store key (no personal data); QueuedAt when the late
	// record or correction queued the day (again).
	ClientKey string
	QueuedAt  time.Time
}

// ReconcileDays returns the client-days queued for reconciliation, by day.
func (s *Store) ReconcileDays(ctx context.Context) ([]ReconcileDay, error) {
	var rows []struct {
		Day      dateValue `db:"local_date"`
		Provider string    `db:"provider_ref"`
		Reason   string    `db:"reason"`
		Client   string    `db:"client_id"`
		Queued   nullTime  `db:"queued_at"`
	}
	if err := s.sel(ctx, &rows, `SELECT local_date, provider_ref, reason, client_id, queued_at FROM reconcile_days
		ORDER BY local_date, provider_ref, client_id`); err != nil {
		return nil, fmt.Errorf("reconcile days: %w", err)
	}
	out := make([]ReconcileDay, len(rows))
	for i, r := range rows {
		d, err := optDate(r.Day)
		if err != nil {
			return nil, err
		}
		out[i] = ReconcileDay{LocalDate: d, Provider: r.Provider, Reason: r.Reason, ClientKey: r.Client, QueuedAt: r.Queued.Time}
	}
	return out, nil
}
