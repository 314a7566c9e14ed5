package store

import (
	"context"
	"database/sql"
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
	// detached makes statements ignore the caller's cancellation. A Writer
	// sets it: its transaction is shared, and with pgx a query cancelled
	// mid-flight breaks the connection and so the whole batch.
	detached bool
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
	st, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt, 16)
	}
	t.stmts[query] = st
	return st, nil
}

func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
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
	if t.s.dialect == DialectSQLite {
		st, err := t.stmt(ctx, query)
		if err != nil {
			return err
		}
		return st.QueryRowContext(ctx, args...).Scan(dest...)
	}
	return t.tx.QueryRowContext(ctx, t.s.q(query), args...).Scan(dest...)
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
