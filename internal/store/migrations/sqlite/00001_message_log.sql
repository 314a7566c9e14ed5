-- The message log: every message received, every processing attempt, every
-- dead letter. Keep this file and ../postgres/00001_message_log.sql equal in
-- meaning; TestMigrationsSameLogicalSchema compares them.
--
-- SQLite types: times are TEXT in fixed-width UTC RFC 3339 with microseconds
-- ("2006-01-02T15:04:05.000000Z"), so they sort as strings; booleans are
-- INTEGER 0/1.

-- +goose Up
CREATE TABLE messages (
    id             TEXT    NOT NULL PRIMARY KEY,
    pipeline       TEXT    NOT NULL DEFAULT '',
    source_adapter TEXT    NOT NULL DEFAULT '',
    source_system  TEXT    NOT NULL DEFAULT '',
    external_id    TEXT    NOT NULL DEFAULT '',
    caller         TEXT    NOT NULL DEFAULT '',
    content_type   TEXT    NOT NULL DEFAULT '',
    headers        TEXT    NOT NULL DEFAULT '{}',
    body           BLOB    NOT NULL,
    sha256         TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    received_at    TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'received'
                   -- OR rather than IN (...): SQLite evaluates an IN list against a
                   -- value through a temporary table, on every insert and update.
                   CHECK (status = 'received' OR status = 'processed' OR status = 'dead' OR status = 'replayed'),
    updated_at     TEXT    NOT NULL
);
-- Idempotency: one message per (source_system, external_id) when the sender gave both.
CREATE UNIQUE INDEX messages_source_key ON messages (source_system, external_id)
    WHERE source_system <> '' AND external_id <> '';
CREATE INDEX messages_received ON messages (received_at, id);
CREATE INDEX messages_status_pipeline ON messages (status, pipeline);

CREATE TABLE attempts (
    id         TEXT    NOT NULL PRIMARY KEY,
    message_id TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    pipeline   TEXT    NOT NULL,
    step       TEXT    NOT NULL,
    attempt_no INTEGER NOT NULL,
    error      TEXT,
    at         TEXT    NOT NULL,
    UNIQUE (message_id, pipeline, step, attempt_no)
);

CREATE TABLE dead_letters (
    id                  TEXT NOT NULL PRIMARY KEY,
    message_id          TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    pipeline            TEXT NOT NULL,
    step                TEXT NOT NULL,
    field               TEXT NOT NULL DEFAULT '',
    reason              TEXT NOT NULL,
    at                  TEXT NOT NULL,
    resolved_at         TEXT,
    replayed_message_id TEXT REFERENCES messages (id)
);
CREATE INDEX dead_letters_message ON dead_letters (message_id);
CREATE INDEX dead_letters_pipeline_at ON dead_letters (pipeline, at);
CREATE INDEX dead_letters_replayed ON dead_letters (replayed_message_id);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE attempts;
DROP TABLE messages;
