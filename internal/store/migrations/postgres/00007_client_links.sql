-- A client known first by a reserve number or a samordningsnummer, later by a
-- personnummer, keeps one history (issue 9): an order that names the
-- previous identity (Lifecare 1.1 kund/tidigareId, the canonical
-- client.previous_person_id) links the two clients rows. Both rows stay, with
-- what refers to them; the link says they are one person. Keep this file and
-- ../sqlite/00007_client_links.sql equal in meaning.

-- +goose Up
CREATE TABLE client_links (
    client_id          TEXT NOT NULL REFERENCES clients (id),
    previous_client_id TEXT NOT NULL REFERENCES clients (id),
    linked_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, previous_client_id)
);
CREATE INDEX client_links_previous ON client_links (previous_client_id);

-- +goose Down
DROP TABLE client_links;
