package store

import (
	"context"
	"fmt"
	"time"
)

// SQLite WAL checkpoints copy committed pages from the WAL back into the
// database file. By default the committing connection does that itself
// every 1,000 pages, inside Commit: with a single writer that work (page
// writes and an fsync) then stalls every op waiting on the batch. The store
// turns automatic checkpoints off on the write connection and runs them here,
// on a connection of their own, so they use the other core.
const (
	// checkpointEvery is the least time between two checkpoints.
	checkpointEvery = 20 * time.Millisecond
	// walRestartPages is the WAL size (in pages) above which a checkpoint
	// waits for the writer (RESTART), so the WAL starts over instead of
	// growing while PASSIVE checkpoints trail continuous writes.
	walRestartPages = 16384
)

func (s *Store) startCheckpoints() {
	s.ckpt = make(chan struct{}, 1)
	s.ckptStop = make(chan struct{})
	s.ckptDone = make(chan struct{})
	go s.checkpointLoop()
}

// committed tells the checkpointer that the WAL grew.
func (s *Store) committed() {
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt <- struct{}{}:
	default:
	}
}

func (s *Store) checkpointLoop() {
	defer close(s.ckptDone)
	ctx := context.Background()
	for {
		select {
		case <-s.ckptStop:
			return
		case <-s.ckpt:
		}
		// Errors are not fatal here: a failed checkpoint leaves the pages in
		// the WAL, where they are just as durable, for the next attempt.
		var busy, log, done int
		err := s.ckdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
		if err == nil && log > walRestartPages {
			_ = s.ckdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &log, &done)
		}
		select {
		case <-s.ckptStop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// stopCheckpoints ends the loop and leaves the WAL empty, so the database
// file alone is complete after Close.
func (s *Store) stopCheckpoints() error {
	close(s.ckptStop)
	<-s.ckptDone
	var busy, log, done int
	err := s.ckdb.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done)
	if cerr := s.ckdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	return nil
}
