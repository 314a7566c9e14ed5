package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Key grant states: what the hub knows the vendor holds for a (lock, holder).
const (
	KeyPending  = "pending"  // a grant handed to the vendor's pipeline, not yet confirmed
	KeyActive   = "active"   // the vendor confirmed the grant
	KeyRevoking = "revoking" // a revoke handed on, not yet confirmed
	KeyRevoked  = "revoked"  // the vendor confirmed the revoke
)

// Lock event findings: an opened door the hub cannot account for.
const (
	FindingNoGrant = "no_grant" // opened by someone with no grant in force at that lock
	FindingNoVisit = "no_visit" // opened with a grant, but no visit of the client near it
)

// KeyGrant is what the hub wants for one person's access to one lock, and what it
// knows the vendor holds.
type KeyGrant struct {
	ID         string
	Vendor     string
	LockRef    string
	Holder     homecare.HSAID
	ProviderID string
	// Client is the client whose door the lock is, when an order named it.
	Client   homecare.PersonID
	OrderRef string
	// Op and Window are what the hub wants; Seq numbers the last change handed on,
	// AppliedSeq the last the vendor confirmed.
	Op             homecare.KeyOp
	Window         homecare.KeyWindow
	Reason         string
	Seq            int64
	AppliedSeq     int64
	State          string
	VendorGrantRef string
	// AtVendor is whether the vendor's last grant list showed it (CheckedAt).
	AtVendor    bool
	CheckedAt   time.Time
	RequestedAt time.Time
	AppliedAt   time.Time
	RevokedAt   time.Time
}

// Key is the grant's (lock, holder).
func (g KeyGrant) Key() string { return g.LockRef + "\x00" + string(g.Holder) }

type keyGrantRow struct {
	ID             string   `db:"id"`
	Vendor         string   `db:"vendor"`
	LockRef        string   `db:"lock_ref"`
	Holder         string   `db:"holder"`
	Provider       string   `db:"provider_ref"`
	ClientEnc      []byte   `db:"person_id_enc"`
	ClientHash     []byte   `db:"person_id_hash"`
	OrderRef       string   `db:"order_ref"`
	Op             string   `db:"op"`
	Spec           string   `db:"spec"`
	Reason         string   `db:"reason"`
	Seq            int64    `db:"seq"`
	AppliedSeq     int64    `db:"applied_seq"`
	State          string   `db:"state"`
	VendorGrantRef string   `db:"vendor_grant_ref"`
	AtVendor       bool     `db:"at_vendor"`
	CheckedAt      nullTime `db:"checked_at"`
	RequestedAt    nullTime `db:"requested_at"`
	AppliedAt      nullTime `db:"applied_at"`
	RevokedAt      nullTime `db:"revoked_at"`
}

const keyGrantCols = `g.id, g.vendor, g.lock_ref, g.holder, g.provider_ref, c.person_id_enc, c.person_id_hash, g.order_ref, g.op,
	g.spec, g.reason, g.seq, g.applied_seq, g.state, g.vendor_grant_ref, g.at_vendor, g.checked_at, g.requested_at, g.applied_at, g.revoked_at`

// KeyGrantFilter selects key grants; zero fields select all.
type KeyGrantFilter struct {
	Vendor  string
	Holder  homecare.HSAID
	LockRef string
	Client  homecare.PersonID
}

