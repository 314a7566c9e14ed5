-- Orders (beställningar) and their events, DOMAIN.md §1.5 and §8a (Order, OrderInsats,
-- OrderEvent). Keep this file and ../postgres/00003_orders.sql equal in meaning;
-- TestMigrationsSameLogicalSchema compares them.
--
-- orders is the current state, a projection of order_events; both are written together by
-- ApplyOrderEvent. Nothing here is ever deleted or rewritten in place but the projection:
-- order_events is append-only (the triggers below refuse UPDATE and DELETE; retention
-- (gallring, DOMAIN.md §7.4) will bring its own migration), an ended order keeps its row with
-- status ended or superseded, and a change of insatser adds a new set under the order's
-- version and leaves the old set in place.
--
-- Personal data is never in clear: the client is a clients row (person id hashed and
-- encrypted, as for visits), and the client's names, address, phone and contacts, the order
-- text and the provider's rejection reason are orders.personal_enc, AES-256-GCM under the
-- person id encryption key bound to the order id. order_events.payload is the whole
-- canonical event, encrypted the same way and bound to the event row's id. Dates are
-- calendar dates (*_on, *_from, *_to); *_at columns are instants.

-- +goose Up
CREATE TABLE orders (
    id                   TEXT    NOT NULL PRIMARY KEY,
    source_system        TEXT    NOT NULL,
    external_id          TEXT    NOT NULL,
    decision_external_id TEXT    NOT NULL DEFAULT '',
    decided_on           TEXT,
    client_id            TEXT    NOT NULL REFERENCES clients (id),
    provider_ref         TEXT    NOT NULL DEFAULT '',
    status               TEXT    NOT NULL
                         CHECK (status = 'sent' OR status = 'acknowledged' OR status = 'executed' OR status = 'paused'
                                OR status = 'ended' OR status = 'superseded' OR status = 'rejected'),
    ordered_at           TEXT    NOT NULL,
    acknowledged_at      TEXT,
    executed_on          TEXT,
    paused_from          TEXT,
    paused_to            TEXT,
    pause_reason         TEXT    NOT NULL DEFAULT '',
    pause_planned        INTEGER NOT NULL DEFAULT 0,
    ended_on             TEXT,
    end_reason           TEXT    NOT NULL DEFAULT '',
    valid_from           TEXT    NOT NULL,
    valid_to             TEXT,
    protected_identity   INTEGER NOT NULL DEFAULT 0,
    personal_enc         BLOB    NOT NULL,
    insatser_version     INTEGER NOT NULL,
    last_event_at        TEXT    NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    UNIQUE (source_system, external_id)
);
CREATE INDEX orders_provider_status ON orders (provider_ref, status);
CREATE INDEX orders_status_decided ON orders (status, decided_on);
CREATE INDEX orders_client ON orders (client_id);

-- One set of insatser per order version that changed them; the current set is the one at
-- orders.insatser_version, older sets are superseded and kept.
CREATE TABLE order_insatser (
    order_id         TEXT    NOT NULL REFERENCES orders (id),
    version          INTEGER NOT NULL,
    position         INTEGER NOT NULL,
    code             TEXT    NOT NULL,
    text             TEXT    NOT NULL DEFAULT '',
    granted_minutes  INTEGER NOT NULL,
    period           TEXT    NOT NULL,
    times_per_period INTEGER,
    valid_from       TEXT,
    valid_to         TEXT,
    PRIMARY KEY (order_id, version, position)
) WITHOUT ROWID;

-- Every event applied, in order (order_version is the order's version after it). event_id
-- is the idempotency key within the source system.
CREATE TABLE order_events (
    id            TEXT    NOT NULL PRIMARY KEY,
    order_id      TEXT    NOT NULL REFERENCES orders (id),
    source_system TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    occurred_at   TEXT    NOT NULL,
    received_at   TEXT    NOT NULL,
    order_version INTEGER NOT NULL,
    status_after  TEXT    NOT NULL,
    message_id    TEXT    REFERENCES messages (id),
    payload       BLOB    NOT NULL,
    UNIQUE (source_system, event_id),
    UNIQUE (order_id, order_version)
);

-- +goose StatementBegin
CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN
    SELECT RAISE(ABORT, 'order_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER order_events_no_delete;
DROP TRIGGER order_events_no_update;
DROP TABLE order_events;
DROP TABLE order_insatser;
DROP TABLE orders;
