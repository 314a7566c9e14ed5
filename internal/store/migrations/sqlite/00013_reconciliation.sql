-- Reconciliation of executed hours (issue 13): the runs and their lines.
-- Keep this file and ../postgres/00013_reconciliation.sql equal in meaning.
--
-- reconcile_runs: one run over local days period_from..period_to under one
-- rule set (name and hash); superseded_by is set on an earlier run whose
-- days a later finished run holds all of: it and its lines are kept for
-- audit. A run with no finished_at failed or is running, and is read by no
-- report. seq orders runs: the current line of a day is the one of the
-- latest finished run that covers it.
-- reconcile_lines: one per client × provider × insats category × local day
-- (kind day) and per client × provider × category over the run (kind
-- period), in seconds and öre; no personal data (client_id is the store's
-- key).
-- lock_events gains an index on occurred_at that covers what the run reads of
-- each day's events (no table row is read).

-- +goose Up
CREATE TABLE reconcile_runs (
    id            TEXT    NOT NULL PRIMARY KEY,
    seq           INTEGER NOT NULL UNIQUE,
    period_from   TEXT    NOT NULL,
    period_to     TEXT    NOT NULL,
    ruleset_name  TEXT    NOT NULL,
    ruleset_hash  TEXT    NOT NULL,
    trigger_kind  TEXT    NOT NULL,
    started_at    TEXT    NOT NULL,
    finished_at   TEXT,
    watermark     TEXT,
    superseded_by TEXT    REFERENCES reconcile_runs (id),
    lines         INTEGER NOT NULL DEFAULT 0,
    summary       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX reconcile_runs_period ON reconcile_runs (period_from, period_to);

CREATE TABLE reconcile_lines (
    run_id         TEXT    NOT NULL REFERENCES reconcile_runs (id),
    kind           TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    provider_ref   TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    local_date     TEXT    NOT NULL,
    order_ref      TEXT    NOT NULL DEFAULT '',
    codes          TEXT    NOT NULL DEFAULT '',
    granted_s      INTEGER NOT NULL,
    registered_s   INTEGER NOT NULL,
    verified_s     INTEGER NOT NULL,
    payable_s      INTEGER NOT NULL,
    schablon_s     INTEGER NOT NULL,
    declined_s     INTEGER NOT NULL,
    double_staff_s INTEGER NOT NULL,
    manual_s       INTEGER NOT NULL,
    deviation_s    INTEGER NOT NULL,
    deviation_pct  INTEGER NOT NULL,
    unit_price_ore INTEGER NOT NULL,
    amount_ore     INTEGER NOT NULL,
    visits         INTEGER NOT NULL,
    visit_refs     TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL,
    explanation    TEXT    NOT NULL,
    PRIMARY KEY (run_id, kind, local_date, client_id, provider_ref, category)
) WITHOUT ROWID;

CREATE INDEX lock_events_occurred ON lock_events (occurred_at, client_id, holder, action, result);

-- +goose Down
DROP INDEX lock_events_occurred;
DROP TABLE reconcile_lines;
DROP TABLE reconcile_runs;