// KeyGrants lists the key grants the filter selects, by lock and holder.
func (s *Store) KeyGrants(ctx context.Context, f KeyGrantFilter) ([]KeyGrant, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"g.vendor": f.Vendor, "g.holder": string(f.Holder), "g.lock_ref": f.LockRef} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if !f.Client.IsZero() {
		_, id, _, err := s.personKey(f.Client.Reveal())
		if err != nil {
			return nil, err
		}
		where, args = append(where, "g.client_id = ?"), append(args, id)
	}
	q := `SELECT ` + keyGrantCols + ` FROM key_grants g LEFT JOIN clients c ON c.id = g.client_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var rows []keyGrantRow
	if err := s.sel(ctx, &rows, q+` ORDER BY g.lock_ref, g.holder`, args...); err != nil {
		return nil, fmt.Errorf("key grants: %w", err)
	}
	out := make([]KeyGrant, 0, len(rows))
	for _, r := range rows {
		g := KeyGrant{ID: r.ID, Vendor: r.Vendor, LockRef: r.LockRef, Holder: homecare.HSAID(r.Holder), ProviderID: r.Provider,
			OrderRef: r.OrderRef, Op: homecare.KeyOp(r.Op), Reason: r.Reason, Seq: r.Seq, AppliedSeq: r.AppliedSeq, State: r.State,
			VendorGrantRef: r.VendorGrantRef, AtVendor: r.AtVendor, CheckedAt: r.CheckedAt.Time, RequestedAt: r.RequestedAt.Time,
			AppliedAt: r.AppliedAt.Time, RevokedAt: r.RevokedAt.Time}
		if r.Spec != "" {
			if err := json.Unmarshal([]byte(r.Spec), &g.Window); err != nil {
				return nil, fmt.Errorf("key grant %s: spec: %w", r.ID, err)
			}
		}
		var err error
		if g.Client, err = s.storedClient(r.ClientEnc, r.ClientHash); err != nil {
			return nil, fmt.Errorf("key grant %s: %w", r.ID, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// KeyChange is a change the key lifecycle hands to the vendor: c, with the grant's
// provider, order and client for the store's record.
type KeyChange struct {
	homecare.KeyGrantChange
	Client   homecare.PersonID
	OrderRef string
}

// RecordKeyChange records that change c is handed to vendor's pipeline: the grant's row
// takes c's op, window and seq, and the state that waits for the vendor (pending or
// revoking). A change whose seq is not above the row's is refused: the changes of one
// (lock, holder) are numbered by the hub, in order.
func (t *Tx) RecordKeyChange(ctx context.Context, vendor string, c KeyChange) error {
	spec := ""
	if c.Op == homecare.KeyGrantOp {
		b, err := json.Marshal(c.KeyWindow)
		if err != nil {
			return err
		}
		spec = string(b)
	}
	state := KeyPending
	if c.Op == homecare.KeyRevokeOp {
		state = KeyRevoking
	}
	var clientID any
	if !c.Client.IsZero() {
		hash, id, enc, err := t.s.personKey(c.Client.Reveal())
		if err != nil {
			return fmt.Errorf("key change %s: %w", c.ChangeID, err)
		}
		at := t.s.tv(t.s.clock())
		if _, err := t.exec(ctx, qEnsureClient, id, hash, enc, string(c.Client.Type()), at, at); err != nil {
			return fmt.Errorf("key change %s: client: %w", c.ChangeID, err)
		}
		clientID = id
	}
	now := t.s.tv(t.s.clock())
	var seq int64
	err := t.queryRow(ctx, `SELECT seq FROM key_grants WHERE vendor = ? AND lock_ref = ? AND holder = ?`,
		[]any{vendor, c.LockRef, string(c.Holder)}, &seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = t.exec(ctx, `INSERT INTO key_grants (id, vendor, lock_ref, holder, provider_ref, client_id, order_ref, op, spec, reason,
			seq, state, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			newID(), vendor, c.LockRef, string(c.Holder), c.ProviderID, clientID, c.OrderRef, string(c.Op), spec, c.Reason, c.Seq, state, now)
	case err != nil:
	case c.Seq <= seq:
		return fmt.Errorf("key change %s: seq %d is not after %d, the last handed on", c.ChangeID, c.Seq, seq)
	default:
		// A revoke keeps the provider, order and client the grant had: the review shows
		// whose door it was.
		_, err = t.exec(ctx, `UPDATE key_grants SET op = ?, spec = CASE WHEN ? = '' THEN spec ELSE ? END, reason = ?, seq = ?, state = ?,
			requested_at = ?, provider_ref = CASE WHEN ? = '' THEN provider_ref ELSE ? END,
			client_id = COALESCE(?, client_id), order_ref = CASE WHEN ? = '' THEN order_ref ELSE ? END
			WHERE vendor = ? AND lock_ref = ? AND holder = ?`,
			string(c.Op), spec, spec, c.Reason, c.Seq, state, now, c.ProviderID, c.ProviderID, clientID, c.OrderRef, c.OrderRef,
			vendor, c.LockRef, string(c.Holder))
	}
	if err != nil {
		return fmt.Errorf("key change %s: %w", c.ChangeID, err)
	}
	return nil
}

