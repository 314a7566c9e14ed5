package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// The audit trail (DOMAIN.md §7.2): who read or was refused what, when,
// about which client and why. Records are appended, never changed (the
// migration's triggers refuse UPDATE and DELETE), and chained by hash, so
// that VerifyAudit finds a record altered or removed by someone who got
// past the triggers.

// Audit outcomes.
const (
	AuditOK     = "ok"
	AuditDenied = "denied"
)

// AuditEntry is what a caller records; the store adds the sequence number,
// id, time and hashes.
type AuditEntry struct {
	// Actor is who acted, with its kind as prefix: "hsa:SE2321000016-A1B2"
	// (a certificate's HSA-ID), "cert:CN=…" (a certificate without one),
	// "os:alice" (a user of the CLI), "provider:omsorg-norr" (a provider
	// vouched for by its signature).
	Actor string
	// Action is what was done or tried, e.g. "message.show",
	// "dead_letter.show", "message.replay", "order_event.apply",
	// "http.ingest".
	Action string
	// Outcome is AuditOK or AuditDenied.
	Outcome string
	// Resource names what the action touched: "message:<id>",
	// "order:<source>/<external id>", "pipeline:<name>".
	Resource string
	// ClientID is the client concerned (clients.id), when known.
	ClientID string
	// OrderSource and OrderID name the order concerned, (source system,
	// external id), when the client is known by its order.
	OrderSource, OrderID string
	// MessageID names a message of the log whose order event names the
	// client, when the client is known by a message.
	MessageID string
	// ClientPersonID is the client's person id (12 digits), when the
	// caller knows the number rather than the row; it is stored keyed
	// and encrypted like the clients table's, never in clear.
	ClientPersonID string
	// Purpose is why (the CLI's --purpose).
	Purpose string
	// Detail says more, e.g. why access was denied. It must not hold
	// personal data; it is capped at maxAuditDetail bytes.
	Detail string
}

// AuditRecord is a stored AuditEntry.
type AuditRecord struct {
	Seq      int64
	ID       string
	At       time.Time
	Actor    string
	Action   string
	Outcome  string
	Resource string
	// Client is the client's person id masked ("19121212-****"), "" for
	// none.
	Client   string
	Purpose  string
	Detail   string
	PrevHash string
	Hash     string

	clientHash, clientEnc []byte
}

const maxAuditDetail = 1024

// auditGenesis is the previous hash of the first record.
var auditGenesis = strings.Repeat("0", 64)

// auditLockKey serialises appends on PostgreSQL (pg_advisory_xact_lock);
// SQLite has one writer.
const auditLockKey = 0x6b6e7574_61756474 // "knutaudt"

