package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// pgEnv names the variable with the PostgreSQL DSN the tests use; .ci/pgtest.sh prints it.
const pgEnv = "KNUT_TEST_POSTGRES_DSN"

// testOptions are the store options every test uses: fixed, obviously fake keys.
func testOptions() store.Options {
	return store.Options{
		PersonIDKey:           bytes.Repeat([]byte("k"), 32),
		PersonIDEncryptionKey: bytes.Repeat([]byte("e"), 32),
		// The stores' tests date their orders' events in the winter of 2026-27: on this
		// day all of them are in force. TestOrderEffectiveDates moves its own clock.
		Clock: func() time.Time { return time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC) },
	}
}

// testDB is one fresh, empty database of one dialect.
type testDB struct {
	dialect string
	dsn     string
	// raw is a plain database/sql handle on the same database, for checks
	// that look beneath the Store's API.
	raw *sql.DB
	// schema is the PostgreSQL schema the database lives in ("" for SQLite).
	schema string
}

// dialects lists the dialects every suite runs on.
var dialects = []string{store.DialectSQLite, store.DialectPostgres}

// newTestDB makes a fresh database: a file in t.TempDir() for SQLite, a
// schema of its own (dropped in t.Cleanup) for PostgreSQL. Without
// KNUT_TEST_POSTGRES_DSN the PostgreSQL case skips, or fails when CI=true.
func newTestDB(t testing.TB, dialect string) testDB {
	t.Helper()
	switch dialect {
	case store.DialectSQLite:
		path := filepath.Join(t.TempDir(), "knut.db")
		raw, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return testDB{dialect: dialect, dsn: path, raw: raw}
	case store.DialectPostgres:
		base := os.Getenv(pgEnv)
		if base == "" {
			msg := pgEnv + ` is not set, so the PostgreSQL tests cannot run; start a throwaway cluster with: eval "$(bash .ci/pgtest.sh)"`
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		var rb [6]byte
		_, _ = rand.Read(rb[:])
		schema := "knut_test_" + hex.EncodeToString(rb[:])
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
			admin.Close()
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
			admin.Close()
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parse %s: %v", pgEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		raw, err := sql.Open("pgx", u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return testDB{dialect: dialect, dsn: u.String(), raw: raw, schema: schema}
	}
	t.Fatalf("unknown dialect %q", dialect)
	return testDB{}
}

// open opens a Store on db with testOptions, closed in t.Cleanup.
func (db testDB) open(t testing.TB) *store.Store {
	t.Helper()
	return db.openWith(t, testOptions())
}

func (db testDB) openWith(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.OpenWith(context.Background(), db.dsn, opts)
	if err != nil {
		t.Fatalf("OpenWith(%s): %v", db.dialect, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// forEachDialect runs fn as a subtest per dialect, each on a fresh store.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *store.Store, db testDB)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			db := newTestDB(t, d)
			fn(t, db.open(t), db)
		})
	}
}