// ApplyKeyGrantResult records the vendor's answer to a change. An answer to a change
// older than the last confirmed one is ignored; one to the last handed on settles the
// state (active, revoked); one to an older change only records the vendor's grant id,
// as a newer change is on its way.
func (t *Tx) ApplyKeyGrantResult(ctx context.Context, vendor string, r homecare.KeyGrantResult) error {
	var row struct {
		Seq        int64 `db:"seq"`
		AppliedSeq int64 `db:"applied_seq"`
	}
	err := t.queryRow(ctx, `SELECT seq, applied_seq FROM key_grants WHERE vendor = ? AND lock_ref = ? AND holder = ?`,
		[]any{vendor, r.LockRef, string(r.Holder)}, &row.Seq, &row.AppliedSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("key grant result %s: no grant of %s at lock %s: %w", r.ChangeID, r.Holder, r.LockRef, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("key grant result %s: %w", r.ChangeID, err)
	}
	if r.Seq <= row.AppliedSeq {
		return nil
	}
	// The hub's clock, not the adapter's: drift repair compares it with when the hub
	// read the vendor's list.
	at := t.s.tv(t.s.clock())
	if r.Seq < row.Seq {
		_, err = t.exec(ctx, `UPDATE key_grants SET applied_seq = ?, vendor_grant_ref = ?, applied_at = ?
			WHERE vendor = ? AND lock_ref = ? AND holder = ?`, r.Seq, r.VendorGrantRef, at, vendor, r.LockRef, string(r.Holder))
	} else {
		var revoked any
		if r.State == KeyRevoked {
			revoked = at
		}
		_, err = t.exec(ctx, `UPDATE key_grants SET applied_seq = ?, vendor_grant_ref = ?, applied_at = ?, state = ?, at_vendor = ?,
			revoked_at = ? WHERE vendor = ? AND lock_ref = ? AND holder = ?`,
			r.Seq, r.VendorGrantRef, at, r.State, r.State == KeyActive, revoked, vendor, r.LockRef, string(r.Holder))
	}
	if err != nil {
		return fmt.Errorf("key grant result %s: %w", r.ChangeID, err)
	}
	return nil
}

// CompareVendorGrants records what the vendor's grant list shows (drift repair): each
// grant row is at the vendor or not, as of now. A grant the vendor holds under an HSA-ID
// the hub has no row for (made by hand in the vendor's portal, or before the hub's
// store) is adopted as a confirmed grant with its window, numbered 0, so the key
// lifecycle revokes it unless an order wants it; grants named otherwise are the
// vendor's own (the owner's, a key box's) and left alone. It returns how many it adopted.
func (t *Tx) CompareVendorGrants(ctx context.Context, vendor string, grants []homecare.VendorGrant, allowTest bool) (int, error) {
	now := t.s.tv(t.s.clock())
	var rows []struct {
		LockRef string `db:"lock_ref"`
		Holder  string `db:"holder"`
		Op      string `db:"op"`
		Spec    string `db:"spec"`
	}
	if err := t.sel(ctx, &rows, `SELECT lock_ref, holder, op, spec FROM key_grants WHERE vendor = ?`, vendor); err != nil {
		return 0, fmt.Errorf("compare vendor grants: %w", err)
	}
	known := map[string]bool{}
	for _, r := range rows {
		known[r.LockRef+"\x00"+r.Holder] = true
	}
	seen := map[string]homecare.KeyWindow{}
	adopted := 0
	for _, g := range grants {
		k := g.LockRef + "\x00" + g.Holder
		seen[k] = g.KeyWindow
		if known[k] {
			continue
		}
		if _, err := homecare.ParseHSAID(g.Holder, allowTest); err != nil {
			continue
		}
		known[k] = true
		spec, err := json.Marshal(g.KeyWindow)
		if err != nil {
			return 0, err
		}
		if _, err := t.exec(ctx, `INSERT INTO key_grants (id, vendor, lock_ref, holder, op, spec, reason, seq, applied_seq, state,
			vendor_grant_ref, at_vendor, checked_at, requested_at, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)`,
			newID(), vendor, g.LockRef, g.Holder, string(homecare.KeyGrantOp), string(spec), "found at the vendor", KeyActive,
			g.VendorGrantRef, true, now, now, now); err != nil {
			return 0, fmt.Errorf("compare vendor grants: adopt %s at %s: %w", g.Holder, g.LockRef, err)
		}
		adopted++
	}
	for _, r := range rows {
		// A grant is at the vendor as the hub wants it only with its window: one
		// changed by hand in the vendor's portal is drift too.
		w, at := seen[r.LockRef+"\x00"+r.Holder]
		if at && r.Op == string(homecare.KeyGrantOp) && r.Spec != "" {
			var want homecare.KeyWindow
			if err := json.Unmarshal([]byte(r.Spec), &want); err != nil {
				return 0, fmt.Errorf("compare vendor grants: %s at %s: spec: %w", r.Holder, r.LockRef, err)
			}
			at = want.Equal(w)
		}
		if _, err := t.exec(ctx, `UPDATE key_grants SET at_vendor = ?, checked_at = ? WHERE vendor = ? AND lock_ref = ? AND holder = ?`,
			at, now, vendor, r.LockRef, r.Holder); err != nil {
			return 0, fmt.Errorf("compare vendor grants: %w", err)
		}
	}
	return adopted, nil
}

// KeyBlock is a person whose keys were revoked at once; no grant is made for them
// until the block is lifted.
type KeyBlock struct {
	Holder    homecare.HSAID
	Reason    string
	BlockedBy string
	BlockedAt time.Time
}

// BlockKeys blocks holder's keys, audited; blocking twice keeps the first block.
func (s *Store) BlockKeys(ctx context.Context, holder homecare.HSAID, reason, by string) error {
	if reason == "" {
		return errors.New("block keys: a reason is required")
	}
	return s.write(ctx, func(tx *Tx) error {
		at := s.tv(s.clock())
		if _, err := tx.exec(ctx, `INSERT INTO key_blocks (holder, reason, blocked_by, blocked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (holder) DO NOTHING`, string(holder), reason, by, at); err != nil {
			return fmt.Errorf("block keys of %s: %w", holder, err)
		}
		_, err := tx.Audit(ctx, AuditEntry{Actor: by, Action: "keys.revoke", Outcome: AuditOK, Resource: "staff:" + string(holder), Detail: reason})
		return err
	})
}

// UnblockKeys lifts holder's block, audited.
func (s *Store) UnblockKeys(ctx context.Context, holder homecare.HSAID, by string) error {
	return s.write(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `DELETE FROM key_blocks WHERE holder = ?`, string(holder))
		if err != nil {
			return fmt.Errorf("unblock keys of %s: %w", holder, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("unblock keys of %s: not blocked", holder)
		}
		_, err = tx.Audit(ctx, AuditEntry{Actor: by, Action: "keys.unblock", Outcome: AuditOK, Resource: "staff:" + string(holder)})
		return err
	})
}

