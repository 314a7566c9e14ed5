package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// LinkClient records that current and previous are one person: the identity a client has
// now (usually a personnummer) and the one the case system knew the client by before (a
// reserve number or samordningsnummer). Both clients rows are ensured (created with only
// their person id, as a visit or an order creates them); the link (client_links) is
// recorded once, with the store's clock as linked_at: linking the same pair again keeps
// the first. Linking an identity to itself records nothing. The link is directed only for
// the record; ClientIdentities follows it both ways.
func (t *Tx) LinkClient(ctx context.Context, current, previous homecare.PersonID) error {
	if current.IsZero() || previous.IsZero() {
		return errors.New("link client: no person id")
	}
	if current == previous {
		return nil
	}
	ids := make([]string, 2)
	at := t.s.tv(t.s.clock())
	for i, p := range []homecare.PersonID{current, previous} {
		hash, id, enc, err := t.s.personKey(p.Reveal())
		if err != nil {
			return fmt.Errorf("link client: %w", err)
		}
		if !t.clients[id] {
			if _, err := t.exec(ctx, qEnsureClient, id, hash, enc, string(p.Type()), at, at); err != nil {
				return fmt.Errorf("link client: %w", err)
			}
			t.markClient(id)
		}
		ids[i] = id
	}
	if _, err := t.exec(ctx, qLinkClient, ids[0], ids[1], at); err != nil {
		return fmt.Errorf("link client: %w", err)
	}
	return nil
}

const qLinkClient = `INSERT INTO client_links (client_id, previous_client_id, linked_at) VALUES (?, ?, ?)
	ON CONFLICT (client_id, previous_client_id) DO NOTHING`

// qLinkedClients finds the clients linked to one, in either direction.
const qLinkedClients = `SELECT c.id, c.person_id_hash, c.person_id_enc FROM client_links l
	JOIN clients c ON c.id = CASE WHEN l.client_id = ? THEN l.previous_client_id ELSE l.client_id END
	WHERE l.client_id = ? OR l.previous_client_id = ?`

// ClientIdentities returns pid and every identity linked to it, either way and through
// other links (a reserve number, then a samordningsnummer, then a personnummer): pid
// first, then the others breadth first. A person id with no links, or with no clients row
// yet, gives pid alone.
func (s *Store) ClientIdentities(ctx context.Context, pid homecare.PersonID) ([]homecare.PersonID, error) {
	_, id, _, err := s.personKey(pid.Reveal())
	if err != nil {
		return nil, fmt.Errorf("client identities: %w", err)
	}
	seen := map[string]bool{id: true}
	queue := []string{id}
	out := []homecare.PersonID{pid}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		var rows []struct {
			ID   string `db:"id"`
			Hash []byte `db:"person_id_hash"`
			Enc  []byte `db:"person_id_enc"`
		}
		if err := s.sel(ctx, &rows, qLinkedClients, cur, cur, cur); err != nil {
			return nil, fmt.Errorf("client identities: %w", err)
		}
		for _, r := range rows {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			queue = append(queue, r.ID)
			digits, err := s.pid.decrypt(r.Enc, r.Hash)
			if err != nil {
				return nil, fmt.Errorf("client identities: %w", err)
			}
			// Checked when it came in: the reader's clock does not decide again.
			p, err := homecare.ParsePlausiblePersonID(digits)
			if err != nil {
				return nil, fmt.Errorf("client identities: stored %w", err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}
