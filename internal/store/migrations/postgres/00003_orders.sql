-- Orders (beställningar) and their events, DOMAIN.md §1.5 and §8a (Order, OrderInsats,
-- OrderEvent). Keep this file and ../sqlite/00003_orders.sql equal in meaning;
-- TestMigrationsSameLogicalSchema compares them.
--
-- orders is the current state, a projection of order_events; both are written together by
-- ApplyOrderEvent. Nothing here is ever deleted or rewritten in place but the projection:
-- order_events is append-only (the trigger below refuses UPDATE and DELETE; retention
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
    id                   TEXT        NOT NULL PRIMARY KEY,
    source_system        TEXT        NOT NULL,
    external_id          TEXT        NOT NULL,
    decision_external_id TEXT        NOT NULL DEFAULT '',
    decided_on           DATE,
    client_id            TEXT        NOT NULL REFERENCES clients (id),
    provider_ref         TEXT        NOT NULL DEFAULT '',
    status               TEXT        NOT NULL
                         CHECK (status = 'sent' OR status = 'acknowledged' OR status = 'executed' OR status = 'paused'
                                OR status = 'ended' OR status = 'superseded' OR status = 'rejected'),
    ordered_at           TIMESTAMPTZ NOT NULL,
    acknowledged_at      TIMESTAMPTZ,
    executed_on          DATE,
    paused_from          DATE,
    paused_to            DATE,
    pause_reason         TEXT        NOT NULL DEFAULT '',
    pause_planned        BOOLEAN     NOT NULL DEFAULT FALSE,
    ended_on             DATE,
    end_reason           TEXT        NOT NULL DEFAULT '',
    valid_from           DATE        NOT NULL,
    valid_to             DATE,
    protected_identity   BOOLEAN     NOT NULL DEFAULT FALSE,
    personal_enc         BYTEA       NOT NULL,
    insatser_version     INTEGER     NOT NULL,
    last_event_at        TIMESTAMPTZ NOT NULL,
    version              INTEGER     NOT NULL DEFAULT 1,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (source_system, external_id)
);
CREATE INDEX orders_provider_status ON orders (provider_ref, status);
CREATE INDEX orders_status_decided ON orders (status, decided_on);
CREATE INDEX orders_client ON orders (client_id);

-- One set of insatser per order version that changed them; the current set is the one at
-- orders.insatser_version, older sets are superseded and kept.
CREATE TABLE order_insatser (
    order_id         TEXT        NOT NULL REFERENCES orders (id),
    version          INTEGER     NOT NULL,
    position         INTEGER     NOT NULL,
    code             TEXT        NOT NULL,
    text             TEXT        NOT NULL DEFAULT '',
    granted_minutes  INTEGER     NOT NULL,
    period           TEXT        NOT NULL,
    times_per_period INTEGER,
    valid_from       DATE,
    valid_to         DATE,
    PRIMARY KEY (order_id, version, position)
);

-- Every event applied, in order (order_version is the order's version after it). event_id
-- is the idempotency key within the source system.
CREATE TABLE order_events (
    id            TEXT        NOT NULL PRIMARY KEY,
    order_id      TEXT        NOT NULL REFERENCES orders (id),
    source_system TEXT        NOT NULL,
    event_id      TEXT        NOT NULL,
    type          TEXT        NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    order_version INTEGER     NOT NULL,
    status_after  TEXT        NOT NULL,
    message_id    TEXT        REFERENCES messages (id),
    payload       BYTEA       NOT NULL,
    UNIQUE (source_system, event_id),
    UNIQUE (order_id, order_version)
);

-- +goose StatementBegin
CREATE FUNCTION order_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order_events is append-only';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION order_events_append_only();

-- +goose Down
DROP TRIGGER order_events_append_only ON order_events;
DROP FUNCTION order_events_append_only();
DROP TABLE order_events;
DROP TABLE order_insatser;
DROP TABLE orders;
