package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// clientNamespace derives client ids from person id lookup hashes (UUIDv5),
// so that a visit can refer to its client without first reading the client
// row back: the id is known before the insert, which saves a query per
// visit on the import path. The hash is keyed, so the id reveals nothing.
var clientNamespace = uuid.MustParse("6c1f4a56-54d4-4f6a-9e57-6b6e75747075")

func clientIDFor(hash []byte) string { return uuid.NewSHA1(clientNamespace, hash).String() }

// personKey validates a person id and returns its lookup hash, derived
// client id and fresh ciphertext.
func (s *Store) personKey(digits string) (hash []byte, clientID string, enc []byte, err error) {
	if s.pid == nil {
		return nil, "", nil, ErrNoPersonIDKeys
	}
	if !validPersonDigits(digits) {
		// Never echo the input: it is personal data.
		return nil, "", nil, errors.New("person id: want 12 digits")
	}
	hash = s.pid.hash(digits)
	return hash, clientIDFor(hash), s.pid.encrypt(digits, hash), nil
}

const (
	qEnsureClientsPrefix = `INSERT INTO clients (id, person_id_hash, person_id_enc, person_id_type, created_at, updated_at) VALUES `
	// Any conflict, not only on person_id_hash: the id is derived from the
	// hash, and on PostgreSQL two concurrent inserts of one client can meet
	// at the primary key first.
	qEnsureClientsSuffix = ` ON CONFLICT DO NOTHING`
	qEnsureClient        = qEnsureClientsPrefix + `(?, ?, ?, ?, ?, ?)` + qEnsureClientsSuffix
)

const visitCols = `source_system, external_id, client_id, provider_ref, unit_ref,
	planned_visit_ref, start_at, end_at, device_start_at, device_end_at, local_date, duration_minutes,
	recorded_offline, start_method, end_method, start_tag_uid, end_tag_uid, status, outside_home, is_extra,
	source_version, flags, source_received_at, shared_visit_ref`

// qInsertVisit is the import path's statement: a new visit is one plain
// insert. (An upsert with RETURNING costs SQLite an ephemeral table per call,
// which made it the most expensive statement of the import.)
const (
	qInsertVisitsPrefix = `INSERT INTO visits (id, ` + visitCols + `, created_at, updated_at) VALUES `
	qInsertVisitsSuffix = ` ON CONFLICT (source_system, external_id) DO NOTHING`
	qInsertVisit        = qInsertVisitsPrefix + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + qInsertVisitsSuffix
)

// qUpdateVisit overwrites a known visit; its parameters are qInsertVisit's
// without the id, in the same order.
const qUpdateVisit = `UPDATE visits SET source_system = ?, external_id = ?, client_id = ?, provider_ref = ?,
	unit_ref = ?, planned_visit_ref = ?, start_at = ?, end_at = ?, device_start_at = ?, device_end_at = ?,
	local_date = ?, duration_minutes = ?, recorded_offline = ?, start_method = ?, end_method = ?,
	start_tag_uid = ?, end_tag_uid = ?, status = ?, outside_home = ?, is_extra = ?,
	source_version = ?, flags = ?, source_received_at = ?, shared_visit_ref = ?, updated_at = ?, version = version + 1
	WHERE source_system = ? AND external_id = ?`

const (
	qInsertVisitStaff    = `INSERT INTO visit_staff (visit_id, position, hsa_id, staff_ref, role) VALUES `
	qInsertVisitInsats   = `INSERT INTO visit_insatser (visit_id, position, code, minutes, declined, declined_reason, double_staffed) VALUES `
	qDeleteVisitStaff    = `DELETE FROM visit_staff WHERE visit_id = ?`
	qDeleteVisitInsatser = `DELETE FROM visit_insatser WHERE visit_id = ?`
)

// joinFlags is the visits.flags column: the flags, comma-separated.
func joinFlags(fs []homecare.VisitFlag) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ",")
}

