package store

import "context"

// What the tests of package store_test may see of the insides.

// SyncLevel is the durability the transaction will commit with, as the
// database reports it: SQLite's PRAGMA synchronous (1 NORMAL, 2 FULL, 3
// EXTRA), PostgreSQL's synchronous_commit (on, off).
func (t *Tx) SyncLevel(ctx context.Context) (string, error) {
	q := "PRAGMA synchronous"
	if t.s.dialect == DialectPostgres {
		q = "SHOW synchronous_commit"
	}
	var level string
	err := t.tx.QueryRowContext(ctx, q).Scan(&level)
	return level, err
}

// QueryInt runs a query of one integer in the transaction, through its
// statement cache.
func (t *Tx) QueryInt(ctx context.Context, query string) (n int, err error) {
	err = t.queryRow(ctx, query, nil, &n)
	return n, err
}

// Queued is how many ops wait for the Writer's batch loop.
func (w *Writer) Queued() int { return len(w.ops) + len(w.bulk) }

// Cached reports whether query is prepared on the Writer's connection and
// how many statements are. Call it from an op: the cache is the Writer
// goroutine's.
func (w *Writer) Cached(query string) (bool, int) {
	return w.conn.m[query] != nil, len(w.conn.m)
}

const MaxCachedStmts = maxCachedStmts

// MigrateDownTo migrates the store down to version.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.migrations()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// MigrateUp migrates the store up to the newest migration.
func (s *Store) MigrateUp(ctx context.Context) error { return s.migrate(ctx) }

// ExecRaw runs a statement outside the Store's API, as someone with the
// database file would: the tests of the audit trail's tamper checks use
// it to get past the triggers.
func (s *Store) ExecRaw(ctx context.Context, query string) error {
	_, err := s.wdb.ExecContext(ctx, query)
	return err
}
