// Package storetest gives tests that run the whole hub (the server and the
// CLI) a fresh database of each dialect the store supports: SQLite always,
// PostgreSQL on the cluster KNUT_TEST_POSTGRES_DSN names (eval "$(bash
// .ci/pgtest.sh)" starts a throwaway one). In CI (CI=true) a missing
// cluster is a failure, never a silent skip. The store's own tests work a
// level lower, on schemas (see internal/store's newTestDB).
package storetest

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver the store uses
)

// EnvPostgresDSN names the variable holding the test cluster's DSN.
const EnvPostgresDSN = "KNUT_TEST_POSTGRES_DSN"

// Database is one database to run a test on.
type Database struct {
	// Name is the dialect, for subtest names: "sqlite" or "postgres".
	Name string
	// DSN is a fresh PostgreSQL database, or "" for SQLite: the hub's
	// default, a file beside the test's knut.yaml.
	DSN string
}

// Databases are SQLite, and PostgreSQL when the test cluster is there: a
// fresh database of its own, dropped when the test ends.
func Databases(t testing.TB) []Database {
	t.Helper()
	dbs := []Database{{Name: "sqlite"}}
	if base := Cluster(t); base != "" {
		dbs = append(dbs, Database{Name: "postgres", DSN: FreshPostgres(t, base)})
	}
	return dbs
}

// Cluster returns the test cluster's DSN, or "" after logging how to start
// one; in CI it fails the test instead.
func Cluster(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	switch {
	case dsn != "":
	case os.Getenv("CI") == "true":
		t.Error(EnvPostgresDSN + " is not set: CI must run the PostgreSQL tests (.ci/run starts a cluster)")
	default:
		t.Log(EnvPostgresDSN + ` not set: skipping PostgreSQL (eval "$(bash .ci/pgtest.sh)" to run it)`)
	}
	return dsn
}

// FreshPostgres creates an empty database on the server at dsn for this
// test alone and drops it when the test ends.
func FreshPostgres(t testing.TB, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("knut_test_%d", rand.Uint64())
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
