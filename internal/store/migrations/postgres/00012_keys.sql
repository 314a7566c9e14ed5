-- Keyless locks: the key grants the hub wants and the vendor holds, the
-- emergency blocks, the lock events, and polled sources' cursors (issue 12).
-- Keep this file and ../sqlite/00012_keys.sql equal in meaning.
--
-- key_grants: one row per (vendor, lock, holder) the hub has ever granted:
-- what it wants now (op grant|revoke with its window in spec, JSON), the
-- number of the last change it handed to the vendor's pipeline (seq) and
-- of the last the vendor confirmed (applied_seq), the state that gives
-- (pending, active, revoking, revoked, failed), and whether the vendor's
-- last grant list showed it (at_vendor, checked_at: drift repair).
-- key_blocks: people whose keys were revoked at once (a lost phone, a
-- dismissal, a leaver): no grant is made for them until lifted.
-- lock_events: what the locks logged, once per (vendor, event_ref), with
-- the person, grant and client resolved where possible, and a finding
-- (no_grant: opened without a grant in force; no_visit: no visit near it).
-- source_cursors: where a polled source stopped reading at its vendor.

-- +goose Up
CREATE TABLE key_grants (
    id               TEXT        NOT NULL PRIMARY KEY,
    vendor           TEXT        NOT NULL,
    lock_ref         TEXT        NOT NULL,
    holder           TEXT        NOT NULL,
    provider_ref     TEXT        NOT NULL DEFAULT '',
    client_id        TEXT        REFERENCES clients (id),
    order_ref        TEXT        NOT NULL DEFAULT '',
    op               TEXT        NOT NULL,
    spec             TEXT        NOT NULL DEFAULT '',
    reason           TEXT        NOT NULL DEFAULT '',
    seq              BIGINT      NOT NULL,
    applied_seq      BIGINT      NOT NULL DEFAULT 0,
    state            TEXT        NOT NULL,
    vendor_grant_ref TEXT        NOT NULL DEFAULT '',
    at_vendor        BOOLEAN     NOT NULL DEFAULT false,
    checked_at       TIMESTAMPTZ,
    requested_at     TIMESTAMPTZ NOT NULL,
    applied_at       TIMESTAMPTZ,
    revoked_at       TIMESTAMPTZ,
    UNIQUE (vendor, lock_ref, holder)
);
CREATE INDEX key_grants_holder ON key_grants (holder);
CREATE INDEX key_grants_client ON key_grants (client_id);

CREATE TABLE key_blocks (
    holder     TEXT        NOT NULL PRIMARY KEY,
    reason     TEXT        NOT NULL,
    blocked_by TEXT        NOT NULL,
    blocked_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE lock_events (
    id               TEXT        NOT NULL PRIMARY KEY,
    vendor           TEXT        NOT NULL,
    event_ref        TEXT        NOT NULL,
    lock_ref         TEXT        NOT NULL,
    occurred_at      TIMESTAMPTZ NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL,
    action           TEXT        NOT NULL,
    vendor_action    INTEGER     NOT NULL,
    trigger_kind     TEXT        NOT NULL DEFAULT '',
    result           TEXT        NOT NULL,
    vendor_state     INTEGER     NOT NULL DEFAULT 0,
    holder           TEXT        NOT NULL DEFAULT '',
    vendor_actor_ref TEXT        NOT NULL DEFAULT '',
    vendor_grant_ref TEXT        NOT NULL DEFAULT '',
    source           TEXT        NOT NULL DEFAULT '',
    key_grant_id     TEXT        REFERENCES key_grants (id),
    client_id        TEXT        REFERENCES clients (id),
    finding          TEXT        NOT NULL DEFAULT '',
    message_id       TEXT        NOT NULL DEFAULT '',
    UNIQUE (vendor, event_ref)
);
CREATE INDEX lock_events_lock ON lock_events (lock_ref, occurred_at);
CREATE INDEX lock_events_client ON lock_events (client_id, occurred_at);
CREATE INDEX lock_events_holder ON lock_events (holder, occurred_at);

CREATE TABLE source_cursors (
    name       TEXT        NOT NULL PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE source_cursors;
DROP TABLE lock_events;
DROP TABLE key_blocks;
DROP TABLE key_grants;
