package store

import (
	"context"
	"fmt"
)

// ReceivedIDs returns the IDs of pipeline's messages that were received
// but are neither processed nor dead, oldest first: the messages the hub
// still owes an outcome (queued, being retried, waiting, or left over from
// a process that stopped).
func (s *Store) ReceivedIDs(ctx context.Context, pipeline string) ([]string, error) {
	var ids []string
	err := s.sel(ctx, &ids, `SELECT id FROM messages
		WHERE pipeline = ? AND status = ? ORDER BY received_at, id`, pipeline, string(StatusReceived))
	if err != nil {
		return nil, fmt.Errorf("received messages of %s: %w", pipeline, err)
	}
	return ids, nil
}

// MessageStatus returns where message id stands; ErrNotFound if unknown.
func (s *Store) MessageStatus(ctx context.Context, id string) (Status, error) {
	var st string
	if err := s.get(ctx, &st, `SELECT status FROM messages WHERE id = ?`, id); err != nil {
		return "", fmt.Errorf("message status %s: %w", id, err)
	}
	return Status(st), nil
}