// splitFlags reads the visits.flags column.
func splitFlags(s string) []homecare.VisitFlag {
	if s == "" {
		return nil
	}
	var out []homecare.VisitFlag
	for _, f := range strings.Split(s, ",") {
		out = append(out, homecare.VisitFlag(f))
	}
	return out
}

// PreparedVisit is a visit with its rows computed (person id hash and
// ciphertext, client id, times), made by Store.PrepareVisit off the writer's
// goroutine. Tx.UpsertVisit stores it.
type PreparedVisit struct {
	v                 homecare.Visit
	hash, enc         []byte
	clientID, pidType string
	at                any
	row               []any // qInsertVisit's arguments
	staff, insatser   []any // the children's rows, without visit_id
	err               error
}

// PrepareVisit does the work of storing v that needs no transaction, so
// that callers feeding a Writer can do it on their own goroutines. An
// invalid visit is not an error here: Tx.UpsertVisit returns it.
func (s *Store) PrepareVisit(v homecare.Visit) PreparedVisit {
	p := PreparedVisit{v: v}
	switch {
	case v.SourceSystem == "" || v.ExternalID == "":
		p.err = fmt.Errorf("upsert visit %s/%s: source system and external id are required", v.SourceSystem, v.ExternalID)
		return p
	case v.StartAt.IsZero() || v.EndAt.IsZero() || v.LocalDate.IsZero():
		p.err = fmt.Errorf("upsert visit %s/%s: start_at, end_at and local_date are required", v.SourceSystem, v.ExternalID)
		return p
	}
	var err error
	p.hash, p.clientID, p.enc, err = s.personKey(v.Client.PersonID.Reveal())
	if err != nil {
		p.err = fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
		return p
	}
	pidType := v.Client.PersonIDType
	if pidType == "" {
		pidType = v.Client.PersonID.Type()
	}
	p.pidType = string(pidType)
	received := s.clock()
	p.at = s.tv(received)
	if fs := v.Check(received); len(fs) > 0 {
		// What only the receipt shows: late (the day's reconciliation must run again),
		// future, a phone's clock far off.
		p.v.Flags = slices.Clone(v.Flags)
		p.v.AddFlags(fs...)
		v = p.v
	}
	p.row = []any{
		newID(), v.SourceSystem, v.ExternalID, p.clientID, v.ProviderID, v.UnitID, v.PlannedVisitRef,
		s.tv(v.StartAt), s.tv(v.EndAt), s.ntv(v.DeviceStartAt), s.ntv(v.DeviceEndAt), v.LocalDate.String(),
		v.DurationMinutes, v.RecordedOffline, string(v.StartMethod), string(v.EndMethod), v.StartTagUID, v.EndTagUID,
		string(v.Status), v.OutsideHome, v.IsExtra, v.Version, joinFlags(v.Flags), s.ntv(v.ReceivedAt), v.SharedVisitRef,
		p.at, p.at,
	}
	if len(v.Staff) > 0 {
		p.staff = make([]any, 0, 4*len(v.Staff))
		for i, st := range v.Staff {
			p.staff = append(p.staff, i, string(st.HSAID), st.StaffRef, string(st.Role))
		}
	}
	if len(v.Insatser) > 0 {
		p.insatser = make([]any, 0, 6*len(v.Insatser))
		for i, in := range v.Insatser {
			p.insatser = append(p.insatser, i, in.Code, in.Minutes, in.Declined, in.DeclinedReason, in.DoubleStaffed)
		}
	}
	return p
}

