package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Tx is one open transaction. It has the Store's write methods; what they
// write becomes visible to others, durably, when the transaction commits.
// A Tx is not safe for concurrent use and must not outlive the function it
// was passed to.
type Tx struct {
	s     *Store
	tx    *sqlx.Tx
	stmts map[string]*sql.Stmt
	// clients are the client rows known to exist in this transaction, so a
	// batch of visits ensures each client once. Cleared when a savepoint
	// rolls back, as that may have removed one.
	clients map[string]bool
	// queued are the client-days queued for reconciliation in this transaction
	// (queueReconcile): a batch of late visits of one client queues the day once.
	// Cleared with clients.
	queued map[string]bool
	// detached makes statements ignore the caller's cancellation. A Writer
	// sets it: its transaction is shared, and with pgx a query cancelled
	// mid-flight breaks the connection and so the whole batch.
	detached bool
	// conn, when set, has the statements prepared on the Writer's SQLite
	// connection.
	conn *connStmts
	// wb, when set, holds the hot inserts (messages, clients, visits and
	// their children) for multi-row statements: see writeBehind.
	wb *writeBehind
	// raw, when set, is the PostgreSQL connection the transaction runs on,
	// for execBatch's pipeline.
	raw *sql.Conn
}

func newTx(s *Store, tx *sqlx.Tx, detached bool) *Tx {
	return &Tx{s: s, tx: tx, detached: detached}
}

func (t *Tx) markClient(id string) {
	if t.clients == nil {
		t.clients = make(map[string]bool)
	}
	t.clients[id] = true
}

// release closes the statements prepared in this transaction.
func (t *Tx) release() {
	for _, st := range t.stmts {
		_ = st.Close()
	}
	t.stmts = nil
}

func (t *Tx) ctx(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt returns query prepared in this transaction. Only SQLite needs it:
// modernc re-prepares every unprepared statement, while pgx already caches
// prepared statements per connection.
func (t *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if cached := t.conn.lookup(query); cached != nil {
		st = t.tx.StmtContext(ctx, cached)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt, 16)
	}
	t.stmts[query] = st
	return st, nil
}

// flushFirst flushes the rows a Writer holds back, so that the statement
// about to run sees them (unless it is the flush's own).
func (t *Tx) flushFirst(ctx context.Context) error {
	if t.wb != nil && !t.wb.flushing && t.wb.pending() {
		return t.flush(ctx)
	}
	return nil
}

func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
	if err := t.flushFirst(ctx); err != nil {
		return nil, err
	}
	if t.s.dialect == DialectSQLite {
		st, err := t.stmt(ctx, query)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.s.q(query), args...)
}

// queryRow runs a query returning one row and scans it into dest.
func (t *Tx) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	ctx = t.ctx(ctx)
	if err := t.flushFirst(ctx); err != nil {
		return err
	}
	if t.s.dialect == DialectSQLite {
		st, err := t.stmt(ctx, query)
		if err != nil {
			return err
		}
		return st.QueryRowContext(ctx, args...).Scan(dest...)
	}
	return t.tx.QueryRowContext(ctx, t.s.q(query), args...).Scan(dest...)
}

// reader is what both the Store (its read pool) and a Tx (inside it) read
// with.
type reader interface {
	// sel runs a query of the store's own (a package constant, so its
	// statement may be cached) and scans its rows into dest.
	sel(ctx context.Context, dest any, query string, args ...any) error
	// queryer runs one-off queries (e.g. IN lists of any length).
	queryer() sqlx.QueryerContext
}

func (s *Store) queryer() sqlx.QueryerContext { return s.rdb }

func (t *Tx) queryer() sqlx.QueryerContext { return t.tx }

// sel runs query in the transaction and scans its rows into dest.
func (t *Tx) sel(ctx context.Context, dest any, query string, args ...any) error {
	ctx = t.ctx(ctx)
	if err := t.flushFirst(ctx); err != nil {
		return err
	}
	if t.s.dialect != DialectSQLite {
		return t.tx.SelectContext(ctx, dest, t.s.q(query), args...)
	}
	st, err := t.stmt(ctx, query)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlx.StructScan(rows, dest)
}

