package server

import (
	"context"
	"fmt"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Replay sends the dead message msgID through its pipeline again and marks
// its dead letter replayed. It returns the new message's ID.
func (s *Server) Replay(ctx context.Context, msgID string) (string, error) {
	rec, err := s.store.Message(ctx, msgID)
	if err != nil {
		return "", fmt.Errorf("replay %s: %w", msgID, err)
	}
	if rec.Status != store.StatusDead {
		return "", fmt.Errorf("replay %s: message is %s, not dead", msgID, rec.Status)
	}
	dls, err := s.store.ListDeadLetters(ctx, store.DeadLetterFilter{MessageID: msgID, Unresolved: true, Limit: 1})
	if err != nil {
		return "", fmt.Errorf("replay %s: %w", msgID, err)
	}
	if len(dls) == 0 {
		return "", fmt.Errorf("replay %s: no unresolved dead letter", msgID)
	}
	newID, err := s.router.Replay(ctx, rec.Pipeline, knutpunkt.Message{ID: rec.ID, Headers: rec.Headers, Body: rec.Body})
	if err != nil {
		return "", err
	}
	if err := s.store.MarkReplayed(ctx, dls[0].ID, newID); err != nil {
		return "", fmt.Errorf("replay %s: %w", msgID, err)
	}
	return newID, nil
}