// UpsertVisit stores the visit p was prepared from (Store.PrepareVisit),
// keyed by (SourceSystem, ExternalID): a new visit is
// inserted, a known one overwritten, and in both cases the visit's staff and
// insatser become exactly v's. Upserting the same visit twice leaves one
// visit. The client is found by its person id lookup hash and created (with
// only its person id) if unknown. It returns the visit's id.
//
// UpsertVisit checks only what the tables need (source key, person id,
// times, local date); the pipeline validates visits (homecare.Visit.Validate)
// before storing them.
func (t *Tx) UpsertVisit(ctx context.Context, p PreparedVisit) (string, error) {
	if p.err != nil {
		return "", p.err
	}
	v := &p.v
	at := p.at
	if !t.clients[p.clientID] {
		if t.wb != nil {
			t.wb.clients.add(p.clientID, p.hash, p.enc, p.pidType, at, at)
		} else if _, err := t.exec(ctx, qEnsureClient, p.clientID, p.hash, p.enc, p.pidType, at, at); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: client: %w", v.SourceSystem, v.ExternalID, err)
		}
		t.markClient(p.clientID)
	}
	args := p.row
	id := args[0].(string)
	if t.wb != nil {
		// Write-behind (a Writer's first pass): a visit already stored
		// makes the flush insert fewer visits than buffered, and the
		// Writer re-runs the batch op by op, taking the update path below.
		t.wb.visits.add(args...)
		t.wb.addChildren(&t.wb.staff, id, p.staff, 4)
		t.wb.addChildren(&t.wb.insatser, id, p.insatser, 6)
		if slices.Contains(v.Flags, homecare.FlagLate) {
			if err := t.queueReconcile(ctx, p.clientID, v.LocalDate, v.ProviderID, "late"); err != nil {
				return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
			}
		}
		return id, nil
	}
	res, err := t.exec(ctx, qInsertVisit, args...)
	if err != nil {
		return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
	}
	if n == 0 {
		// A known visit: a new version corrects it (kept in visit_corrections), the
		// same one again is nothing, an older one is history already.
		cur, err := t.s.loadVisits(ctx, t, visitSelect+` WHERE v.source_system = ? AND v.external_id = ?`, v.SourceSystem, v.ExternalID)
		if err != nil || len(cur) == 0 {
			return "", fmt.Errorf("upsert visit %s/%s: read the stored visit: %v", v.SourceSystem, v.ExternalID, err)
		}
		old := cur[0]
		changes := visitChanges(old, *v)
		switch {
		case v.Version != 0 && v.Version < old.Version:
			return t.visitID(ctx, v)
		case len(changes) == 0:
			return t.visitID(ctx, v) // the same record again
		case v.Version != 0 && v.Version == old.Version:
			return "", &VisitVersionError{SourceSystem: v.SourceSystem, ExternalID: v.ExternalID, Version: v.Version, Fields: fieldsOf(changes)}
		}
		upd := append(args[1:len(args)-2:len(args)-2], at, v.SourceSystem, v.ExternalID)
		if _, err := t.exec(ctx, qUpdateVisit, upd...); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
		}
		if err := t.queryRow(ctx, `SELECT id FROM visits WHERE source_system = ? AND external_id = ?`,
			[]any{v.SourceSystem, v.ExternalID}, &id); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
		}
		if _, err := t.exec(ctx, qDeleteVisitStaff, id); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: staff: %w", v.SourceSystem, v.ExternalID, err)
		}
		if _, err := t.exec(ctx, qDeleteVisitInsatser, id); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: insatser: %w", v.SourceSystem, v.ExternalID, err)
		}
		if err := t.recordCorrection(ctx, id, old, *v, changes); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
		}
		for _, d := range []homecare.Visit{old, *v} {
			if err := t.queueReconcile(ctx, p.clientID, d.LocalDate, d.ProviderID, "correction"); err != nil {
				return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
			}
		}
	} else if slices.Contains(v.Flags, homecare.FlagLate) {
		if err := t.queueReconcile(ctx, p.clientID, v.LocalDate, v.ProviderID, "late"); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: %w", v.SourceSystem, v.ExternalID, err)
		}
	}
	// Children go in one multi-row insert per table: on the import path a
	// statement costs more than a row.
	if len(v.Staff) > 0 {
		if err := t.execRows(ctx, qInsertVisitStaff, childRows(id, p.staff, 4)); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: staff: %w", v.SourceSystem, v.ExternalID, err)
		}
	}
	if len(v.Insatser) > 0 {
		if err := t.execRows(ctx, qInsertVisitInsats, childRows(id, p.insatser, 6)); err != nil {
			return "", fmt.Errorf("upsert visit %s/%s: insatser: %w", v.SourceSystem, v.ExternalID, err)
		}
	}
	return id, nil
}

