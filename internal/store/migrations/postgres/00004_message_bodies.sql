-- Message bodies move to a table of their own. Keep this file and
-- ../sqlite/00004_message_bodies.sql equal in meaning.
--
-- SQLite rewrites a whole row, overflow pages and all, when any of its
-- columns changes. With the body in messages, every status change of a
-- 9 MB message (its attempt, its dead letter) wrote 9 MB again, and under a
-- flood of large bodies the store's one writer spent its time copying them
-- while the orders behind it waited (the memory benchmark, issue 7). A body
-- is written once and never changes; status and times change on every
-- hop. PostgreSQL keeps large values out of line already; the same tables
-- on both keep one set of queries.

-- +goose Up
CREATE TABLE message_bodies (
    message_id TEXT NOT NULL PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    body       BYTEA NOT NULL
);
INSERT INTO message_bodies (message_id, body) SELECT id, body FROM messages;
ALTER TABLE messages DROP COLUMN body;

-- +goose Down
ALTER TABLE messages ADD COLUMN body BYTEA NOT NULL DEFAULT '';
UPDATE messages SET body = (SELECT b.body FROM message_bodies b WHERE b.message_id = messages.id);
DROP TABLE message_bodies;
