-- Executed time sent back to the case system (issue 10). Keep this file and
-- ../postgres/00010_executed_days.sql equal in meaning.
--
-- executed_days is what the nightly executed job last sent for a client's day
-- with a provider: its version (1 at first, one more each time a correction
-- or a late record changes the day and it is sent again) and the digest of
-- what it said, so a run that finds the day unchanged sends nothing. The
-- message itself is in the message log; nothing personal is kept here.

-- +goose Up
CREATE TABLE executed_days (
    client_id    TEXT    NOT NULL,
    local_date   TEXT    NOT NULL,
    provider_ref TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    digest       TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    sent_at      TEXT    NOT NULL,
    PRIMARY KEY (client_id, local_date, provider_ref)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE executed_days;
