package store

import (
	"context"
	"fmt"
)

// Related returns the messages caused by the same inbound message as
// message id (they share its correlation id: its outputs to other
// pipelines, their deliveries, the vendors' replies), oldest first,
// without bodies and without the message itself. It is the trace `knut
// messages show` prints.
func (s *Store) Related(ctx context.Context, id string) ([]MessageRecord, error) {
	m, err := s.Message(ctx, id)
	if err != nil {
		return nil, err
	}
	corr := m.Headers["correlation-id"]
	if corr == "" {
		corr = m.ID
	}
	expr := `json_extract(headers, '$."correlation-id"')`
	if s.dialect == DialectPostgres {
		expr = `headers->>'correlation-id'`
	}
	var rows []messageRow
	if err := s.sel(ctx, &rows, `SELECT `+messageCols+` FROM messages WHERE (`+expr+` = ? OR id = ?) AND id <> ?
		ORDER BY received_at, id LIMIT 1000`, corr, corr, id); err != nil {
		return nil, fmt.Errorf("messages related to %s: %w", id, err)
	}
	out := make([]MessageRecord, 0, len(rows))
	for _, r := range rows {
		rec, err := r.record()
		if err != nil {
			return nil, fmt.Errorf("messages related to %s: %s: %w", id, r.ID, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
