package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Dialect names returned by (*Store).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Errors callers branch on.
var (
	// ErrNotFound is returned when the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by a Writer after Close.
	ErrClosed = errors.New("store writer closed")
	// ErrNoPersonIDKeys is returned by client and visit writes when the
	// Store was opened without Options.PersonIDKey and
	// Options.PersonIDEncryptionKey: without them a person id can be
	// neither looked up nor stored, and storing it in clear is not an option.
	ErrNoPersonIDKeys = errors.New("store opened without person id keys")
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// Options configure a Store beyond its DSN.
type Options struct {
	// PersonIDKey is the HMAC-SHA256 key for the person id lookup hash
	// (clients.person_id_hash). At least 32 bytes. Changing it orphans every
	// stored hash, so it is as long-lived as the database.
	PersonIDKey []byte
	// PersonIDEncryptionKey is the AES-256-GCM key that encrypts person ids
	// at rest (clients.person_id_enc). Exactly 32 bytes, and different from
	// PersonIDKey.
	PersonIDEncryptionKey []byte
	// SQLiteSynchronous is PRAGMA synchronous for SQLite: "FULL" (default:
	// a committed message survives power loss, which is what lets a source
	// acknowledge its vendor) or "NORMAL" (durable against a process crash
	// only; faster). Ignored for PostgreSQL.
	SQLiteSynchronous string
	// SQLiteReadConns is the size of the SQLite read pool (default
	// GOMAXPROCS, at least 2). Writes always use one connection.
	SQLiteReadConns int
	// Clock tells the store what day it is (in Europe/Stockholm) when it
	// folds an order's timeline to today; time.Now when nil. Tests and the
	// demo set it.
	Clock func() time.Time
}

// Store is the hub's own database: the message log and the canonical
// entities. It is safe for concurrent use. With SQLite, all writes go through
// one connection (SQLite allows one writer at a time; a pool would only turn
// that into SQLITE_BUSY retries) and reads through a separate pool that WAL
// lets run beside the writer.
type Store struct {
	dialect string
	wdb     *sqlx.DB  // writes; for SQLite a pool of exactly one connection
	rdb     *sqlx.DB  // reads; the same as wdb for PostgreSQL
	reads   readStmts // SQLite: rdb's prepared statements
	pid     *personIDCodec
	path    string // the SQLite file; empty for PostgreSQL
	clock   func() time.Time
	sync    string // SQLite's synchronous level for durable commits
	// lazySync: the SQLite write connection is at the lazy level (see
	// setSyncLevel).
	lazySync bool

	rebindMu sync.RWMutex
	rebound  map[string]string

	writersMu sync.Mutex
	writers   map[*Writer]struct{}

	// SQLite only: WAL checkpoints run on their own connection and
	// goroutine (checkpoint.go), off the writer's commit path.
	ckdb     *sql.DB
	ckpt     chan struct{}
	ckptStop chan struct{}
	ckptDone chan struct{}
}

// Open opens the store at dsn without person id keys; see OpenWith.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// Today is the date in Europe/Stockholm by the store's clock (Options.Clock).
func (s *Store) Today() homecare.Date { return homecare.LocalDate(s.clock()) }

// Now is the time by the store's clock (Options.Clock).
func (s *Store) Now() time.Time { return s.clock() }

// OpenWith opens the store at dsn and migrates it up to the newest embedded
// migration.
//
// A dsn starting with postgres:// or postgresql:// opens PostgreSQL through
// pgx; anything else is a SQLite file path, optionally prefixed with
// "sqlite:" or "file:" and followed by "?driver-params". SQLite is opened in
// WAL mode with foreign keys on, a busy timeout, and synchronous=FULL unless
// opts say otherwise. Opening the same database twice, or concurrently from
// several processes on PostgreSQL, is safe: migrations already applied are
// skipped, and on PostgreSQL an advisory lock serialises migrators.
func OpenWith(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s := &Store{rebound: map[string]string{}, writers: map[*Writer]struct{}{}, clock: opts.Clock}
	if s.clock == nil {
		s.clock = time.Now
	}
	if len(opts.PersonIDKey) > 0 || len(opts.PersonIDEncryptionKey) > 0 {
		pid, err := newPersonIDCodec(opts.PersonIDKey, opts.PersonIDEncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.pid = pid
	}

	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect = DialectPostgres
		err = s.openPostgres(ctx, dsn)
	} else {
		s.dialect = DialectSQLite
		err = s.openSQLite(ctx, dsn, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("open store (%s): %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.closeDBs()
		return nil, fmt.Errorf("open store (%s): %w", s.dialect, err)
	}
	return s, nil
}

func (s *Store) openPostgres(ctx context.Context, dsn string) error {
	db, err := sqlx.Open("pgx", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(max(8, 2*runtime.GOMAXPROCS(0)))
	db.SetMaxIdleConns(max(8, 2*runtime.GOMAXPROCS(0)))
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("ping: %w", err)
	}
	s.wdb, s.rdb = db, db
	return nil
}

func (s *Store) openSQLite(ctx context.Context, dsn string, opts Options) error {
	path := dsn
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(path, p) {
			path = strings.TrimPrefix(path, p)
			break
		}
	}
	var userParams string
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, userParams = path[:i], path[i+1:]
	}
	if path == "" || path == ":memory:" || strings.Contains(path, "mode=memory") {
		return errors.New("sqlite needs a file path: a private in-memory database cannot be shared by the read and write pools")
	}
	s.path = path
	sync := strings.ToUpper(opts.SQLiteSynchronous)
	if up, err := url.ParseQuery(userParams); err == nil && up.Get("_synchronous") != "" {
		sync = strings.ToUpper(up.Get("_synchronous")) // the DSN's wins, see below
	}
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL", "EXTRA", "OFF":
	default:
		return fmt.Errorf("sqlite synchronous %q: want FULL, NORMAL or EXTRA", sync)
	}
	s.sync = sync

	// User parameters come first: for the shorthand keys the driver takes the
	// first value, so a DSN can override these defaults.
	base := url.Values{}
	base.Set("_journal_mode", "WAL")
	base.Set("_busy_timeout", "10000")
	base.Set("_foreign_keys", "1")
	base.Set("_synchronous", sync)
	// Savepoints (one per Writer op) keep their undo pages in the statement
	// journal; in a temp file that is one pwrite per page touched. In memory
	// it costs nothing. The writer's 16 MiB page cache holds a batch's dirty
	// pages and the hot index pages until commit (64 MiB was no faster and
	// cost 90 MiB of RSS in `knut import`); readers keep SQLite's 2 MiB.
	base.Add("_pragma", "temp_store(MEMORY)")
	pre := ""
	if userParams != "" {
		pre = userParams + "&"
	}

	w := url.Values{}
	for k, v := range base {
		w[k] = v
	}
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails half-way with SQLITE_BUSY when another process writes too.
	w.Set("_txlock", "immediate")
	w.Add("_pragma", "cache_size(-16384)")
	// Commits do not checkpoint; checkpointLoop does, concurrently.
	w.Add("_pragma", "wal_autocheckpoint(0)")
	wdb, err := sqlx.Open("sqlite", path+"?"+pre+w.Encode())
	if err != nil {
		return err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// The write connection creates the file and switches it to WAL before
	// any reader opens it.
	if err := wdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		return fmt.Errorf("ping: %w", err)
	}

	r := url.Values{}
	for k, v := range base {
		r[k] = v
	}
	r.Set("_query_only", "1")
	rdb, err := sqlx.Open("sqlite", path+"?"+pre+r.Encode())
	if err != nil {
		_ = wdb.Close()
		return err
	}
	n := opts.SQLiteReadConns
	if n <= 0 {
		n = max(2, runtime.GOMAXPROCS(0))
	}
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)

	ck, err := sql.Open("sqlite", path+"?"+pre+base.Encode())
	if err != nil {
		_ = wdb.Close()
		_ = rdb.Close()
		return err
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxIdleTime(0)
	ck.SetConnMaxLifetime(0)
	s.wdb, s.rdb, s.ckdb = wdb, rdb, ck
	s.reads.db = rdb
	s.startCheckpoints()
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	p, err := s.migrations()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// migrations are the dialect's embedded migrations on the store.
func (s *Store) migrations() (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFS, "migrations/"+s.dialect)
	if err != nil {
		return nil, err
	}
	gd := goose.DialectSQLite3
	var popts []goose.ProviderOption
	if s.dialect == DialectPostgres {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.wdb.DB, sub, popts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Dialect reports which database the store runs on: DialectSQLite or
// DialectPostgres. Callers use it for reporting only; the API is the same.
func (s *Store) Dialect() string { return s.dialect }

// Close closes every Writer made by NewWriter that is still open (committing
// what they hold), then the database.
func (s *Store) Close() error {
	s.writersMu.Lock()
	ws := make([]*Writer, 0, len(s.writers))
	for w := range s.writers {
		ws = append(ws, w)
	}
	s.writersMu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.Close())
	}
	errs = append(errs, s.closeDBs())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func (s *Store) closeDBs() error {
	var err error
	if s.ckdb != nil {
		err = s.stopCheckpoints()
	}
	s.reads.close()
	err = errors.Join(err, s.wdb.Close())
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// q returns query with its ? placeholders rewritten for the dialect.
// Queries are package constants, so the cache stays small.
func (s *Store) q(query string) string {
	if s.dialect == DialectSQLite {
		return query
	}
	s.rebindMu.RLock()
	r, ok := s.rebound[query]
	s.rebindMu.RUnlock()
	if ok {
		return r
	}
	r = sqlx.Rebind(sqlx.DOLLAR, query)
	s.rebindMu.Lock()
	s.rebound[query] = r
	s.rebindMu.Unlock()
	return r
}

// Tx runs fn in one transaction and commits it if fn returns nil; otherwise
// it rolls back and returns fn's error. Use it to make several writes atomic;
// for many small independent writes from many goroutines use a Writer, which
// shares one commit among them. With SQLite, fn holds the only write
// connection: it must not call the Store's own write methods (use tx's).
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	conn, err := s.wdb.Connx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	if s.dialect == DialectSQLite {
		// A Writer's lazy batch may have left the connection lazy.
		if err := s.setSyncLevel(ctx, conn, false); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	sqltx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := newTx(s, sqltx, false)
	defer func() {
		if r := recover(); r != nil {
			tx.release()
			_ = sqltx.Rollback()
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		tx.release()
		_ = sqltx.Rollback()
		return err
	}
	tx.release()
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.committed()
	return nil
}

// get runs a one-row read on the read pool and maps sql.ErrNoRows to ErrNotFound.
func (s *Store) get(ctx context.Context, dest any, query string, args ...any) error {
	var err error
	if st, perr := s.readStmt(ctx, query); perr != nil {
		err = perr
	} else if st != nil {
		err = st.GetContext(ctx, dest, args...)
	} else {
		err = s.rdb.GetContext(ctx, dest, s.q(query), args...)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func (s *Store) sel(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return err
	}
	if st != nil {
		return st.SelectContext(ctx, dest, args...)
	}
	return s.rdb.SelectContext(ctx, dest, s.q(query), args...)
}

// readStmt returns query prepared on the SQLite read pool, or nil where
// there is no cache (PostgreSQL) or it is full.
func (s *Store) readStmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if s.reads.db == nil {
		return nil, nil
	}
	return s.reads.stmt(ctx, query)
}