// KeyBlocks lists the blocks by holder.
func (s *Store) KeyBlocks(ctx context.Context) ([]KeyBlock, error) {
	var rows []struct {
		Holder string   `db:"holder"`
		Reason string   `db:"reason"`
		By     string   `db:"blocked_by"`
		At     nullTime `db:"blocked_at"`
	}
	if err := s.sel(ctx, &rows, `SELECT holder, reason, blocked_by, blocked_at FROM key_blocks ORDER BY holder`); err != nil {
		return nil, fmt.Errorf("key blocks: %w", err)
	}
	out := make([]KeyBlock, len(rows))
	for i, r := range rows {
		out[i] = KeyBlock{Holder: homecare.HSAID(r.Holder), Reason: r.Reason, BlockedBy: r.By, BlockedAt: r.At.Time}
	}
	return out, nil
}

// ActiveStaff lists, per provider, the HSA-IDs of the staff a directory sync lists as
// working (not left): the people the key lifecycle gives the provider's clients' keys.
func (s *Store) ActiveStaff(ctx context.Context) (map[string][]homecare.HSAID, error) {
	var rows []struct {
		Provider string `db:"provider_ref"`
		HSAID    string `db:"hsa_id"`
	}
	if err := s.sel(ctx, &rows, `SELECT s.provider_ref, h.hsa_id FROM staff s JOIN staff_hsa_ids h ON h.staff_id = s.id
		WHERE s.source_system LIKE 'dir:%' AND s.left_on IS NULL AND s.provider_ref <> '' ORDER BY s.provider_ref, h.hsa_id`); err != nil {
		return nil, fmt.Errorf("active staff: %w", err)
	}
	out := map[string][]homecare.HSAID{}
	for _, r := range rows {
		out[r.Provider] = append(out[r.Provider], homecare.HSAID(r.HSAID))
	}
	return out, nil
}

