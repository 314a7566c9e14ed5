-- Orders take effect on their dates (issue 9). Keep this file and
-- ../sqlite/00006_order_timeline.sql equal in meaning.
--
-- orders is the projection of order_events as of today (Europe/Stockholm);
-- an event dated ahead (an Avslut at the decision's end, a planned Paus) is
-- stored at once and next_effective_on is the first day one takes effect,
-- which the nightly job (knut serve's scheduler) folds in on that day.
--
-- job_runs is the scheduler's memory: the last day each job ran for, so a
-- hub that was down at midnight catches up when it starts.
--
-- reports holds what the jobs produced (the IVO report per quarter, the
-- statistics file per month): the CSV, sealed like the other personal data
-- (AES-256-GCM under the person id encryption key, bound to the row id).

-- +goose Up
ALTER TABLE orders ADD COLUMN next_effective_on DATE;
CREATE INDEX orders_next_effective ON orders (next_effective_on) WHERE next_effective_on IS NOT NULL;

CREATE TABLE job_runs (
    job      TEXT NOT NULL PRIMARY KEY,
    last_day DATE NOT NULL,
    ran_at   TIMESTAMPTZ NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE reports (
    id         TEXT NOT NULL PRIMARY KEY,
    kind       TEXT NOT NULL,
    period     TEXT NOT NULL,
    as_of      DATE NOT NULL,
    rows       INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    body_enc   BYTEA NOT NULL,
    UNIQUE (kind, period)
);

-- +goose Down
DROP TABLE reports;
DROP TABLE job_runs;
DROP INDEX orders_next_effective;
ALTER TABLE orders DROP COLUMN next_effective_on;