// writeBehind collects a Writer batch's hot rows so that they go in as a few
// multi-row INSERTs instead of several statements per op: on SQLite a
// statement costs more than a row. Only a Writer's first, savepoint-less
// pass over a batch uses it. Any other statement flushes it first, so every
// statement sees the rows buffered before it. A flush failing, or inserting
// fewer messages or visits than buffered (a duplicate message, a visit
// already stored, which take other paths), is an error of the batch: the
// Writer then re-runs it op by op without write-behind, where each op gets
// its own outcome.
type writeBehind struct {
	clients, messages, bodies, visits, staff, insatser, reconcile rowBuf
	flushing                                                      bool
	stmts                                                         []batchStmt // a flush's, reused
}

// queries are the flush's statements, for a Writer to prepare before its
// first batch: its multi-row inserts are long, and parsing them cost more
// than a row does.
func (w *writeBehind) queries() []string {
	var qs []string
	for _, b := range w.bufs() {
		for _, n := range wbChunks {
			qs = append(qs, multiRowSuffix(b.prefix, n, b.suffix))
		}
	}
	return qs
}

// errWriteBehindConflict is a flush that inserted fewer rows than buffered.
var errWriteBehindConflict = errors.New("write-behind: a buffered row already exists")

// rowBuf is one table's buffered rows.
type rowBuf struct {
	prefix, suffix string // INSERT ... VALUES and what follows the rows
	cols           int
	strict         bool // every row must be inserted
	args           []any
}

func newWriteBehind() *writeBehind {
	return &writeBehind{
		clients:   rowBuf{prefix: qEnsureClientsPrefix, suffix: qEnsureClientsSuffix, cols: 6},
		messages:  rowBuf{prefix: qInsertMessagesPrefix, suffix: qInsertMessagesSuffix, cols: 13, strict: true},
		bodies:    rowBuf{prefix: qInsertBodiesPrefix, cols: 2},
		visits:    rowBuf{prefix: qInsertVisitsPrefix, suffix: qInsertVisitsSuffix, cols: 27, strict: true},
		staff:     rowBuf{prefix: qInsertVisitStaff, cols: 5},
		insatser:  rowBuf{prefix: qInsertVisitInsats, cols: 7},
		reconcile: rowBuf{prefix: qQueueReconcilePrefix, suffix: qQueueReconcileSuffix, cols: 5},
	}
}

// bufs are the buffers in the order a flush inserts them: a row's parent
// before it.
func (w *writeBehind) bufs() [7]*rowBuf {
	return [...]*rowBuf{&w.clients, &w.messages, &w.bodies, &w.visits, &w.staff, &w.insatser, &w.reconcile}
}

// reset empties every buffer, e.g. after a failed batch left rows behind.
func (w *writeBehind) reset() {
	for _, b := range w.bufs() {
		clear(b.args)
		b.args = b.args[:0]
	}
}

func (b *rowBuf) add(row ...any) { b.args = append(b.args, row...) }

func (w *writeBehind) pending() bool {
	for _, b := range w.bufs() {
		if len(b.args) > 0 {
			return true
		}
	}
	return false
}

// addChildren buffers rows (cols values each) prefixed with visitID.
func (w *writeBehind) addChildren(b *rowBuf, visitID string, rows []any, cols int) {
	for i := 0; i < len(rows); i += cols {
		b.args = append(b.args, visitID)
		b.args = append(b.args, rows[i:i+cols]...)
	}
}

const (
	qQueueReconcilePrefix = `INSERT INTO reconcile_days (client_id, local_date, provider_ref, reason, queued_at) VALUES `
	// As queueReconcile's: a client-day queued again takes the newest reason and time. A
	// flush holds each client-day once (Tx.queued), as an upsert of several rows must.
	qQueueReconcileSuffix = ` ON CONFLICT (client_id, local_date, provider_ref)
		DO UPDATE SET reason = excluded.reason, queued_at = excluded.queued_at`
)