// Audit appends e to the audit trail in tx: it commits or rolls back with
// whatever else tx writes, so an action and its record go together.
func (t *Tx) Audit(ctx context.Context, e AuditEntry) (AuditRecord, error) {
	if e.Actor == "" || e.Action == "" {
		return AuditRecord{}, errors.New("audit: actor and action are required")
	}
	if e.Outcome != AuditOK && e.Outcome != AuditDenied {
		return AuditRecord{}, fmt.Errorf("audit: outcome must be %q or %q", AuditOK, AuditDenied)
	}
	ctx = t.ctx(ctx)
	r := AuditRecord{ID: newID(), At: now(), Actor: e.Actor, Action: e.Action, Outcome: e.Outcome,
		Resource: e.Resource, Purpose: e.Purpose, Detail: capDetail(e.Detail)}
	switch {
	case e.ClientPersonID != "":
		hash, _, enc, err := t.s.personKey(e.ClientPersonID)
		if err != nil {
			return AuditRecord{}, fmt.Errorf("audit: client: %w", err)
		}
		r.clientHash, r.clientEnc = hash, enc
	case e.ClientID != "":
		err := t.queryRow(ctx, `SELECT person_id_hash, person_id_enc FROM clients WHERE id = ?`,
			[]any{e.ClientID}, &r.clientHash, &r.clientEnc)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return AuditRecord{}, fmt.Errorf("audit: client: %w", err)
		}
	case e.MessageID != "":
		err := t.queryRow(ctx, `SELECT c.person_id_hash, c.person_id_enc FROM order_events e
			JOIN orders o ON o.id = e.order_id JOIN clients c ON c.id = o.client_id
			WHERE e.message_id = ? LIMIT 1`, []any{e.MessageID}, &r.clientHash, &r.clientEnc)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return AuditRecord{}, fmt.Errorf("audit: client of message: %w", err)
		}
	case e.OrderID != "":
		err := t.queryRow(ctx, `SELECT c.person_id_hash, c.person_id_enc FROM orders o JOIN clients c ON c.id = o.client_id
			WHERE o.source_system = ? AND o.external_id = ?`, []any{e.OrderSource, e.OrderID}, &r.clientHash, &r.clientEnc)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return AuditRecord{}, fmt.Errorf("audit: client of order: %w", err)
		}
	}
	if t.s.dialect == DialectPostgres {
		if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(auditLockKey)); err != nil {
			return AuditRecord{}, fmt.Errorf("audit: lock: %w", err)
		}
	}
	var last int64
	prev := auditGenesis
	err := t.queryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`, nil, &last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return AuditRecord{}, fmt.Errorf("audit: last record: %w", err)
	}
	r.Seq, r.PrevHash = last+1, prev
	r.Hash = r.chainHash()
	if _, err := t.exec(ctx, `INSERT INTO audit_log (seq, id, at, actor, action, outcome, resource,
		client_hash, client_enc, purpose, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.ID, t.s.tv(r.At), r.Actor, r.Action, r.Outcome, r.Resource, nullBytes(r.clientHash),
		nullBytes(r.clientEnc), r.Purpose, r.Detail, r.PrevHash, r.Hash); err != nil {
		return AuditRecord{}, fmt.Errorf("audit: %w", err)
	}
	r.Client = t.s.maskedClient(r.clientHash, r.clientEnc)
	return r, nil
}

// Audit appends e to the audit trail in a transaction of its own, durably.
func (s *Store) Audit(ctx context.Context, e AuditEntry) (AuditRecord, error) {
	var r AuditRecord
	err := s.Tx(ctx, func(tx *Tx) error {
		var err error
		r, err = tx.Audit(ctx, e)
		return err
	})
	return r, err
}

// AuditFilter selects audit records; zero fields select all.
type AuditFilter struct {
	// ClientPersonID selects the records about one client (12 characters), under each
	// identity linked to it (store.ClientIdentities).
	ClientPersonID string
	// Actor selects one actor, e.g. "hsa:SE2321000016-A1B2".
	Actor string
	// From and To bound the records' time, To exclusive.
	From, To time.Time
	// Limit caps the records returned; 0 means 10,000.
	Limit int
}

type auditRow struct {
	Seq        int64    `db:"seq"`
	ID         string   `db:"id"`
	At         nullTime `db:"at"`
	Actor      string   `db:"actor"`
	Action     string   `db:"action"`
	Outcome    string   `db:"outcome"`
	Resource   string   `db:"resource"`
	ClientHash []byte   `db:"client_hash"`
	ClientEnc  []byte   `db:"client_enc"`
	Purpose    string   `db:"purpose"`
	Detail     string   `db:"detail"`
	PrevHash   string   `db:"prev_hash"`
	Hash       string   `db:"hash"`
}

const auditCols = `seq, id, at, actor, action, outcome, resource, client_hash, client_enc, purpose, detail, prev_hash, hash`

func (s *Store) auditRecord(r auditRow) AuditRecord {
	a := AuditRecord{Seq: r.Seq, ID: r.ID, At: r.At.Time, Actor: r.Actor, Action: r.Action, Outcome: r.Outcome,
		Resource: r.Resource, Purpose: r.Purpose, Detail: r.Detail, PrevHash: r.PrevHash, Hash: r.Hash,
		clientHash: r.ClientHash, clientEnc: r.ClientEnc}
	a.Client = s.maskedClient(r.ClientHash, r.ClientEnc)
	return a
}

