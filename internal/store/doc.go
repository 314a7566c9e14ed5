// Package store is the hub's own database: the message log and the
// canonical home-care entities, over sqlx, on SQLite or PostgreSQL.
//
// # What is stored, and why
//
// The message log (migrations/*/00001_message_log.sql) keeps every message a
// source hands over, byte-exact with its headers and SHA-256, so that it can
// be audited and replayed; every processing attempt of every pipeline step;
// and every dead letter with the pipeline, step, field and reason that made
// the hub give up. A source acknowledges its vendor only after SaveInbound
// committed, so the log is the hub's durability boundary. Messages are
// idempotent on (source system, external id): the same vendor message stored
// twice is one row, and SaveInbound reports the duplicate (SaveResult), even
// when the two saves race.
//
// The canonical entities (migrations/*/00002_canonical.sql, DOMAIN.md §8a)
// are the current state that pipelines upsert: municipalities, providers,
// clients, staff, insats types, and visits with their staff and insatser.
// Every externally sourced row is keyed by (source_system, external_id), and
// every upsert is idempotent: UpsertVisit twice is one visit whose staff and
// insatser are exactly the last ones given. Visits refer to staff, providers
// and insats types by the references the message carried (HSA-ID, provider
// id, insats code), because TES data arrives before the directory sync.
//
// # Person ids
//
// A client's personnummer or samordningsnummer is never stored in clear.
// clients.person_id_hash is HMAC-SHA256 under Options.PersonIDKey: it is the
// lookup and join key (ClientByPersonID, and UpsertVisit finding the visit's
// client), and without the key it cannot be reversed by trying all numbers.
// clients.person_id_enc is the number under AES-256-GCM with
// Options.PersonIDEncryptionKey, bound to its hash as additional data, so
// the store can return it (Visit, ClientByPersonID). Client ids are derived
// from the hash (UUIDv5), so a visit needs no read to find its client. A
// Store opened without keys serves the message log and refuses person data
// (ErrNoPersonIDKeys).
//
// # Two dialects
//
// Open picks the dialect from the DSN: postgres:// or postgresql:// is
// PostgreSQL through pgx; anything else is a SQLite file (modernc.org/sqlite,
// pure Go). SQLite is the quick-start default: WAL, foreign keys on,
// synchronous=FULL (a durable commit survives power loss), one write connection (all
// writes are serialised anyway) beside a read pool, and WAL checkpoints on a
// connection of their own. PostgreSQL is for scale-out.
//
// Each dialect has its own goose migrations (migrations/sqlite,
// migrations/postgres), embedded and applied by Open. They differ only in
// types (TEXT times and INTEGER booleans in SQLite; timestamptz, boolean,
// bytea, jsonb in PostgreSQL); TestMigrationsSameLogicalSchema checks that
// both end with the same tables, columns and nullability. Queries are
// written once with ? placeholders and rebound for PostgreSQL.
//
// # Writes: Tx and Writer
//
// Every write method exists on *Tx (Store.Tx runs a function in one
// transaction) and, for convenience, on *Store in a transaction of its own.
// A durable commit costs an fsync, so one commit per message caps a SQLite
// hub at a few hundred messages a second. Writer is group commit: many
// goroutines call Writer.Do, their ops share one transaction and one commit,
// and an op that fails is rolled back alone (see Writer). knut import uses
// it; BenchmarkWriterVisits measures that path.
//
// Not every write needs its own fsync. Writer.Do commits durably: the hub
// answers a sender only after that. Writer.DoLazy commits without waiting
// for the disk (SQLite synchronous=NORMAL for that batch, PostgreSQL
// synchronous_commit off for that transaction): a crash of the process
// loses nothing, a power cut may take back the last lazy commits, and the
// next durable commit makes them durable too, as both write-ahead logs are
// written in order. The router commits processing lazily, because it can
// redo it from the durable message (see router.MessageLog).
//
// Statements are prepared once: the Writer keeps those of its SQLite
// connection, the read pool those of its connections (stmts.go). modernc's
// driver parses SQL on every prepare, and without the caches parsing was an
// eighth of the hub's CPU.
//
// # Tests
//
// One suite runs against SQLite (a file in t.TempDir) and PostgreSQL (a
// fresh schema per test, dropped afterwards). PostgreSQL needs
// KNUT_TEST_POSTGRES_DSN; without it those subtests skip, and fail when
// CI=true. A private throwaway cluster (run as root):
//
//	eval "$(bash .ci/pgtest.sh)"   # creates and starts it, exports the DSN
//	go test ./internal/store/
//	go test -run '^$' -bench WriterVisits ./internal/store/
//	bash .ci/pgtest.sh stop
package store