// wbChunks are the row counts of the multi-row statements a flush runs,
// largest first: a batch prepares each at most once and runs the largest
// many times. 64 rows of the widest table (visits, 27 columns) are 1,728
// variables, far below SQLite's 32,766 and PostgreSQL's 65,535.
var wbChunks = [...]int{64, 16, 4, 1}

// flush inserts the buffered rows, parents before children, as one batch
// of statements (execBatch: one round trip on PostgreSQL), and empties the
// buffers.
func (t *Tx) flush(ctx context.Context) error {
	w := t.wb
	w.flushing = true // the inserts below must not recurse into flush
	defer func() { w.flushing = false }()
	defer w.reset() // drop references to bodies; on failure the batch is re-run without them
	stmts := w.stmts[:0]
	for _, b := range w.bufs() {
		rows := len(b.args) / b.cols
		args := b.args
		for _, chunk := range wbChunks {
			for rows >= chunk {
				st := batchStmt{query: multiRowSuffix(b.prefix, chunk, b.suffix), args: args[:chunk*b.cols], want: -1}
				if b.strict {
					st.want = int64(chunk)
				}
				stmts = append(stmts, st)
				args = args[chunk*b.cols:]
				rows -= chunk
			}
		}
	}
	w.stmts = stmts
	defer clear(w.stmts)
	if err := t.execBatch(ctx, stmts); err != nil {
		if errors.Is(err, errBatchRowsAffected) {
			return errWriteBehindConflict
		}
		return fmt.Errorf("write-behind: %w", err)
	}
	return nil
}

// savepoint runs fn inside a savepoint, rolling back only fn's writes when it
// fails or panics.
func (t *Tx) savepoint(ctx context.Context, fn func(*Tx) error) (err error) {
	ctx = context.WithoutCancel(ctx)
	if _, err := t.exec(ctx, "SAVEPOINT op"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errWriterOpPanic, r)
		}
		if err != nil {
			clear(t.clients)
			clear(t.queued)
			if _, rerr := t.exec(ctx, "ROLLBACK TO SAVEPOINT op"); rerr != nil {
				err = fmt.Errorf("%w (and roll back savepoint: %v)", err, rerr)
				return
			}
		}
		if _, rerr := t.exec(ctx, "RELEASE SAVEPOINT op"); rerr != nil && err == nil {
			err = fmt.Errorf("release savepoint: %w", rerr)
		}
	}()
	return fn(t)
}

// write runs fn in a transaction of its own; the Store's write methods use it.
func (s *Store) write(ctx context.Context, fn func(*Tx) error) error {
	return s.Tx(ctx, fn)
}

// newID returns a UUIDv7: unique, and ordered by creation time, which keeps
// B-tree inserts at the right-hand edge.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// timeLayout is how times are written: fixed-width UTC with microseconds, so
// that SQLite TEXT columns sort in time order and PostgreSQL timestamptz
// (microsecond precision) round-trips exactly.
const timeLayout = "2006-01-02T15:04:05.000000Z"

var errNoRows = sql.ErrNoRows

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// nullTime scans a time from either dialect: time.Time from PostgreSQL, TEXT
// from SQLite.
type nullTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		n.Time, n.Valid = time.Time{}, false
		return nil
	case time.Time:
		n.Time, n.Valid = x.UTC(), true
		return nil
	case string:
		return n.parse(x)
	case []byte:
		return n.parse(string(x))
	}
	return fmt.Errorf("scan time: unsupported type %T", v)
}

func (n *nullTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	n.Time, n.Valid = t.UTC(), true
	return nil
}

func (n nullTime) ptr() *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time
	return &t
}

// dateValue scans a calendar date (YYYY-MM-DD) from either dialect.
type dateValue string

// Scan implements sql.Scanner.
func (d *dateValue) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d = ""
	case time.Time:
		*d = dateValue(x.Format(time.DateOnly))
	case string:
		*d = dateValue(x)
	case []byte:
		*d = dateValue(x)
	default:
		return fmt.Errorf("scan date: unsupported type %T", v)
	}
	return nil
}
