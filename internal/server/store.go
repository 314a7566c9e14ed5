package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// developmentKey is the store key outside production when none is
// configured: the demo and tests hold only official test personnummer.
const developmentKey = "knutpunkt development key: never for real personal data"

// OpenStore opens the configured store (creating a SQLite file's folder), deriving the keys that hash and
// encrypt personal identifiers from the store.key secret.
//
// clock is what day the store takes it to be when it folds an order's timeline (time.Now
// when nil): the demo and tests set it.
func OpenStore(ctx context.Context, cfg *config.Config, secrets adapters.SecretResolver, clock func() time.Time) (*store.Store, error) {
	master := developmentKey
	if !cfg.Store.Key.IsZero() {
		v, err := secrets.Resolve(cfg.Store.Key)
		if err != nil {
			return nil, fmt.Errorf("store.key: %w", err)
		}
		master = v
	}
	if !cfg.IsPostgres() {
		// A new deployment's store folder is made here rather than left
		// to SQLite's "unable to open database file".
		dir := filepath.Dir(cfg.StoreDSN())
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store.dsn: cannot create the store's folder %s: %w", dir, err)
		}
	}
	return store.OpenWith(ctx, cfg.StoreDSN(), store.Options{
		PersonIDKey:           deriveKey(master, "person-id lookup hash"),
		PersonIDEncryptionKey: deriveKey(master, "person-id encryption"),
		Clock:                 clock,
	})
}

// deriveKey derives a 32-byte key for one purpose from the master secret,
// so one configured secret yields independent keys.
func deriveKey(master, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(master))
	m.Write([]byte("knutpunkt/" + purpose))
	return m.Sum(nil)
}