// InsertLockEvent stores e once per (vendor, event_ref), resolved to the grant (by the
// vendor's grant id, else the lock and holder) and its client; an opened door with no
// grant of the holder in force then is a no_grant finding. dup reports an event stored
// before.
func (t *Tx) InsertLockEvent(ctx context.Context, e homecare.LockEvent, msgID string) (dup bool, err error) {
	var grants []struct {
		ID       string   `db:"id"`
		ClientID *string  `db:"client_id"`
		Op       string   `db:"op"`
		Spec     string   `db:"spec"`
		Applied  nullTime `db:"applied_at"`
		Revoked  nullTime `db:"revoked_at"`
	}
	q := `SELECT id, client_id, op, spec, applied_at, revoked_at FROM key_grants WHERE vendor = ? AND lock_ref = ? AND holder = ?`
	args := []any{e.Vendor, e.LockRef, e.Holder}
	if e.Holder == "" && e.VendorGrantRef != "" {
		q, args = `SELECT id, client_id, op, spec, applied_at, revoked_at FROM key_grants WHERE vendor = ? AND lock_ref = ? AND vendor_grant_ref = ?`,
			[]any{e.Vendor, e.LockRef, e.VendorGrantRef}
	}
	// A door sensor's event names nobody and no grant: nothing to look up.
	if e.Holder != "" || e.VendorGrantRef != "" {
		if err := t.sel(ctx, &grants, q, args...); err != nil {
			return false, fmt.Errorf("lock event %s: %w", e.EventRef, err)
		}
	}
	var grantID, clientID any
	inForce := false
	if len(grants) == 1 {
		g := grants[0]
		grantID = g.ID
		if g.ClientID != nil {
			clientID = *g.ClientID
		}
		var w homecare.KeyWindow
		if g.Spec != "" {
			if err := json.Unmarshal([]byte(g.Spec), &w); err != nil {
				return false, fmt.Errorf("lock event %s: grant spec: %w", e.EventRef, err)
			}
		}
		// In force: the vendor had it (confirmed before, not revoked before) and its window opens then.
		inForce = g.Applied.Valid && !g.Applied.Time.After(e.OccurredAt) && (!g.Revoked.Valid || g.Revoked.Time.After(e.OccurredAt)) &&
			w.Opens(e.OccurredAt, homecare.Stockholm())
	}
	finding := ""
	if e.Opened() && !inForce {
		finding = FindingNoGrant
	}
	res, err := t.exec(ctx, `INSERT INTO lock_events (id, vendor, event_ref, lock_ref, occurred_at, received_at, action, vendor_action,
		trigger_kind, result, vendor_state, holder, vendor_actor_ref, vendor_grant_ref, source, key_grant_id, client_id, finding, message_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vendor, event_ref) DO NOTHING`,
		newID(), e.Vendor, e.EventRef, e.LockRef, t.s.tv(e.OccurredAt), t.s.tv(t.s.clock()), e.Action, e.VendorAction, e.Trigger,
		e.Result, e.VendorState, e.Holder, e.VendorActorRef, e.VendorGrantRef, e.Source, grantID, clientID, finding, msgID)
	if err != nil {
		return false, fmt.Errorf("lock event %s: %w", e.EventRef, err)
	}
	n, _ := res.RowsAffected()
	return n == 0, nil
}

