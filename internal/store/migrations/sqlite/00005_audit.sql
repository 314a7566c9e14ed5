-- The audit trail (DOMAIN.md §7.2, shaped after Inera's StoreLog) and the
-- signatures already seen on signed callbacks. Keep this file and
-- ../postgres/00005_audit.sql equal in meaning.
--
-- audit_log is append-only (the triggers refuse UPDATE and DELETE) and
-- hash-chained: each record's hash covers its fields and the previous
-- record's hash, so `knut audit verify` finds a record altered or removed
-- behind the triggers' back (a file edited, a trigger dropped). seq has no
-- gaps: records are appended under the store's one writer (SQLite) or an
-- advisory lock (PostgreSQL).
--
-- The client is kept as the clients table keeps it: the keyed lookup hash
-- and the encrypted number, never the clear personnummer; the log list
-- for one client (`knut audit list --client`) finds it by the hash.

-- +goose Up
CREATE TABLE audit_log (
    seq         INTEGER NOT NULL PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome = 'ok' OR outcome = 'denied'),
    resource    TEXT    NOT NULL DEFAULT '',
    client_hash BLOB,
    client_enc  BLOB,
    purpose     TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '',
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE INDEX audit_log_client ON audit_log (client_hash, seq) WHERE client_hash IS NOT NULL;
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_at ON audit_log (at);
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- A signed callback's signature, kept until its timestamp leaves the
-- accepted window: the same request sent again inside the window is
-- refused, also after a restart.
CREATE TABLE seen_signatures (
    scope      TEXT NOT NULL,
    signature  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (scope, signature)
);
CREATE INDEX seen_signatures_expires ON seen_signatures (expires_at);

-- A provider's callback names an order by its external id alone; the
-- hub looks up whose it is before it accepts the callback.
CREATE INDEX orders_external_id ON orders (external_id);

-- +goose Down
DROP INDEX orders_external_id;
DROP TABLE seen_signatures;
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
