package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// maxCachedStmts bounds each statement cache. The store's queries are
// constants in this package (multi-row inserts come in a few fixed sizes),
// so a few hundred is every one of them; a query built some other way
// beyond the bound is prepared and closed each time, as before.
const maxCachedStmts = 512

// connStmts are statements prepared once on the Writer's SQLite connection.
// modernc's driver parses a statement each time one is prepared, and a
// transaction's prepared statements die with it, so without this every
// batch re-parsed every query it ran: with a few orders per batch that was
// an eighth of the hub's CPU and most of an order's latency.
//
// The write pool has one connection, which a batch holds: a statement
// cannot be prepared outside the transaction while it runs. So a batch
// notes the queries it missed and the Writer prepares them (learn) between
// batches, when the connection is free. Only the Writer's goroutine uses
// it.
type connStmts struct {
	db     *sql.DB
	m      map[string]*sql.Stmt
	missed []string
}

func newConnStmts(db *sql.DB) *connStmts {
	return &connStmts{db: db, m: make(map[string]*sql.Stmt)}
}

// lookup returns query's statement prepared on the connection, or nil after
// noting the miss for learn.
func (c *connStmts) lookup(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if st := c.m[query]; st != nil {
		return st
	}
	if len(c.m)+len(c.missed) < maxCachedStmts {
		c.missed = append(c.missed, query)
	}
	return nil
}

// learn prepares the queries missed since the last learn. It must run with
// the connection free, between transactions. A query that fails to prepare
// is left out: the next batch prepares it in its transaction and gets the
// error there, with its op.
func (c *connStmts) learn(ctx context.Context) {
	for _, q := range c.missed {
		c.prepare(ctx, q)
	}
	clear(c.missed)
	c.missed = c.missed[:0]
}

func (c *connStmts) prepare(ctx context.Context, query string) {
	if c.m[query] != nil || len(c.m) >= maxCachedStmts {
		return
	}
	if st, err := c.db.PrepareContext(ctx, query); err == nil {
		c.m[query] = st
	}
}

func (c *connStmts) close() {
	for _, st := range c.m {
		_ = st.Close()
	}
	clear(c.m)
}

// readStmts are the read pool's prepared statements. database/sql prepares
// a pool statement on each connection the first time it runs there and keeps
// it, so a read costs no parse once every connection has seen the query.
// Only SQLite uses it: pgx caches prepared statements itself.
type readStmts struct {
	db *sqlx.DB
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// stmt returns query prepared on the pool, or nil if the cache is full, or
// the error of preparing it.
func (r *readStmts) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.m[query]; st != nil {
		return st, nil
	}
	if len(r.m) >= maxCachedStmts {
		return nil, nil
	}
	st, err := r.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if r.m == nil {
		r.m = make(map[string]*sqlx.Stmt)
	}
	r.m[query] = st
	return st, nil
}

func (r *readStmts) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.m {
		_ = st.Close()
	}
	clear(r.m)
}