// StoredLockEvent is a lock event as the store keeps it.
type StoredLockEvent struct {
	homecare.LockEvent
	Client   homecare.PersonID
	GrantID  string
	Finding  string
	Received time.Time
}

// LockEventFilter selects lock events; zero fields select all.
type LockEventFilter struct {
	Client   homecare.PersonID
	Holder   homecare.HSAID
	LockRef  string
	Finding  string
	From, To time.Time // occurred_at in [From, To)
	Limit    int
}

// LockEvents lists the events the filter selects, oldest first.
func (s *Store) LockEvents(ctx context.Context, f LockEventFilter) ([]StoredLockEvent, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if !f.Client.IsZero() {
		_, id, _, err := s.personKey(f.Client.Reveal())
		if err != nil {
			return nil, err
		}
		add("e.client_id = ?", id)
	}
	if f.Holder != "" {
		add("e.holder = ?", string(f.Holder))
	}
	if f.LockRef != "" {
		add("e.lock_ref = ?", f.LockRef)
	}
	if f.Finding != "" {
		add("e.finding = ?", f.Finding)
	}
	if !f.From.IsZero() {
		add("e.occurred_at >= ?", s.tv(f.From))
	}
	if !f.To.IsZero() {
		add("e.occurred_at < ?", s.tv(f.To))
	}
	q := `SELECT e.vendor, e.event_ref, e.lock_ref, e.occurred_at, e.received_at, e.action, e.vendor_action, e.trigger_kind, e.result,
		e.vendor_state, e.holder, e.vendor_actor_ref, e.vendor_grant_ref, e.source, COALESCE(e.key_grant_id, '') AS key_grant_id,
		e.finding, c.person_id_enc, c.person_id_hash FROM lock_events e LEFT JOIN clients c ON c.id = e.client_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY e.occurred_at, e.event_ref"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	var rows []struct {
		Vendor         string   `db:"vendor"`
		EventRef       string   `db:"event_ref"`
		LockRef        string   `db:"lock_ref"`
		Occurred       nullTime `db:"occurred_at"`
		Received       nullTime `db:"received_at"`
		Action         string   `db:"action"`
		VendorAction   int      `db:"vendor_action"`
		Trigger        string   `db:"trigger_kind"`
		Result         string   `db:"result"`
		VendorState    int      `db:"vendor_state"`
		Holder         string   `db:"holder"`
		VendorActorRef string   `db:"vendor_actor_ref"`
		VendorGrantRef string   `db:"vendor_grant_ref"`
		Source         string   `db:"source"`
		GrantID        string   `db:"key_grant_id"`
		Finding        string   `db:"finding"`
		ClientEnc      []byte   `db:"person_id_enc"`
		ClientHash     []byte   `db:"person_id_hash"`
	}
	if err := s.sel(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("lock events: %w", err)
	}
	out := make([]StoredLockEvent, 0, len(rows))
	for _, r := range rows {
		e := StoredLockEvent{LockEvent: homecare.LockEvent{Vendor: r.Vendor, EventRef: r.EventRef, LockRef: r.LockRef, OccurredAt: r.Occurred.Time,
			Action: r.Action, VendorAction: r.VendorAction, Trigger: r.Trigger, Result: r.Result, VendorState: r.VendorState, Holder: r.Holder,
			VendorActorRef: r.VendorActorRef, VendorGrantRef: r.VendorGrantRef, Source: r.Source},
			GrantID: r.GrantID, Finding: r.Finding, Received: r.Received.Time}
		var err error
		if e.Client, err = s.storedClient(r.ClientEnc, r.ClientHash); err != nil {
			return nil, fmt.Errorf("lock event %s: %w", r.EventRef, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Cursor returns the cursor saved under name (store.Cursors below).
func (s *Store) Cursor(ctx context.Context, name string) (string, bool, error) {
	var rows []struct {
		Value string `db:"value"`
	}
	if err := s.sel(ctx, &rows, `SELECT value FROM source_cursors WHERE name = ?`, name); err != nil {
		return "", false, fmt.Errorf("cursor %s: %w", name, err)
	}
	if len(rows) == 0 {
		return "", false, nil
	}
	return rows[0].Value, true, nil
}

// SaveCursor replaces the cursor saved under name.
func (s *Store) SaveCursor(ctx context.Context, name, value string) error {
	return s.write(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO source_cursors (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, name, value, s.tv(s.clock()))
		if err != nil {
			return fmt.Errorf("save cursor %s: %w", name, err)
		}
		return nil
	})
}

// storedClient reads a client's person id joined from the clients table; zero when the
// row has none (a grant found at the vendor, a lock no order names) or the store has no
// keys to read it.
func (s *Store) storedClient(enc, hash []byte) (homecare.PersonID, error) {
	if len(enc) == 0 || s.pid == nil {
		return homecare.PersonID{}, nil
	}
	digits, err := s.pid.decrypt(enc, hash)
	if err != nil {
		return homecare.PersonID{}, err
	}
	p, err := homecare.ParsePlausiblePersonID(digits)
	if err != nil {
		return homecare.PersonID{}, fmt.Errorf("stored %w", err)
	}
	return p, nil
}

// LockVisitMargin is how far from a visit of the client an opening of their door may be
// and still be that visit's (DOMAIN.md §6.5: staff open the door, then tag in; tag out,
// then leave): before its start or after its end.
const LockVisitMargin = 30 * time.Minute

// ReviewLockEvents sets, on the doors opened with a grant in force on the local days
// from..to, the no_visit finding where no visit of the client was registered within
// LockVisitMargin of the opening, and clears it where one now is (a visit synced late).
// It returns how many events it looked at and how many findings it changed.
func (s *Store) ReviewLockEvents(ctx context.Context, from, to homecare.Date) (events, changed int, err error) {
	loc := homecare.Stockholm()
	start, end := from.In(loc), to.AddDays(1).In(loc)
	var evs []struct {
		ID       string   `db:"id"`
		ClientID string   `db:"client_id"`
		At       nullTime `db:"occurred_at"`
		Finding  string   `db:"finding"`
	}
	if err := s.sel(ctx, &evs, `SELECT id, client_id, occurred_at, finding FROM lock_events
		WHERE occurred_at >= ? AND occurred_at < ? AND client_id IS NOT NULL AND finding IN ('', ?)
		AND action IN ('unlock', 'unlatch') AND result = 'success'`, s.tv(start), s.tv(end), FindingNoVisit); err != nil {
		return 0, 0, fmt.Errorf("review lock events: %w", err)
	}
	var visits []struct {
		ClientID string   `db:"client_id"`
		Start    nullTime `db:"start_at"`
		End      nullTime `db:"end_at"`
	}
	if err := s.sel(ctx, &visits, `SELECT client_id, start_at, end_at FROM visits WHERE start_at >= ? AND start_at < ?`,
		s.tv(start.Add(-24*time.Hour)), s.tv(end.Add(LockVisitMargin))); err != nil {
		return 0, 0, fmt.Errorf("review lock events: visits: %w", err)
	}
	type span struct{ from, to time.Time }
	byClient := map[string][]span{}
	for _, v := range visits {
		e := v.End.Time
		if !v.End.Valid {
			e = v.Start.Time
		}
		byClient[v.ClientID] = append(byClient[v.ClientID], span{v.Start.Time.Add(-LockVisitMargin), e.Add(LockVisitMargin)})
	}
	err = s.write(ctx, func(tx *Tx) error {
		for _, e := range evs {
			near := false
			for _, sp := range byClient[e.ClientID] {
				if !e.At.Time.Before(sp.from) && !e.At.Time.After(sp.to) {
					near = true
					break
				}
			}
			want := FindingNoVisit
			if near {
				want = ""
			}
			if want == e.Finding {
				continue
			}
			if _, err := tx.exec(ctx, `UPDATE lock_events SET finding = ? WHERE id = ?`, want, e.ID); err != nil {
				return fmt.Errorf("review lock events: %w", err)
			}
			changed++
		}
		return nil
	})
	return len(evs), changed, err
}