// columns returns the logical schema of db: table → sorted "column TYPE [not null]"
// entries, leaving out goose's own table. TYPE is the SQLite storage class
// (TEXT, INTEGER, BLOB); PostgreSQL types are mapped to the class the SQLite
// migration uses for them, and PostgreSQL's time and date columns are checked
// against the naming convention (*_at is timestamptz, local_date is date),
// since both are TEXT in SQLite.
func (db testDB) columns(t testing.TB) map[string][]string {
	t.Helper()
	var q string
	var args []any
	switch db.dialect {
	case store.DialectSQLite:
		q = `SELECT m.name, p.name, p.type, p."notnull" OR p.pk > 0
			FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`
	default:
		q = `SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns
			WHERE table_schema = $1 AND table_name <> 'goose_db_version'`
		args = []any{db.schema}
	}
	pgClass := map[string]string{
		"text": "TEXT", "jsonb": "TEXT", "timestamp with time zone": "TEXT", "date": "TEXT",
		"integer": "INTEGER", "bigint": "INTEGER", "boolean": "INTEGER", "bytea": "BLOB",
	}
	rows, err := db.raw.Query(q, args...)
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var table, col, typ string
		var notNull bool
		if err := rows.Scan(&table, &col, &typ, &notNull); err != nil {
			t.Fatal(err)
		}
		if db.dialect == store.DialectPostgres {
			switch {
			case strings.HasSuffix(col, "_at") && typ != "timestamp with time zone":
				t.Errorf("postgres %s.%s is %s, want timestamptz", table, col, typ)
			case col == "local_date" && typ != "date":
				t.Errorf("postgres %s.%s is %s, want date", table, col, typ)
			}
			class, ok := pgClass[typ]
			if !ok {
				t.Errorf("postgres %s.%s has unmapped type %s", table, col, typ)
			}
			typ = class
		}
		e := col + " " + typ
		if notNull {
			e += " not null"
		}
		out[table] = append(out[table], e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, cols := range out {
		sort.Strings(cols)
	}
	return out
}

func TestOpenMigratesAndReopens(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			db := newTestDB(t, d)
			s1 := db.open(t)
			if got := s1.Dialect(); got != d {
				t.Errorf("Dialect() = %q, want %q", got, d)
			}
			want := db.columns(t)
			for _, table := range []string{"messages", "attempts", "dead_letters", "clients", "visits"} {
				if len(want[table]) == 0 {
					t.Errorf("after migrate: table %s missing", table)
				}
			}
			// A second store on the same database, while the first is open.
			s2 := db.open(t)
			if _, err := s2.Counts(context.Background()); err != nil {
				t.Fatalf("Counts on second store: %v", err)
			}
			if diff := cmp.Diff(want, db.columns(t)); diff != "" {
				t.Errorf("schema changed by a second Open (-first +second):\n%s", diff)
			}
		})
	}
}

func TestOpenWithoutKeysRejectsPersonData(t *testing.T) {
	db := newTestDB(t, store.DialectSQLite)
	s, err := store.Open(context.Background(), db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.UpsertVisit(context.Background(), sampleVisit(t))
	if err == nil || !strings.Contains(err.Error(), store.ErrNoPersonIDKeys.Error()) {
		t.Errorf("UpsertVisit without keys: err = %v, want ErrNoPersonIDKeys", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		dsn  string
		opts store.Options
	}{
		{"in-memory sqlite", ":memory:", store.Options{}},
		{"short hash key", filepath.Join(dir, "a.db"), store.Options{PersonIDKey: []byte("short"), PersonIDEncryptionKey: bytes.Repeat([]byte("e"), 32)}},
		{"equal keys", filepath.Join(dir, "b.db"), store.Options{PersonIDKey: bytes.Repeat([]byte("k"), 32), PersonIDEncryptionKey: bytes.Repeat([]byte("k"), 32)}},
		{"bad synchronous", filepath.Join(dir, "c.db"), store.Options{SQLiteSynchronous: "SOMETIMES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.OpenWith(context.Background(), tt.dsn, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("OpenWith(%q) succeeded, want an error", tt.dsn)
			}
		})
	}
}

func TestMigrationsSameLogicalSchema(t *testing.T) {
	got := map[string]map[string][]string{}
	for _, d := range dialects {
		db := newTestDB(t, d)
		db.open(t)
		got[d] = db.columns(t)
	}
	if diff := cmp.Diff(got[store.DialectSQLite], got[store.DialectPostgres]); diff != "" {
		t.Errorf("SQLite and PostgreSQL migrations differ in tables, columns or nullability (-sqlite +postgres):\n%s", diff)
	}
}

func TestSQLiteDSNForms(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "plain.db"),
		"sqlite:" + filepath.Join(dir, "prefixed.db"),
		"file:" + filepath.Join(dir, "file.db"),
		filepath.Join(dir, "params.db") + "?_pragma=cache_size(-4000)",
	} {
		s, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Errorf("Open(%q): %v", dsn, err)
			continue
		}
		if s.Dialect() != store.DialectSQLite {
			t.Errorf("Open(%q).Dialect() = %q", dsn, s.Dialect())
		}
		s.Close()
	}
}
