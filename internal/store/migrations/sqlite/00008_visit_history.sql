-- Visits keep their history (issue 10). Keep this file and
-- ../postgres/00008_visit_history.sql equal in meaning.
--
-- visits is the current visit; source_version is the source's version of the
-- record (0 when it does not number them) and flags why the hub doubts it
-- (comma-separated homecare.VisitFlag). A change arrives as a new version
-- and is kept in visit_corrections, append-only: when, from which message,
-- which fields from what to what (sealed: the values may be personal data).
-- reconcile_days are the client-days a late record or a correction touched,
-- for the nightly reconciliation to read again.

-- +goose Up
ALTER TABLE visits ADD COLUMN source_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE visits ADD COLUMN flags TEXT NOT NULL DEFAULT '';

CREATE TABLE visit_corrections (
    id             TEXT    NOT NULL PRIMARY KEY,
    visit_id       TEXT    NOT NULL REFERENCES visits (id),
    seq            INTEGER NOT NULL,
    from_version   INTEGER NOT NULL,
    to_version     INTEGER NOT NULL,
    by_ref         TEXT    NOT NULL DEFAULT '',
    changed_at     TEXT    NOT NULL,
    changes_enc    BLOB    NOT NULL,
    UNIQUE (visit_id, seq)
);
-- +goose StatementBegin
CREATE TRIGGER visit_corrections_no_update BEFORE UPDATE ON visit_corrections
BEGIN
    SELECT RAISE(ABORT, 'visit_corrections is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER visit_corrections_no_delete BEFORE DELETE ON visit_corrections
BEGIN
    SELECT RAISE(ABORT, 'visit_corrections is append-only');
END;
-- +goose StatementEnd

CREATE TABLE reconcile_days (
    client_id    TEXT NOT NULL,
    local_date   TEXT NOT NULL,
    provider_ref TEXT NOT NULL,
    reason       TEXT NOT NULL,
    queued_at    TEXT NOT NULL,
    PRIMARY KEY (client_id, local_date, provider_ref)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE reconcile_days;
DROP TRIGGER visit_corrections_no_delete;
DROP TRIGGER visit_corrections_no_update;
DROP TABLE visit_corrections;
ALTER TABLE visits DROP COLUMN flags;
ALTER TABLE visits DROP COLUMN source_version;
