package store

import (
	"context"
	"fmt"
	"time"
)

// SeeSignature records that a signed request with signature sig arrived on
// scope (e.g. a callback endpoint's pipeline) and reports whether it had
// been seen before: the same request sent again is a replay. A signature
// is remembered until expires, when its timestamp leaves the window the
// receiver accepts anyway; older ones are removed as new ones arrive. The
// record is durable before SeeSignature returns, so a restart does not
// reopen the window.
func (s *Store) SeeSignature(ctx context.Context, scope, sig string, expires time.Time) (seen bool, err error) {
	err = s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM seen_signatures WHERE scope = ? AND expires_at < ?`, scope, s.tv(now())); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `INSERT INTO seen_signatures (scope, signature, expires_at) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, scope, sig, s.tv(expires))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		seen = n == 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("seen signatures: %w", err)
	}
	return seen, nil
}

// ForgetSignature drops a signature SeeSignature recorded, for a request
// the hub did not take after all.
func (s *Store) ForgetSignature(ctx context.Context, scope, sig string) error {
	err := s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM seen_signatures WHERE scope = ? AND signature = ?`, scope, sig)
		return err
	})
	if err != nil {
		return fmt.Errorf("seen signatures: %w", err)
	}
	return nil
}
