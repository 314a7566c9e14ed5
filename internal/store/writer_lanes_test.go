package store_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// A lazy op's batch commits without waiting for the disk, a durable op's
// with it; a durable op that arrives while a lazy batch is open starts a
// batch of its own rather than commit lazily.
func TestWriterCommitsLazyOpsWithoutTheFsync(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		lazyLevel, durableLevel := "1", "2" // SQLite: NORMAL, FULL
		if db.dialect == store.DialectPostgres {
			lazyLevel, durableLevel = "off", "on"
		}
		w := s.NewWriter(store.WriterOptions{})
		defer w.Close()
		level := func(do func(context.Context, func(*store.Tx) error) error) string {
			t.Helper()
			var got string
			if err := do(ctx, func(tx *store.Tx) (err error) {
				got, err = tx.SyncLevel(ctx)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return got
		}
		for i, c := range []struct {
			name string
			do   func(context.Context, func(*store.Tx) error) error
			want string
		}{
			{"lazy", w.DoLazy, lazyLevel},
			{"durable", w.Do, durableLevel},
			{"lazy after durable", w.DoLazy, lazyLevel},
			{"lazy again", w.DoLazy, lazyLevel},
			{"durable after lazy", w.Do, durableLevel},
		} {
			if got := level(c.do); got != c.want {
				t.Errorf("%d %s: commits with %s, want %s", i, c.name, got, c.want)
			}
		}

		// A lazy op holds its batch open until a durable op is queued.
		entered, release := make(chan struct{}), make(chan struct{})
		lazyDone := make(chan error, 1)
		go func() {
			lazyDone <- w.DoLazy(ctx, func(*store.Tx) error {
				close(entered)
				<-release
				return nil
			})
		}()
		<-entered
		durable := make(chan string, 1)
		go func() { durable <- level(w.Do) }()
		for w.Queued() == 0 {
			runtime.Gosched()
		}
		close(release)
		if err := <-lazyDone; err != nil {
			t.Fatal(err)
		}
		if got := <-durable; got != durableLevel {
			t.Errorf("durable op queued behind a lazy batch commits with %s, want %s", got, durableLevel)
		}
	})
}

// The Writer prepares a query once on its SQLite connection, between
// batches, and keeps no more than a bound of them: a query past it still
// runs, prepared in its transaction.
func TestWriterCachesStatementsWithinABound(t *testing.T) {
	db := newTestDB(t, store.DialectSQLite)
	s := db.open(t)
	ctx := context.Background()
	w := s.NewWriter(store.WriterOptions{})
	defer w.Close()
	const q = "SELECT 40 + 2"
	run := func(query string) int {
		t.Helper()
		var n int
		if err := w.Do(ctx, func(tx *store.Tx) (err error) {
			n, err = tx.QueryInt(ctx, query)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	cached := func(query string) (ok bool, n int) {
		t.Helper()
		if err := w.Do(ctx, func(*store.Tx) error {
			ok, n = w.Cached(query)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ok, n
	}
	if got := run(q); got != 42 {
		t.Fatalf("%s = %d", q, got)
	}
	if ok, _ := cached(q); !ok {
		t.Errorf("%s is not cached after its batch", q)
	}
	for i := range store.MaxCachedStmts + 10 {
		query := fmt.Sprintf("SELECT %d", i)
		if got := run(query); got != i {
			t.Fatalf("%s = %d", query, got)
		}
	}
	if ok, n := cached(q); !ok || n > store.MaxCachedStmts {
		t.Errorf("after %d more queries: %s cached %v, %d cached, want it still and at most %d", store.MaxCachedStmts+10, q, ok, n, store.MaxCachedStmts)
	}
}

// A bulk op (a large body) waits for the small ops queued before and after
// it, and commits alone: small writes wait for the one large write being
// written at most, never for a queue of them.
func TestWriterServesSmallOpsBeforeBulk(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		w := s.NewWriter(store.WriterOptions{})
		defer w.Close()
		var order []string // appended on the Writer's goroutine only
		note := func(name string) func(*store.Tx) error {
			return func(*store.Tx) error { order = append(order, name); return nil }
		}
		entered, release := make(chan struct{}), make(chan struct{})
		errs := make(chan error, 5)
		go func() {
			errs <- w.Do(ctx, func(*store.Tx) error {
				close(entered)
				<-release
				order = append(order, "first")
				return nil
			})
		}()
		<-entered // the writer is busy; queue the rest behind it, in this order
		queue := func(do func(context.Context, func(*store.Tx) error) error, name string) {
			n := w.Queued()
			go func() { errs <- do(ctx, note(name)) }()
			for w.Queued() == n {
				runtime.Gosched()
			}
		}
		queue(w.DoBulk, "bulk1")
		queue(w.DoBulk, "bulk2")
		queue(w.Do, "small1")
		queue(w.DoLazy, "small2")
		before := w.Stats().Batches
		close(release)
		for range 5 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"first", "small1", "small2", "bulk1", "bulk2"}
		if !slices.Equal(order, want) {
			t.Errorf("ops ran in the order %v, want %v", order, want)
		}
		// small1 and small2 join first's batch, which was open when they
		// came; each bulk op has one of its own.
		if got := w.Stats().Batches - before; got != 2 {
			t.Errorf("%d batches after the first, want 2 (one per bulk op)", got)
		}
	})
}

// A Store's own transaction commits durably even right after a Writer's
// lazy batch left the one SQLite connection at the lazy level.
func TestStoreTxIsDurableAfterALazyBatch(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		durable := "2"
		if db.dialect == store.DialectPostgres {
			durable = "on"
		}
		w := s.NewWriter(store.WriterOptions{})
		defer w.Close()
		if err := w.DoLazy(ctx, func(*store.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := s.Tx(ctx, func(tx *store.Tx) (err error) {
			got, err = tx.SyncLevel(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != durable {
			t.Errorf("Store.Tx after a lazy batch commits with %s, want %s", got, durable)
		}
	})
}