// childRows prefixes each row of rows (cols values each) with visitID.
func childRows(visitID string, rows []any, cols int) []any {
	out := make([]any, 0, len(rows)/cols*(cols+1))
	for i := 0; i < len(rows); i += cols {
		out = append(out, visitID)
		out = append(out, rows[i:i+cols]...)
	}
	return out
}

// UpsertVisit prepares v and stores it (Tx.UpsertVisit) in a transaction of
// its own.
func (s *Store) UpsertVisit(ctx context.Context, v homecare.Visit) (id string, err error) {
	p := s.PrepareVisit(v)
	err = s.write(ctx, func(tx *Tx) error { id, err = tx.UpsertVisit(ctx, p); return err })
	return id, err
}

// VisitFilter selects visits for ListVisits. Zero fields match all.
type VisitFilter struct {
	// LocalDateFrom and LocalDateTo bound the visit's local date
	// (Europe/Stockholm), both inclusive.
	LocalDateFrom homecare.Date
	LocalDateTo   homecare.Date
	// Provider is the provider id the visits carry.
	Provider string
	// Limit caps the result; 0 means 100, and at most 1000 are returned.
	Limit int
}

type visitRow struct {
	ID               string    `db:"id"`
	SourceSystem     string    `db:"source_system"`
	ExternalID       string    `db:"external_id"`
	PersonIDHash     []byte    `db:"person_id_hash"`
	PersonIDEnc      []byte    `db:"person_id_enc"`
	PersonIDType     string    `db:"person_id_type"`
	ProviderRef      string    `db:"provider_ref"`
	UnitRef          string    `db:"unit_ref"`
	PlannedVisitRef  string    `db:"planned_visit_ref"`
	StartAt          nullTime  `db:"start_at"`
	EndAt            nullTime  `db:"end_at"`
	DeviceStartAt    nullTime  `db:"device_start_at"`
	DeviceEndAt      nullTime  `db:"device_end_at"`
	LocalDate        dateValue `db:"local_date"`
	DurationMinutes  int       `db:"duration_minutes"`
	RecordedOffline  bool      `db:"recorded_offline"`
	StartMethod      string    `db:"start_method"`
	EndMethod        string    `db:"end_method"`
	StartTagUID      string    `db:"start_tag_uid"`
	EndTagUID        string    `db:"end_tag_uid"`
	Status           string    `db:"status"`
	OutsideHome      bool      `db:"outside_home"`
	IsExtra          bool      `db:"is_extra"`
	SourceVersion    int       `db:"source_version"`
	Flags            string    `db:"flags"`
	SourceReceivedAt nullTime  `db:"source_received_at"`
	SharedVisitRef   string    `db:"shared_visit_ref"`
}

const visitSelect = `SELECT v.id, v.source_system, v.external_id, c.person_id_hash, c.person_id_enc, c.person_id_type,
	v.provider_ref, v.unit_ref, v.planned_visit_ref, v.start_at, v.end_at, v.device_start_at, v.device_end_at,
	v.local_date, v.duration_minutes, v.recorded_offline, v.start_method, v.end_method, v.start_tag_uid,
	v.end_tag_uid, v.status, v.outside_home, v.is_extra, v.source_version, v.flags, v.source_received_at,
	v.shared_visit_ref
	FROM visits v JOIN clients c ON c.id = v.client_id`

type visitStaffRow struct {
	VisitID  string `db:"visit_id"`
	HSAID    string `db:"hsa_id"`
	StaffRef string `db:"staff_ref"`
	Role     string `db:"role"`
}

type visitInsatsRow struct {
	VisitID        string `db:"visit_id"`
	Code           string `db:"code"`
	Minutes        *int   `db:"minutes"`
	Declined       bool   `db:"declined"`
	DeclinedReason string `db:"declined_reason"`
	DoubleStaffed  bool   `db:"double_staffed"`
}

