package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// importOp is what `knut import` does per message: log it, store the visit,
// mark it processed, all in the Writer's shared transaction.
func importOp(ctx context.Context, s *store.Store, m store.InboundMessage, v homecare.Visit) func(*store.Tx) error {
	in, pv := s.PrepareInbound(m), s.PrepareVisit(v)
	return func(tx *store.Tx) error {
		r, err := tx.SaveInbound(ctx, in)
		if err != nil {
			return err
		}
		if r.Duplicate {
			return nil
		}
		if _, err := tx.UpsertVisit(ctx, pv); err != nil {
			return err
		}
		if m.Status == store.StatusProcessed {
			return nil // saved processed: no MarkProcessed needed
		}
		return tx.MarkProcessed(ctx, r.ID)
	}
}

func TestWriterIsolatesFailingOps(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		w := s.NewWriter(store.WriterOptions{MaxBatch: 64, MaxDelay: 50 * time.Millisecond})
		defer w.Close()
		base := sampleVisit(t)
		errOwn := errors.New("mapping said no")

		const n = 40
		type outcome int
		const (
			ok outcome = iota
			ownError
			dbError // a real SQL error (foreign key), which on PostgreSQL aborts a transaction without a savepoint
			panics
		)
		kind := func(i int) outcome {
			switch i % 10 {
			case 3:
				return ownError
			case 5:
				return dbError
			case 7:
				return panics
			}
			return ok
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := base
				v.ExternalID = fmt.Sprintf("W-%d", i)
				m := inbound(fmt.Sprintf("w%d", i), "tes_visits", "tes", v.ExternalID, t0)
				op := importOp(ctx, s, m, v)
				errs[i] = w.Do(ctx, func(tx *store.Tx) error {
					// Every op writes first, so a failing one has something to roll back.
					if err := op(tx); err != nil {
						return err
					}
					switch kind(i) {
					case ownError:
						return errOwn
					case dbError:
						_, err := tx.UpsertStaff(ctx, homecare.ExternalID{System: "hsa", ID: v.ExternalID},
							homecare.Staff{ProviderID: uuid.New()})
						return err
					case panics:
						panic("op bug")
					}
					return nil
				})
			}()
		}
		wg.Wait()

		for i, err := range errs {
			switch kind(i) {
			case ok:
				if err != nil {
					t.Errorf("op %d: Do = %v, want nil", i, err)
				}
			case ownError:
				if !errors.Is(err, errOwn) {
					t.Errorf("op %d: Do = %v, want its own error", i, err)
				}
			default:
				if err == nil {
					t.Errorf("op %d: Do = nil, want an error", i)
				}
			}
			m, err := s.Message(ctx, fmt.Sprintf("w%d", i))
			switch {
			case kind(i) == ok && err != nil:
				t.Errorf("op %d succeeded but its message is missing: %v", i, err)
			case kind(i) == ok && m.Status != store.StatusProcessed:
				t.Errorf("op %d: status %q, want processed", i, m.Status)
			case kind(i) != ok && !errors.Is(err, store.ErrNotFound):
				t.Errorf("op %d failed but its message was kept (err %v)", i, err)
			}
		}
		var visits int
		if err := db.raw.QueryRow(`SELECT COUNT(*) FROM visits`).Scan(&visits); err != nil {
			t.Fatal(err)
		}
		if want := n * 7 / 10; visits != want {
			t.Errorf("%d visits stored, want %d (failed ops rolled back)", visits, want)
		}
		st := w.Stats()
		if st.Ops != n || st.Failed != n*3/10 {
			t.Errorf("Stats = %+v, want %d ops, %d failed", st, n, n*3/10)
		}
		if st.Batches >= n/2 {
			t.Errorf("Stats = %+v: %d concurrent ops took %d batches, want them grouped", st, n, st.Batches)
		}

		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Do(ctx, func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Do after Close = %v, want ErrClosed", err)
		}
	})
}

