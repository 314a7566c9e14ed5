package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"syscall"
)

// ErrLocked is returned by Lock when another process holds the lock.
var ErrLocked = errors.New("held by another process")

// Lock takes the store-wide lock name for as long as the process runs, or
// until release is called; it does not wait. knut serve takes one so that
// two hubs never work one store: each queues in its own process what the
// message log holds as received, and two would handle the same messages.
// On SQLite it is an flock on the database file's name with name added
// (released by the kernel if the process dies); on PostgreSQL a session
// advisory lock on a connection kept for it.
func (s *Store) Lock(ctx context.Context, name string) (release func() error, err error) {
	if s.dialect == DialectSQLite {
		path := s.path + "." + name + ".lock"
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("lock %s (%s): %w", name, path, ErrLocked)
			}
			return nil, fmt.Errorf("lock %s (%s): %w", name, path, err)
		}
		return f.Close, nil
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	h := fnv.New64a()
	h.Write([]byte("knutpunkt:" + name))
	key := int64(h.Sum64())
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
	}
	return func() error {
		_, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
		return errors.Join(err, conn.Close())
	}, nil
}
