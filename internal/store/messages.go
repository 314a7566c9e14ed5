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
	"time"

	"github.com/knutpunkt/knutpunkt"
)

// Status is where a message stands in the message log.
type Status string

// Message statuses. A message is received when stored, then processed when
// its pipeline finished, or dead when it was dead-lettered; a dead message
// becomes replayed once a new message replaces it (MarkReplayed).
const (
	StatusReceived  Status = "received"
	StatusProcessed Status = "processed"
	StatusDead      Status = "dead"
	StatusReplayed  Status = "replayed"
)

// InboundMessage is a message as a source handed it to the hub, before any
// processing. SaveInbound stores it byte-exact so it can be audited and
// replayed.
type InboundMessage struct {
	// ID is the hub's message id; SaveInbound assigns a UUIDv7 when empty.
	ID string
	// Pipeline is the pipeline the message entered.
	Pipeline string
	// SourceAdapter is the adapter instance that received it.
	SourceAdapter string
	// SourceSystem and ExternalID are the sender's system and its own id for
	// the message. When both are set they are the idempotency key: the same
	// pair is stored once.
	SourceSystem string
	ExternalID   string
	// Caller is the authenticated caller (an HSA-ID), if any.
	Caller string
	// ContentType is the MIME type of Body.
	ContentType string
	// Headers are the message headers, stored as JSON.
	Headers map[string]string
	// Body is the payload as received.
	Body []byte
	// ReceivedAt defaults to now.
	ReceivedAt time.Time
	// Status is the status the message is saved with: StatusReceived when
	// empty. A caller that processes the message in the same transaction
	// (knut import) saves it as StatusProcessed directly, which spares the
	// row rewrite of a MarkProcessed; if processing fails, the transaction
	// (or Writer op) rolls back and the message is not saved.
	Status Status
}

// Inbound builds an InboundMessage from a hub message, taking the source
// system, external id, caller and content type from its well-known headers.
func Inbound(pipeline, sourceAdapter string, m knutpunkt.Message) InboundMessage {
	return InboundMessage{
		ID:            m.ID,
		Pipeline:      pipeline,
		SourceAdapter: sourceAdapter,
		SourceSystem:  m.Header(knutpunkt.HeaderSourceSystem),
		ExternalID:    m.Header(knutpunkt.HeaderExternalID),
		Caller:        m.Header(knutpunkt.HeaderCaller),
		ContentType:   m.Header(knutpunkt.HeaderContentType),
		Headers:       m.Headers,
		Body:          m.Body,
	}
}

// SaveResult tells what SaveInbound did.
type SaveResult struct {
	// ID is the stored message's id: the new one, or on a duplicate the id
	// of the message stored first.
	ID string
	// Duplicate is true when nothing was inserted because the message was
	// already stored (same source system and external id, or same id).
	Duplicate bool
}

// MessageRecord is one row of the message log.
type MessageRecord struct {
	ID            string
	Pipeline      string
	SourceAdapter string
	SourceSystem  string
	ExternalID    string
	Caller        string
	ContentType   string
	Headers       map[string]string
	// Body is nil in ListMessages results; Message returns it.
	Body       []byte
	SHA256     string
	Size       int64
	Status     Status
	ReceivedAt time.Time
	UpdatedAt  time.Time
}

// Attempt is one processing attempt of one pipeline step on a message.
type Attempt struct {
	ID        string
	MessageID string
	Pipeline  string
	Step      string
	// AttemptNo counts attempts per message, pipeline and step, from 1.
	AttemptNo int
	// Error is the attempt's error text; empty when it succeeded.
	Error string
	At    time.Time
}

// DeadLetterEntry says why a message was given up on.
type DeadLetterEntry struct {
	MessageID string
	Pipeline  string
	// Step is the pipeline step that failed (validate, map, store, route, …).
	Step string
	// Field is the offending field or path, when the failure has one.
	Field string
	// Reason is the error text an operator reads.
	Reason string
}

// DeadLetterRecord is a stored dead letter.
type DeadLetterRecord struct {
	ID        string
	MessageID string
	Pipeline  string
	Step      string
	Field     string
	Reason    string
	At        time.Time
	// ResolvedAt is set once the dead letter was handled (replayed).
	ResolvedAt *time.Time
	// ReplayedMessageID is the message that replaced this one, if any.
	ReplayedMessageID string
}

