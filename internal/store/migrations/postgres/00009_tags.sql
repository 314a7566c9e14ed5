-- Tags at the clients' doors, and what a visit record says about its
-- receipt and its cohabitant (issue 10). Keep this file and
-- ../sqlite/00009_tags.sql equal in meaning.
--
-- tags: which client an NFC/RFID tag (normalised upper-case hex UID) is at,
-- from which local date until which (valid_to NULL: still there). A UID is
-- at one client at a time: a moved tag is ended at the old door first. The
-- nightly visit review flags a visit whose tag is registered to another
-- client that day (foreign_tag) or to no one (unknown_tag).
--
-- visits.source_received_at is when the source system got the record from
-- the phone (a device time after it means the phone's clock is ahead);
-- visits.shared_visit_ref the source's id of the visit registered at the
-- same time for a cohabiting client (sammanboende), whose time is split.

-- +goose Up
ALTER TABLE visits ADD COLUMN source_received_at TIMESTAMPTZ;
ALTER TABLE visits ADD COLUMN shared_visit_ref TEXT NOT NULL DEFAULT '';

CREATE TABLE tags (
    uid           TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients (id),
    valid_from    DATE NOT NULL,
    valid_to      DATE,
    location      TEXT NOT NULL DEFAULT '',
    registered_by TEXT NOT NULL DEFAULT '',
    registered_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (uid, valid_from)
);
CREATE UNIQUE INDEX tags_open ON tags (uid) WHERE valid_to IS NULL;
CREATE INDEX tags_client ON tags (client_id);

-- +goose Down
DROP TABLE tags;
ALTER TABLE visits DROP COLUMN shared_visit_ref;
ALTER TABLE visits DROP COLUMN source_received_at;
