-- Canonical entities (DOMAIN.md §8a), the current-state projections the
-- pipelines upsert into. Keep this file and ../sqlite/00002_canonical.sql
-- equal in meaning; TestMigrationsSameLogicalSchema compares them.
--
-- Every externally sourced row carries (source_system, external_id), unique
-- when both are set. Visits refer to staff, providers, units and insats types
-- by the references the message carried (HSA-ID, staff ref, provider id,
-- insats code) rather than by foreign key: TES data routinely arrives before
-- the directory sync that creates those rows, and a visit must never be
-- rejected for that. Clients are the exception: a visit creates its client
-- row (keyed by the person id lookup hash) if it is missing.

-- +goose Up
CREATE TABLE municipalities (
    id                TEXT        NOT NULL PRIMARY KEY,
    source_system     TEXT        NOT NULL DEFAULT '',
    external_id       TEXT        NOT NULL DEFAULT '',
    name              TEXT        NOT NULL,
    org_no            TEXT        NOT NULL DEFAULT '',
    municipality_code TEXT        NOT NULL DEFAULT '',
    timezone          TEXT        NOT NULL DEFAULT 'Europe/Stockholm',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    version           INTEGER     NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX municipalities_source_key ON municipalities (source_system, external_id)
    WHERE source_system <> '' AND external_id <> '';

CREATE TABLE providers (
    id              TEXT        NOT NULL PRIMARY KEY,
    municipality_id TEXT        REFERENCES municipalities (id),
    source_system   TEXT        NOT NULL,
    external_id     TEXT        NOT NULL,
    name            TEXT        NOT NULL DEFAULT '',
    org_no          TEXT        NOT NULL DEFAULT '',
    provider_kind   TEXT        NOT NULL DEFAULT '',
    hsa_id          TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         INTEGER     NOT NULL DEFAULT 1,
    UNIQUE (source_system, external_id)
);

CREATE TABLE clients (
    id                 TEXT        NOT NULL PRIMARY KEY,
    municipality_id    TEXT        REFERENCES municipalities (id),
    source_system      TEXT        NOT NULL DEFAULT '',
    external_id        TEXT        NOT NULL DEFAULT '',
    -- HMAC-SHA256 of the person id (lookup and join key) and the person id
    -- encrypted with AES-256-GCM; the clear number is never stored.
    person_id_hash     BYTEA       NOT NULL UNIQUE,
    person_id_enc      BYTEA       NOT NULL,
    person_id_type     TEXT        NOT NULL,
    protected_identity BOOLEAN     NOT NULL DEFAULT FALSE,
    given_name         TEXT        NOT NULL DEFAULT '',
    family_name        TEXT        NOT NULL DEFAULT '',
    status             TEXT        NOT NULL DEFAULT 'active',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    version            INTEGER     NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX clients_source_key ON clients (source_system, external_id)
    WHERE source_system <> '' AND external_id <> '';

CREATE TABLE staff (
    id            TEXT        NOT NULL PRIMARY KEY,
    provider_id   TEXT        REFERENCES providers (id),
    source_system TEXT        NOT NULL,
    external_id   TEXT        NOT NULL,
    hsa_id        TEXT        NOT NULL DEFAULT '',
    given_name    TEXT        NOT NULL DEFAULT '',
    family_name   TEXT        NOT NULL DEFAULT '',
    status        TEXT        NOT NULL DEFAULT 'active',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    version       INTEGER     NOT NULL DEFAULT 1,
    UNIQUE (source_system, external_id)
);
CREATE INDEX staff_hsa_id ON staff (hsa_id) WHERE hsa_id <> '';

CREATE TABLE insats_types (
    id               TEXT        NOT NULL PRIMARY KEY,
    municipality_id  TEXT        REFERENCES municipalities (id),
    source_system    TEXT        NOT NULL,
    external_id      TEXT        NOT NULL,
    code             TEXT        NOT NULL,
    name             TEXT        NOT NULL DEFAULT '',
    category         TEXT        NOT NULL DEFAULT '',
    law              TEXT        NOT NULL DEFAULT '',
    payment_mode     TEXT        NOT NULL DEFAULT '',
    schablon_minutes INTEGER,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    version          INTEGER     NOT NULL DEFAULT 1,
    UNIQUE (source_system, external_id)
);
CREATE INDEX insats_types_code ON insats_types (code);

CREATE TABLE visits (
    id                TEXT        NOT NULL PRIMARY KEY,
    source_system     TEXT        NOT NULL,
    external_id       TEXT        NOT NULL,
    client_id         TEXT        NOT NULL REFERENCES clients (id),
    provider_ref      TEXT        NOT NULL DEFAULT '',
    unit_ref          TEXT        NOT NULL DEFAULT '',
    planned_visit_ref TEXT        NOT NULL DEFAULT '',
    start_at          TIMESTAMPTZ NOT NULL,
    end_at            TIMESTAMPTZ NOT NULL,
    device_start_at   TIMESTAMPTZ,
    device_end_at     TIMESTAMPTZ,
    local_date        DATE        NOT NULL,
    duration_minutes  INTEGER     NOT NULL,
    recorded_offline  BOOLEAN     NOT NULL DEFAULT FALSE,
    start_method      TEXT        NOT NULL,
    end_method        TEXT        NOT NULL,
    start_tag_uid     TEXT        NOT NULL DEFAULT '',
    end_tag_uid       TEXT        NOT NULL DEFAULT '',
    status            TEXT        NOT NULL,
    outside_home      BOOLEAN     NOT NULL DEFAULT FALSE,
    is_extra          BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    version           INTEGER     NOT NULL DEFAULT 1,
    UNIQUE (source_system, external_id)
);
CREATE INDEX visits_local_date ON visits (local_date, provider_ref);
-- No index on client_id: no query selects visits by client, and clients are
-- never deleted nor re-keyed, so the foreign key needs none either. Its keys
-- (UUIDv5, random) made it the import's most scattered B-tree insert.

CREATE TABLE visit_staff (
    visit_id  TEXT        NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    position  INTEGER     NOT NULL,
    hsa_id    TEXT        NOT NULL DEFAULT '',
    staff_ref TEXT        NOT NULL DEFAULT '',
    role      TEXT        NOT NULL,
    PRIMARY KEY (visit_id, position)
);

CREATE TABLE visit_insatser (
    visit_id        TEXT        NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    position        INTEGER     NOT NULL,
    code            TEXT        NOT NULL,
    minutes         INTEGER,
    declined        BOOLEAN     NOT NULL DEFAULT FALSE,
    declined_reason TEXT        NOT NULL DEFAULT '',
    double_staffed  BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (visit_id, position)
);

-- +goose Down
DROP TABLE visit_insatser;
DROP TABLE visit_staff;
DROP TABLE visits;
DROP TABLE insats_types;
DROP TABLE staff;
DROP TABLE clients;
DROP TABLE providers;
DROP TABLE municipalities;