// MessageFilter selects messages for ListMessages. Zero fields match all.
type MessageFilter struct {
	Pipeline     string
	Status       Status
	SourceSystem string
	// Before, when set, keeps messages received strictly before it: pass the
	// last ReceivedAt of a page to get the next (older) page.
	Before time.Time
	// Limit caps the result; 0 means 100, and at most 1000 are returned.
	Limit int
}

// DeadLetterFilter selects dead letters for ListDeadLetters.
type DeadLetterFilter struct {
	Pipeline  string
	MessageID string
	// Unresolved keeps only dead letters not yet replayed.
	Unresolved bool
	// Since, when set, keeps dead letters from that time on.
	Since time.Time
	// Limit caps the result; 0 means 100, and at most 1000 are returned.
	Limit int
}

func limit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

const (
	qInsertMessagesPrefix = `INSERT INTO messages (id, pipeline, source_adapter, source_system, external_id, caller,
	content_type, headers, sha256, size, received_at, status, updated_at) VALUES `
	qInsertMessagesSuffix = ` ON CONFLICT DO NOTHING`
	qInsertMessage        = qInsertMessagesPrefix + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + qInsertMessagesSuffix
	// A body has a table of its own (migration 00004): it is written once,
	// and a status change does not copy it.
	qInsertBodiesPrefix = `INSERT INTO message_bodies (message_id, body) VALUES `
	qInsertBody         = qInsertBodiesPrefix + `(?, ?)`
)

// PreparedInbound is an InboundMessage with its row computed (id, headers
// JSON, SHA-256, times), made by Store.PrepareInbound off the writer's
// goroutine. Tx.SaveInbound stores it.
type PreparedInbound struct {
	m                  InboundMessage
	err                error // why it cannot be saved, returned by SaveInbound
	headers            string
	body               []byte // sealed when the store has keys
	size               int64  // of the payload
	sum                string
	status             Status
	receivedAt, update any
}

// ID is the message id the prepared message will be stored with.
func (p PreparedInbound) ID() string { return p.m.ID }

// Pipeline is the pipeline the prepared message enters.
func (p PreparedInbound) Pipeline() string { return p.m.Pipeline }

// PrepareInbound does the work of saving m that needs no transaction, so
// that callers feeding a Writer can do it on their own goroutines. An
// invalid message is not an error here: Tx.SaveInbound returns it.
func (s *Store) PrepareInbound(m InboundMessage) PreparedInbound {
	if m.ID == "" {
		m.ID = newID()
	}
	update := now()
	at := m.ReceivedAt
	if at.IsZero() {
		at = update
	}
	headers := []byte("{}")
	if len(m.Headers) > 0 {
		var err error
		if headers, err = marshalHeaders(m.Headers); err != nil {
			return PreparedInbound{m: m, err: fmt.Errorf("save inbound %s: headers: %w", m.ID, err)}
		}
	}
	status := m.Status
	switch status {
	case "":
		status = StatusReceived
	case StatusReceived, StatusProcessed:
	default:
		return PreparedInbound{m: m, err: fmt.Errorf("save inbound %s: initial status %q: want received or processed", m.ID, status)}
	}
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	sum := sha256.Sum256(body) // of the payload, not of its sealed form
	p := PreparedInbound{m: m, headers: string(headers), body: s.sealBody(m.ID, body), size: int64(len(body)), sum: hex.EncodeToString(sum[:]),
		status: status, receivedAt: s.tv(at)}
	if at == update {
		p.update = p.receivedAt
	} else {
		p.update = s.tv(update)
	}
	return p
}

