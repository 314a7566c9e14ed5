-- Staff from the directories (issue 11). Keep this file and
-- ../sqlite/00011_staff_directory.sql equal in meaning.
--
-- staff gains what a directory sync keeps: the directory it is from
-- (source_system 'dir:<directory>', external_id the person's key there), the
-- provider as the pipelines name it, the person id (keyed hash and sealed, as
-- the clients table has it), title, units, employment end, protected person,
-- a digest of the last record (to tell a change), and the day the person left.
-- staff_hsa_ids: every HSA-ID a person holds (one person, several HSA-IDs; an
-- HSA-ID survives a personnummer change). staff_commissions: the person's
-- medarbetaruppdrag as last listed. staff_events: who joined, changed, left,
-- append-only, for the flows that act on them (keys, the access review).

-- +goose Up
ALTER TABLE staff ADD COLUMN provider_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE staff ADD COLUMN person_id_hash BYTEA;
ALTER TABLE staff ADD COLUMN person_id_enc BYTEA;
ALTER TABLE staff ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE staff ADD COLUMN units TEXT NOT NULL DEFAULT '';
ALTER TABLE staff ADD COLUMN employment_end DATE;
ALTER TABLE staff ADD COLUMN protected_person BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE staff ADD COLUMN record_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE staff ADD COLUMN left_on DATE;
CREATE INDEX staff_person ON staff (person_id_hash) WHERE person_id_hash IS NOT NULL;

CREATE TABLE staff_hsa_ids (
    hsa_id   TEXT NOT NULL PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    added_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_hsa_ids_staff ON staff_hsa_ids (staff_id);

CREATE TABLE staff_commissions (
    staff_id             TEXT    NOT NULL REFERENCES staff (id),
    position             INTEGER NOT NULL,
    hsa_id               TEXT    NOT NULL,
    name                 TEXT    NOT NULL DEFAULT '',
    purpose              TEXT    NOT NULL DEFAULT '',
    care_unit_hsa_id     TEXT    NOT NULL DEFAULT '',
    care_provider_hsa_id TEXT    NOT NULL DEFAULT '',
    valid_from           DATE,
    valid_to             DATE,
    PRIMARY KEY (staff_id, position)
);

CREATE TABLE staff_events (
    id         TEXT NOT NULL PRIMARY KEY,
    staff_id   TEXT NOT NULL REFERENCES staff (id),
    directory  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    day        DATE NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    fields     TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX staff_events_staff ON staff_events (staff_id, at);
CREATE INDEX staff_events_at ON staff_events (at);

-- +goose Down
DROP TABLE staff_events;
DROP TABLE staff_commissions;
DROP TABLE staff_hsa_ids;
DROP INDEX staff_person;
ALTER TABLE staff DROP COLUMN left_on;
ALTER TABLE staff DROP COLUMN record_digest;
ALTER TABLE staff DROP COLUMN protected_person;
ALTER TABLE staff DROP COLUMN employment_end;
ALTER TABLE staff DROP COLUMN units;
ALTER TABLE staff DROP COLUMN title;
ALTER TABLE staff DROP COLUMN person_id_enc;
ALTER TABLE staff DROP COLUMN person_id_hash;
ALTER TABLE staff DROP COLUMN provider_ref;
