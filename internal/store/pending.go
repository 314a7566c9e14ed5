package store

import (
	"context"
	"fmt"
	"time"
)

// PendingCursor is where a page of ReceivedPage ended; the zero value
// starts at the oldest message.
type PendingCursor struct {
	at time.Time
	id string
}

// ReceivedPage returns up to limit IDs of pipeline's messages that were
// received but are neither processed nor dead, oldest first, after c: the
// messages the hub still owes an outcome (queued, being retried, waiting,
// or left over from a process that stopped). It returns the cursor after
// the last ID; a page shorter than limit is the last. Paging keeps a
// backlog of millions from being read into memory at once.
func (s *Store) ReceivedPage(ctx context.Context, pipeline string, c PendingCursor, limit int) ([]string, PendingCursor, error) {
	q := `SELECT id, received_at FROM messages WHERE pipeline = ? AND status = ?`
	args := []any{pipeline, string(StatusReceived)}
	if c.id != "" {
		q += ` AND (received_at > ? OR (received_at = ? AND id > ?))`
		args = append(args, s.tv(c.at), s.tv(c.at), c.id)
	}
	q += fmt.Sprintf(` ORDER BY received_at, id LIMIT %d`, max(limit, 1))
	var rows []struct {
		ID string   `db:"id"`
		At nullTime `db:"received_at"`
	}
	if err := s.sel(ctx, &rows, q, args...); err != nil {
		return nil, c, fmt.Errorf("received messages of %s: %w", pipeline, err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		c = PendingCursor{at: last.At.Time, id: last.ID}
	}
	return ids, c, nil
}

// MessageStatus returns where message id stands; ErrNotFound if unknown.
func (s *Store) MessageStatus(ctx context.Context, id string) (Status, error) {
	var st string
	if err := s.get(ctx, &st, `SELECT status FROM messages WHERE id = ?`, id); err != nil {
		return "", fmt.Errorf("message status %s: %w", id, err)
	}
	return Status(st), nil
}