func TestWriterCancelWhileQueued(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		w := s.NewWriter(store.WriterOptions{MaxBatch: 8})
		defer w.Close()
		// Hold the batch loop in a slow op, so the next op waits in the queue.
		release := make(chan struct{})
		started := make(chan struct{})
		go func() {
			_ = w.Do(context.Background(), func(*store.Tx) error {
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		var ran atomic.Bool
		done := make(chan error, 1)
		go func() {
			done <- w.Do(ctx, func(*store.Tx) error { ran.Store(true); return nil })
		}()
		time.Sleep(10 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Do cancelled while queued = %v, want context.Canceled", err)
		}
		close(release)
		// A later op still works, and the cancelled one never ran.
		if err := w.Do(context.Background(), func(*store.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if ran.Load() {
			t.Error("an op cancelled while queued was run")
		}
	})
}

// BenchmarkWriterVisits measures the import path: per message SaveInbound +
// UpsertVisit + MarkProcessed through a Writer, from many goroutines, on a
// durable store (SQLite synchronous=FULL; PostgreSQL when configured).
// msgs/s is the figure to compare with the 20,000 msgs/s target.
func BenchmarkWriterVisits(b *testing.B) {
	body, err := os.ReadFile("../../schemas/canonical/testdata/valid/visit_full.json")
	if err != nil {
		b.Fatal(err)
	}
	var base homecare.Visit
	if err := json.Unmarshal(body, &base); err != nil {
		b.Fatal(err)
	}
	pids := homecare.OfficialTestPersonIDs()

	type variant struct {
		name, dialect string
		status        store.Status // initial status; processed skips MarkProcessed
	}
	variants := []variant{
		{"sqlite", store.DialectSQLite, ""},
		{"sqlite-saved-processed", store.DialectSQLite, store.StatusProcessed},
		{"postgres", store.DialectPostgres, ""},
	}
	for _, vr := range variants {
		d := vr.dialect
		b.Run(vr.name, func(b *testing.B) {
			var dsn string
			if d == store.DialectSQLite {
				dsn = filepath.Join(b.TempDir(), "bench.db")
			} else {
				dsn = newTestDB(b, d).dsn
			}
			s, err := store.OpenWith(context.Background(), dsn, testOptions()) // synchronous=FULL
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			w := s.NewWriter(store.WriterOptions{MaxBatch: 512, MaxDelay: 5 * time.Millisecond})
			var seq atomic.Int64
			ctx := context.Background()
			b.SetParallelism(256) // goroutines = 256 × GOMAXPROCS, like the importer's workers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					v := base
					v.ExternalID = fmt.Sprintf("TES-B-%d", i)
					v.Client.PersonID = pids[int(i)%len(pids)]
					v.Client.PersonIDType = v.Client.PersonID.Type()
					m := store.InboundMessage{
						Pipeline: "tes_visits", SourceAdapter: "tes", SourceSystem: "tes", ExternalID: v.ExternalID,
						ContentType: "application/json", Headers: map[string]string{"content-type": "application/json"},
						Body: body, Status: vr.status,
					}
					if err := w.Do(ctx, importOp(ctx, s, m, v)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			st := w.Stats()
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/secs, "msgs/s")
			// Rows per message: messages, visits, visit_staff, 2 × visit_insatser
			// (clients only for the first visit of each person).
			b.ReportMetric(float64(5*b.N)/secs, "rows/s")
			if st.Batches > 0 {
				b.ReportMetric(float64(st.Ops)/float64(st.Batches), "ops/batch")
			}
		})
	}
}

// BenchmarkTxVisits is BenchmarkWriterVisits without the Writer: one
// goroutine, 512 messages per Store.Tx, no savepoints. The gap between the
// two is the Writer's own cost.
func BenchmarkTxVisits(b *testing.B) {
	body, err := os.ReadFile("../../schemas/canonical/testdata/valid/visit_full.json")
	if err != nil {
		b.Fatal(err)
	}
	var base homecare.Visit
	if err := json.Unmarshal(body, &base); err != nil {
		b.Fatal(err)
	}
	pids := homecare.OfficialTestPersonIDs()
	s, err := store.OpenWith(context.Background(), filepath.Join(b.TempDir(), "bench.db"), testOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; {
		err := s.Tx(ctx, func(tx *store.Tx) error {
			for j := 0; j < 512 && i < b.N; j, i = j+1, i+1 {
				v := base
				v.ExternalID = fmt.Sprintf("TES-T-%d", i)
				v.Client.PersonID = pids[i%len(pids)]
				m := store.InboundMessage{
					Pipeline: "tes_visits", SourceAdapter: "tes", SourceSystem: "tes", ExternalID: v.ExternalID,
					ContentType: "application/json", Headers: map[string]string{"content-type": "application/json"},
					Body: body,
				}
				if err := importOp(ctx, s, m, v)(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