// ListAudit returns the records f selects, oldest first: the log list
// (logglista) of a client, a member of staff or a period.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	var (
		where []string
		args  []any
	)
	if f.ClientPersonID != "" {
		// The client's one history: the records under each identity linked to it (a
		// reserve number or samordningsnummer the case system used before).
		pid, err := homecare.ParsePlausiblePersonID(f.ClientPersonID)
		if err != nil {
			return nil, fmt.Errorf("audit list: client: %w", err)
		}
		ids, err := s.ClientIdentities(ctx, pid)
		if err != nil {
			return nil, fmt.Errorf("audit list: %w", err)
		}
		var or []string
		for _, id := range ids {
			hash, _, _, err := s.personKey(id.Reveal())
			if err != nil {
				return nil, fmt.Errorf("audit list: client: %w", err)
			}
			or, args = append(or, "client_hash = ?"), append(args, hash)
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if !f.From.IsZero() {
		where, args = append(where, "at >= ?"), append(args, s.tv(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "at < ?"), append(args, s.tv(f.To))
	}
	q := `SELECT ` + auditCols + ` FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	n := f.Limit
	if n <= 0 {
		n = 10000
	}
	q += fmt.Sprintf(" ORDER BY seq LIMIT %d", n)
	var rows []auditRow
	if err := s.rdb.SelectContext(ctx, &rows, s.q(q), args...); err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	out := make([]AuditRecord, len(rows))
	for i, r := range rows {
		out[i] = s.auditRecord(r)
	}
	return out, nil
}

// AuditVerification is what VerifyAudit found.
type AuditVerification struct {
	// Records is how many records were read.
	Records int64
	// Head is the last record's hash: kept elsewhere (a ticket, a signed
	// mail), it also shows later that no record was removed from the end.
	Head string
	// Problems are the records that break the chain, in order; none means
	// the trail is intact.
	Problems []string
}

// VerifyAudit reads the whole trail in order and checks every link: the
// sequence has no gap, each record names the previous record's hash, and
// each hash matches its record's fields. A removed record shows as a gap
// or a broken link, an altered one as a hash that does not match.
func (s *Store) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	rows, err := s.rdb.QueryxContext(ctx, s.q(`SELECT `+auditCols+` FROM audit_log ORDER BY seq`))
	if err != nil {
		return v, fmt.Errorf("audit verify: %w", err)
	}
	defer rows.Close()
	prev, want := auditGenesis, int64(1)
	for rows.Next() {
		var r auditRow
		if err := rows.StructScan(&r); err != nil {
			return v, fmt.Errorf("audit verify: %w", err)
		}
		a := s.auditRecord(r)
		v.Records++
		if a.Seq != want {
			v.Problems = append(v.Problems, fmt.Sprintf("records %d to %d are missing", want, a.Seq-1))
		}
		if a.PrevHash != prev {
			v.Problems = append(v.Problems, fmt.Sprintf("record %d: does not follow the record before it (chain broken)", a.Seq))
		}
		if a.chainHash() != a.Hash {
			v.Problems = append(v.Problems, fmt.Sprintf("record %d: altered (its hash does not match its fields)", a.Seq))
		}
		prev, want, v.Head = a.Hash, a.Seq+1, a.Hash
	}
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("audit verify: %w", err)
	}
	return v, nil
}

// chainHash is SHA-256 over the previous hash and every field of r, each
// length-prefixed so that no two records hash alike by moving bytes
// between fields.
func (r AuditRecord) chainHash() string {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(r.PrevHash))
	field([]byte(strconv.FormatInt(r.Seq, 10)))
	for _, f := range []string{r.ID, formatTime(r.At.UTC().Truncate(time.Microsecond)), r.Actor, r.Action,
		r.Outcome, r.Resource, r.Purpose, r.Detail} {
		field([]byte(f))
	}
	field(r.clientHash)
	field(r.clientEnc)
	return hex.EncodeToString(h.Sum(nil))
}

// maskedClient decrypts a stored client identity to its masked form; ""
// when there is none or it cannot be read (no keys).
func (s *Store) maskedClient(hash, enc []byte) string {
	if len(hash) == 0 || s.pid == nil {
		return ""
	}
	digits, err := s.pid.decrypt(enc, hash)
	if err != nil || len(digits) != 12 {
		return "(unreadable)"
	}
	return digits[:8] + "-****"
}

// capDetail keeps a detail within maxAuditDetail bytes, on a rune
// boundary.
func capDetail(s string) string {
	if len(s) <= maxAuditDetail {
		return s
	}
	cut := maxAuditDetail - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