// Visit returns the visit with the given source key, with its client's
// person id decrypted; ErrNotFound if there is none.
func (s *Store) Visit(ctx context.Context, sourceSystem, externalID string) (homecare.Visit, error) {
	vs, err := s.visits(ctx, visitSelect+` WHERE v.source_system = ? AND v.external_id = ?`, sourceSystem, externalID)
	if err != nil {
		return homecare.Visit{}, fmt.Errorf("get visit %s/%s: %w", sourceSystem, externalID, err)
	}
	if len(vs) == 0 {
		return homecare.Visit{}, fmt.Errorf("get visit %s/%s: %w", sourceSystem, externalID, ErrNotFound)
	}
	return vs[0], nil
}

// ListVisits returns visits matching f, ordered by local date and start.
func (s *Store) ListVisits(ctx context.Context, f VisitFilter) ([]homecare.Visit, error) {
	var (
		where []string
		args  []any
	)
	if !f.LocalDateFrom.IsZero() {
		where, args = append(where, "v.local_date >= ?"), append(args, f.LocalDateFrom.String())
	}
	if !f.LocalDateTo.IsZero() {
		where, args = append(where, "v.local_date <= ?"), append(args, f.LocalDateTo.String())
	}
	if f.Provider != "" {
		where, args = append(where, "v.provider_ref = ?"), append(args, f.Provider)
	}
	q := visitSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY v.local_date, v.start_at, v.id LIMIT %d", limit(f.Limit))
	vs, err := s.visits(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list visits: %w", err)
	}
	return vs, nil
}

// visits runs a visitSelect query and loads the children of what it found.
func (s *Store) visits(ctx context.Context, query string, args ...any) ([]homecare.Visit, error) {
	return s.loadVisits(ctx, s, query, args...)
}

// loadVisits runs a visitSelect query on q (the store, or a transaction that must see
// its own writes) and loads the children of what it found.
func (s *Store) loadVisits(ctx context.Context, q reader, query string, args ...any) ([]homecare.Visit, error) {
	if s.pid == nil {
		return nil, ErrNoPersonIDKeys
	}
	var rows []visitRow
	if err := q.sel(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]homecare.Visit, len(rows))
	idx := make(map[string]int, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		digits, err := s.pid.decrypt(r.PersonIDEnc, r.PersonIDHash)
		if err != nil {
			return nil, fmt.Errorf("visit %s/%s: %w", r.SourceSystem, r.ExternalID, err)
		}
		pid, err := homecare.ParsePlausiblePersonID(digits) // checked when it came in
		if err != nil {
			return nil, fmt.Errorf("visit %s/%s: stored %w", r.SourceSystem, r.ExternalID, err)
		}
		date, err := homecare.ParseDate(string(r.LocalDate))
		if err != nil {
			return nil, fmt.Errorf("visit %s/%s: local_date: %w", r.SourceSystem, r.ExternalID, err)
		}
		out[i] = homecare.Visit{
			SourceSystem: r.SourceSystem, ExternalID: r.ExternalID,
			Client:     homecare.VisitClient{PersonID: pid, PersonIDType: homecare.PersonIDType(r.PersonIDType)},
			ProviderID: r.ProviderRef, UnitID: r.UnitRef, PlannedVisitRef: r.PlannedVisitRef,
			StartAt: r.StartAt.Time, EndAt: r.EndAt.Time,
			DeviceStartAt: r.DeviceStartAt.Time, DeviceEndAt: r.DeviceEndAt.Time,
			LocalDate: date, DurationMinutes: r.DurationMinutes, RecordedOffline: r.RecordedOffline,
			StartMethod: homecare.RegistrationMethod(r.StartMethod), EndMethod: homecare.RegistrationMethod(r.EndMethod),
			StartTagUID: r.StartTagUID, EndTagUID: r.EndTagUID,
			Status: homecare.VisitStatus(r.Status), OutsideHome: r.OutsideHome, IsExtra: r.IsExtra,
			Version: r.SourceVersion, Flags: splitFlags(r.Flags),
			ReceivedAt: r.SourceReceivedAt.Time, SharedVisitRef: r.SharedVisitRef,
		}
		idx[r.ID] = i
		ids[i] = r.ID
	}

	in := func(dest any, query string) error {
		iq, iargs, err := sqlx.In(query, ids)
		if err != nil {
			return err
		}
		if s.dialect == DialectPostgres {
			iq = sqlx.Rebind(sqlx.DOLLAR, iq)
		}
		return sqlx.SelectContext(ctx, q.queryer(), dest, iq, iargs...)
	}
	var staff []visitStaffRow
	if err := in(&staff, `SELECT visit_id, hsa_id, staff_ref, role FROM visit_staff
		WHERE visit_id IN (?) ORDER BY visit_id, position`); err != nil {
		return nil, fmt.Errorf("staff: %w", err)
	}
	for _, r := range staff {
		v := &out[idx[r.VisitID]]
		v.Staff = append(v.Staff, homecare.VisitStaff{HSAID: homecare.HSAID(r.HSAID), StaffRef: r.StaffRef, Role: homecare.StaffRole(r.Role)})
	}

	var ins []visitInsatsRow
	if err := in(&ins, `SELECT visit_id, code, minutes, declined, declined_reason, double_staffed
		FROM visit_insatser WHERE visit_id IN (?) ORDER BY visit_id, position`); err != nil {
		return nil, fmt.Errorf("insatser: %w", err)
	}
	for _, r := range ins {
		v := &out[idx[r.VisitID]]
		v.Insatser = append(v.Insatser, homecare.VisitInsats{Code: r.Code, Minutes: r.Minutes, Declined: r.Declined,
			DeclinedReason: r.DeclinedReason, DoubleStaffed: r.DoubleStaffed})
	}
	return out, nil
}

