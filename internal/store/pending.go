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
		if m.Body, err = s.openBody(m.ID, m.Body); err != nil {
			return nil, fmt.Errorf("pending message %s: %w", r.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// MessageStatus returns where message id stands; ErrNotFound if unknown.
func (s *Store) MessageStatus(ctx context.Context, id string) (Status, error) {
	var st string
	if err := s.get(ctx, &st, `SELECT status FROM messages WHERE id = ?`, id); err != nil {
		return "", fmt.Errorf("message status %s: %w", id, err)
	}
	return Status(st), nil
}