// SaveInbound stores the message p was prepared from (Store.PrepareInbound)
// in the message log. When a message with the same source system and
// external id (both non-empty) or the same id is already stored, it
// inserts nothing and returns that message's id with Duplicate=true. This
// holds under concurrency: of two racing saves of one key, exactly one
// inserts.
func (t *Tx) SaveInbound(ctx context.Context, p PreparedInbound) (SaveResult, error) {
	if p.err != nil {
		return SaveResult{}, p.err
	}
	m := &p.m
	args := [...]any{m.ID, m.Pipeline, m.SourceAdapter, m.SourceSystem, m.ExternalID,
		m.Caller, m.ContentType, p.headers, p.sum, p.size,
		p.receivedAt, string(p.status), p.update}
	if t.wb != nil {
		// Write-behind (a Writer's first pass): the rows go in with the
		// batch's other messages, bodies after messages. Had it been a
		// duplicate, the flush sees fewer messages inserted than
		// buffered, before it inserts a body, and the Writer re-runs the
		// batch op by op, where this returns Duplicate.
		t.wb.messages.add(args[:]...)
		t.wb.bodies.add(m.ID, p.body)
		return SaveResult{ID: m.ID}, nil
	}
	res, err := t.exec(ctx, qInsertMessage, args[:]...)
	if err != nil {
		return SaveResult{}, fmt.Errorf("save inbound %s: %w", m.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return SaveResult{}, fmt.Errorf("save inbound %s: %w", m.ID, err)
	} else if n == 1 {
		if _, err := t.exec(ctx, qInsertBody, m.ID, p.body); err != nil {
			return SaveResult{}, fmt.Errorf("save inbound %s: body: %w", m.ID, err)
		}
		return SaveResult{ID: m.ID}, nil
	}
	// Nothing inserted: find the message that was there first.
	if m.SourceSystem != "" && m.ExternalID != "" {
		var id string
		err := t.queryRow(ctx, `SELECT id FROM messages WHERE source_system = ? AND external_id = ?
			AND source_system <> '' AND external_id <> ''`,
			[]any{m.SourceSystem, m.ExternalID}, &id)
		if err == nil {
			return SaveResult{ID: id, Duplicate: true}, nil
		}
		if !isNoRows(err) {
			return SaveResult{}, fmt.Errorf("save inbound %s: find duplicate: %w", m.ID, err)
		}
		return SaveResult{}, fmt.Errorf("save inbound %s: id already used by a message with another source key", m.ID)
	}
	return SaveResult{ID: m.ID, Duplicate: true}, nil
}

// RecordAttempt records one attempt of step of pipeline on message msgID;
// attemptErr nil means it succeeded. Attempt numbers count from 1 per
// message, pipeline and step.
func (t *Tx) RecordAttempt(ctx context.Context, msgID, pipeline, step string, attemptErr error) error {
	at := t.s.tv(now())
	if err := t.touch(ctx, msgID, "", at); err != nil {
		return fmt.Errorf("record attempt %s: %w", msgID, err)
	}
	var errText any
	if attemptErr != nil {
		s := attemptErr.Error()
		if s == "" {
			s = fmt.Sprintf("%T", attemptErr)
		}
		errText = s
	}
	_, err := t.exec(ctx, `INSERT INTO attempts (id, message_id, pipeline, step, attempt_no, error, at)
		VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(attempt_no), 0) + 1 FROM attempts
			WHERE message_id = ? AND pipeline = ? AND step = ?), ?, ?)`,
		newID(), msgID, pipeline, step, msgID, pipeline, step, errText, at)
	if err != nil {
		return fmt.Errorf("record attempt %s: %w", msgID, err)
	}
	return nil
}

// touch sets updated_at, and status unless it is empty; ErrNotFound when
// there is no such message.
func (t *Tx) touch(ctx context.Context, msgID string, status Status, at any) error {
	var (
		res interface{ RowsAffected() (int64, error) }
		err error
	)
	if status == "" {
		res, err = t.exec(ctx, `UPDATE messages SET updated_at = ? WHERE id = ?`, at, msgID)
	} else {
		res, err = t.exec(ctx, `UPDATE messages SET status = ?, updated_at = ? WHERE id = ?`, string(status), at, msgID)
	}
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkProcessed marks message msgID processed: its pipeline is done with it.
func (t *Tx) MarkProcessed(ctx context.Context, msgID string) error {
	if err := t.touch(ctx, msgID, StatusProcessed, t.s.tv(now())); err != nil {
		return fmt.Errorf("mark processed %s: %w", msgID, err)
	}
	return nil
}

// DeadLetter marks the message dead and records why, returning the dead
// letter's id (for MarkReplayed). A message may be dead-lettered more than
// once, e.g. again after a failed replay.
func (t *Tx) DeadLetter(ctx context.Context, e DeadLetterEntry) (string, error) {
	if e.Reason == "" {
		return "", fmt.Errorf("dead letter %s: empty reason", e.MessageID)
	}
	at := t.s.tv(now())
	if err := t.touch(ctx, e.MessageID, StatusDead, at); err != nil {
		return "", fmt.Errorf("dead letter %s: %w", e.MessageID, err)
	}
	id := newID()
	_, err := t.exec(ctx, `INSERT INTO dead_letters (id, message_id, pipeline, step, field, reason, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, e.MessageID, e.Pipeline, e.Step, e.Field, e.Reason, at)
	if err != nil {
		return "", fmt.Errorf("dead letter %s: %w", e.MessageID, err)
	}
	return id, nil
}

// MarkReplayed resolves dead letter deadLetterID: newMessageID (already
// saved) replaces its message, which becomes StatusReplayed.
func (t *Tx) MarkReplayed(ctx context.Context, deadLetterID, newMessageID string) error {
	at := t.s.tv(now())
	res, err := t.exec(ctx, `UPDATE dead_letters SET resolved_at = ?, replayed_message_id = ? WHERE id = ?`,
		at, newMessageID, deadLetterID)
	if err != nil {
		return fmt.Errorf("mark replayed %s: %w", deadLetterID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("mark replayed %s: %w", deadLetterID, err)
	} else if n == 0 {
		return fmt.Errorf("mark replayed %s: %w", deadLetterID, ErrNotFound)
	}
	_, err = t.exec(ctx, `UPDATE messages SET status = 'replayed', updated_at = ?
		WHERE id = (SELECT message_id FROM dead_letters WHERE id = ?)`, at, deadLetterID)
	if err != nil {
		return fmt.Errorf("mark replayed %s: %w", deadLetterID, err)
	}
	return nil
}

// SaveInbound prepares m and saves it (Tx.SaveInbound) in a transaction of
// its own.
func (s *Store) SaveInbound(ctx context.Context, m InboundMessage) (r SaveResult, err error) {
	p := s.PrepareInbound(m)
	err = s.write(ctx, func(tx *Tx) error { r, err = tx.SaveInbound(ctx, p); return err })
	return r, err
}

// RecordAttempt is Tx.RecordAttempt in a transaction of its own.
func (s *Store) RecordAttempt(ctx context.Context, msgID, pipeline, step string, attemptErr error) error {
	return s.write(ctx, func(tx *Tx) error { return tx.RecordAttempt(ctx, msgID, pipeline, step, attemptErr) })
}

// MarkProcessed is Tx.MarkProcessed in a transaction of its own.
func (s *Store) MarkProcessed(ctx context.Context, msgID string) error {
	return s.write(ctx, func(tx *Tx) error { return tx.MarkProcessed(ctx, msgID) })
}

// DeadLetter is Tx.DeadLetter in a transaction of its own.
func (s *Store) DeadLetter(ctx context.Context, e DeadLetterEntry) (id string, err error) {
	err = s.write(ctx, func(tx *Tx) error { id, err = tx.DeadLetter(ctx, e); return err })
	return id, err
}

// MarkReplayed is Tx.MarkReplayed in a transaction of its own.
func (s *Store) MarkReplayed(ctx context.Context, deadLetterID, newMessageID string) error {
	return s.write(ctx, func(tx *Tx) error { return tx.MarkReplayed(ctx, deadLetterID, newMessageID) })
}

type messageRow struct {
	ID            string   `db:"id"`
	Pipeline      string   `db:"pipeline"`
	SourceAdapter string   `db:"source_adapter"`
	SourceSystem  string   `db:"source_system"`
	ExternalID    string   `db:"external_id"`
	Caller        string   `db:"caller"`
	ContentType   string   `db:"content_type"`
	Headers       string   `db:"headers"`
	Body          []byte   `db:"body"`
	SHA256        string   `db:"sha256"`
	Size          int64    `db:"size"`
	Status        string   `db:"status"`
	ReceivedAt    nullTime `db:"received_at"`
	UpdatedAt     nullTime `db:"updated_at"`
}

func (r messageRow) record() (MessageRecord, error) {
	m := MessageRecord{
		ID: r.ID, Pipeline: r.Pipeline, SourceAdapter: r.SourceAdapter, SourceSystem: r.SourceSystem,
		ExternalID: r.ExternalID, Caller: r.Caller, ContentType: r.ContentType, Body: r.Body,
		SHA256: r.SHA256, Size: r.Size, Status: Status(r.Status),
		ReceivedAt: r.ReceivedAt.Time, UpdatedAt: r.UpdatedAt.Time,
	}
	if err := json.Unmarshal([]byte(r.Headers), &m.Headers); err != nil {
		return MessageRecord{}, fmt.Errorf("headers: %w", err)
	}
	if len(m.Headers) == 0 {
		m.Headers = nil
	}
	return m, nil
}

const messageCols = `id, pipeline, source_adapter, source_system, external_id, caller, content_type,
	headers, sha256, size, status, received_at, updated_at`

// Message returns message id with its body; ErrNotFound if there is none.
func (s *Store) Message(ctx context.Context, id string) (MessageRecord, error) {
	var r messageRow
	if err := s.get(ctx, &r, `SELECT `+messageCols+`, b.body FROM messages m JOIN message_bodies b ON b.message_id = m.id
		WHERE m.id = ?`, id); err != nil {
		return MessageRecord{}, fmt.Errorf("get message %s: %w", id, err)
	}
	m, err := r.record()
	if err != nil {
		return MessageRecord{}, fmt.Errorf("get message %s: %w", id, err)
	}
	if m.Body, err = s.openBody(m.ID, m.Body); err != nil {
		return MessageRecord{}, fmt.Errorf("get message %s: %w", id, err)
	}
	if m.Body == nil {
		m.Body = []byte{}
	}
	return m, nil
}

// ListMessages returns messages matching f, newest first, without bodies.
func (s *Store) ListMessages(ctx context.Context, f MessageFilter) ([]MessageRecord, error) {
	var (
		where []string
		args  []any
	)
	if f.Pipeline != "" {
		where, args = append(where, "pipeline = ?"), append(args, f.Pipeline)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.SourceSystem != "" {
		where, args = append(where, "source_system = ?"), append(args, f.SourceSystem)
	}
	if !f.Before.IsZero() {
		where, args = append(where, "received_at < ?"), append(args, s.tv(f.Before))
	}
	q := `SELECT ` + messageCols + ` FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY received_at DESC, id DESC LIMIT %d", limit(f.Limit))
	var rows []messageRow
	if err := s.sel(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	out := make([]MessageRecord, 0, len(rows))
	for _, r := range rows {
		m, err := r.record()
		if err != nil {
			return nil, fmt.Errorf("list messages: %s: %w", r.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

type attemptRow struct {
	ID        string   `db:"id"`
	MessageID string   `db:"message_id"`
	Pipeline  string   `db:"pipeline"`
	Step      string   `db:"step"`
	AttemptNo int      `db:"attempt_no"`
	Error     *string  `db:"error"`
	At        nullTime `db:"at"`
}

// Attempts returns the attempts recorded for message msgID, oldest first.
func (s *Store) Attempts(ctx context.Context, msgID string) ([]Attempt, error) {
	var rows []attemptRow
	err := s.sel(ctx, &rows, `SELECT id, message_id, pipeline, step, attempt_no, error, at FROM attempts
		WHERE message_id = ? ORDER BY at, id`, msgID)
	if err != nil {
		return nil, fmt.Errorf("list attempts %s: %w", msgID, err)
	}
	out := make([]Attempt, 0, len(rows))
	for _, r := range rows {
		a := Attempt{ID: r.ID, MessageID: r.MessageID, Pipeline: r.Pipeline, Step: r.Step,
			AttemptNo: r.AttemptNo, At: r.At.Time}
		if r.Error != nil {
			a.Error = *r.Error
		}
		out = append(out, a)
	}
	return out, nil
}

type deadLetterRow struct {
	ID                string   `db:"id"`
	MessageID         string   `db:"message_id"`
	Pipeline          string   `db:"pipeline"`
	Step              string   `db:"step"`
	Field             string   `db:"field"`
	Reason            string   `db:"reason"`
	At                nullTime `db:"at"`
	ResolvedAt        nullTime `db:"resolved_at"`
	ReplayedMessageID *string  `db:"replayed_message_id"`
}

// ListDeadLetters returns dead letters matching f, newest first.
func (s *Store) ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetterRecord, error) {
	var (
		where []string
		args  []any
	)
	if f.Pipeline != "" {
		where, args = append(where, "pipeline = ?"), append(args, f.Pipeline)
	}
	if f.MessageID != "" {
		where, args = append(where, "message_id = ?"), append(args, f.MessageID)
	}
	if f.Unresolved {
		where = append(where, "resolved_at IS NULL")
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, s.tv(f.Since))
	}
	q := `SELECT id, message_id, pipeline, step, field, reason, at, resolved_at, replayed_message_id FROM dead_letters`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY at DESC, id DESC LIMIT %d", limit(f.Limit))
	var rows []deadLetterRow
	if err := s.sel(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out := make([]DeadLetterRecord, 0, len(rows))
	for _, r := range rows {
		d := DeadLetterRecord{ID: r.ID, MessageID: r.MessageID, Pipeline: r.Pipeline, Step: r.Step,
			Field: r.Field, Reason: r.Reason, At: r.At.Time, ResolvedAt: r.ResolvedAt.ptr()}
		if r.ReplayedMessageID != nil {
			d.ReplayedMessageID = *r.ReplayedMessageID
		}
		out = append(out, d)
	}
	return out, nil
}

// Counts returns how many messages are in each status, for the demo summary
// and /metrics. Statuses with no messages are present with 0.
func (s *Store) Counts(ctx context.Context) (map[Status]int64, error) {
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := s.sel(ctx, &rows, `SELECT status, COUNT(*) AS n FROM messages GROUP BY status`); err != nil {
		return nil, fmt.Errorf("count messages: %w", err)
	}
	out := map[Status]int64{StatusReceived: 0, StatusProcessed: 0, StatusDead: 0, StatusReplayed: 0}
	for _, r := range rows {
		out[Status(r.Status)] = r.N
	}
	return out, nil
}

// PipelineCounts returns message counts per pipeline and status; only
// pairs with messages are present.
func (s *Store) PipelineCounts(ctx context.Context) (map[string]map[Status]int64, error) {
	var rows []struct {
		Pipeline string `db:"pipeline"`
		Status   string `db:"status"`
		N        int64  `db:"n"`
	}
	if err := s.sel(ctx, &rows, `SELECT pipeline, status, COUNT(*) AS n FROM messages GROUP BY pipeline, status`); err != nil {
		return nil, fmt.Errorf("count messages per pipeline: %w", err)
	}
	out := map[string]map[Status]int64{}
	for _, r := range rows {
		if out[r.Pipeline] == nil {
			out[r.Pipeline] = map[Status]int64{}
		}
		out[r.Pipeline][Status(r.Status)] = r.N
	}
	return out, nil
}

// tv converts a time to the value the dialect stores: fixed-width text for
// SQLite, time.Time for PostgreSQL.
func (s *Store) tv(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == DialectSQLite {
		return formatTime(t)
	}
	return t
}

// formatTime is t.Format(timeLayout) for a UTC time, without Format's
// layout interpretation: the import path formats six times per message.
func formatTime(t time.Time) string {
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timeLayout)
	}
	h, mi, sec := t.Clock()
	var b [len(timeLayout)]byte
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	b[4] = '-'
	put(5, int(mo), 2)
	b[7] = '-'
	put(8, d, 2)
	b[10] = 'T'
	put(11, h, 2)
	b[13] = ':'
	put(14, mi, 2)
	b[16] = ':'
	put(17, sec, 2)
	b[19] = '.'
	put(20, t.Nanosecond()/1000, 6)
	b[26] = 'Z'
	return string(b[:])
}

// marshalHeaders is json.Marshal(h), done by hand when every key and value
// is printable ASCII that encoding/json writes as is; otherwise it is
// json.Marshal's own result.
func marshalHeaders(h map[string]string) ([]byte, error) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
				return false
			}
		}
		return true
	}
	keys := make([]string, 0, len(h))
	n := 2
	for k, v := range h {
		if !plain(k) || !plain(v) {
			return json.Marshal(h)
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':', '"')
		b = append(b, h[k]...)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