// multiRowCache holds multiRow's queries for at most maxRowsPerInsert rows:
// one per table and row count, a bounded set whatever the input.
var multiRowCache sync.Map

// maxRowsPerInsert is the most rows one multi-row INSERT takes: execRows
// splits longer lists, so a message with thousands of child rows neither
// grows the cache nor passes SQLite's limit on bound variables.
const maxRowsPerInsert = 64

// execRows inserts the rows of args (prefix's columns each) with multi-row
// INSERTs of at most maxRowsPerInsert rows.
func (t *Tx) execRows(ctx context.Context, prefix string, args []any) error {
	cols := columns(prefix)
	for len(args) > 0 {
		n := min(len(args)/cols, maxRowsPerInsert)
		if _, err := t.exec(ctx, multiRow(prefix, n), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// columns is how many columns prefix, an INSERT ending in "VALUES ", lists.
func columns(prefix string) int {
	return strings.Count(prefix[:strings.Index(prefix, ")")], ",") + 1
}

// multiRow returns prefix (an INSERT ending in "VALUES ") with n row
// placeholders, the number of columns being the number of columns listed.
// Only queries of up to maxRowsPerInsert rows are cached.
func multiRow(prefix string, n int) string {
	type key struct {
		prefix string
		n      int
	}
	if q, ok := multiRowCache.Load(key{prefix, n}); ok {
		return q.(string)
	}
	cols := columns(prefix)
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	q := b.String()
	if n <= maxRowsPerInsert {
		multiRowCache.Store(key{prefix, n}, q)
	}
	return q
}

// multiRowSuffix is multiRow followed by suffix (e.g. an ON CONFLICT clause).
func multiRowSuffix(prefix string, n int, suffix string) string {
	if suffix == "" {
		return multiRow(prefix, n)
	}
	type key struct {
		prefix, suffix string
		n              int
	}
	if q, ok := multiRowCache.Load(key{prefix, suffix, n}); ok {
		return q.(string)
	}
	q := multiRow(prefix, n) + suffix
	if n <= maxRowsPerInsert {
		multiRowCache.Store(key{prefix, suffix, n}, q)
	}
	return q
}

// ntv is tv for an optional time: the zero time is NULL.
func (s *Store) ntv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.tv(t)
}
