package store

import (
	"context"
	"fmt"
)

// Pending returns pipeline's messages that were received but are neither
// processed nor dead, oldest first, with their bodies: after a crash
// between saving a message and queueing it, these are what must be queued
// again so that nothing the hub accepted is lost.
func (s *Store) Pending(ctx context.Context, pipeline string) ([]MessageRecord, error) {
	var rows []messageRow
	err := s.sel(ctx, &rows, `SELECT `+messageCols+`, body FROM messages
		WHERE pipeline = ? AND status = ? ORDER BY received_at, id`, pipeline, string(StatusReceived))
	if err != nil {
		return nil, fmt.Errorf("pending messages of %s: %w", pipeline, err)
	}
	out := make([]MessageRecord, 0, len(rows))
	for _, r := range rows {
		m, err := r.record()
		if err != nil {
			return nil, fmt.Errorf("pending message %s: %w", r.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}
