package nuki_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/nuki"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

// Shape of BenchmarkConverge10000: 500 locks with 20 changes each, 8
// holders per lock granted, 6 of them changed, 6 revoked.
const (
	benchLocks   = 500
	benchHolders = 8
	benchWorkers = 16
)

// benchChanges returns each lock's changes in the order the hub sends
// them (seq per lock and holder).
func benchChanges(locks int) [][]knutpunkt.Message {
	out := make([][]knutpunkt.Message, locks)
	for l := range locks {
		lock := fmt.Sprint(10_000 + l)
		holder := func(h int) string { return fmt.Sprintf("TSTNMT2321000156-L%03dH%d", l, h) }
		for h := range benchHolders {
			out[l] = append(out[l], change(nuki.GrantChange{Seq: 1, Op: nuki.OpGrant, LockRef: lock, Holder: holder(h),
				Weekdays: ptr(124), DailyFromMin: ptr(420), DailyUntilMin: ptr(960)}))
		}
		for h := range 6 {
			out[l] = append(out[l], change(nuki.GrantChange{Seq: 2, Op: nuki.OpGrant, LockRef: lock, Holder: holder(h),
				Weekdays: ptr(127), DailyFromMin: ptr(360), DailyUntilMin: ptr(1320), RemoteAllowed: true}))
		}
		for h := 2; h < 8; h++ {
			out[l] = append(out[l], change(nuki.GrantChange{Seq: 3, Op: nuki.OpRevoke, LockRef: lock, Holder: holder(h)}))
		}
	}
	return out
}

// BenchmarkConverge10000 sends 10,000 grant changes (4,000 creates, 3,000
// updates, 3,000 revokes over 500 locks) through the sink to the
// simulator, 16 locks at a time, with a 2ms operation delay so that a lock
// still busy answers 423; a transient error is retried after 1ms, as the
// hub's backoff would. It reports the 423s seen per run.
func BenchmarkConverge10000(b *testing.B) {
	changes := benchChanges(benchLocks)
	b.ReportAllocs()
	var busy atomic.Int64
	for b.Loop() {
		b.StopTimer()
		sim, sink := convergeSetup(b, benchLocks)
		b.StartTimer()
		converge(b, sink, changes, &busy)
		b.StopTimer()
		checkConverged(b, sim, benchLocks)
		sim.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(busy.Load())/float64(b.N), "423s/op")
}

// TestConvergeSmall runs the benchmark's workload on 10 locks, so that the
// benchmark's code is checked by every test run.
func TestConvergeSmall(t *testing.T) {
	const locks = 10
	sim, sink := convergeSetup(t, locks)
	var busy atomic.Int64
	converge(t, sink, benchChanges(locks), &busy)
	checkConverged(t, sim, locks)
}

func convergeSetup(tb testing.TB, locks int) (*nukisim.Server, *nuki.Sink) {
	sim := startSim(tb, nukisim.Options{CreateDelay: 2 * time.Millisecond})
	for l := range locks {
		sim.AddLock(int64(10_000+l), fmt.Sprint("Lock ", l))
	}
	return sim, newSink(tb, sinkYAML(sim, "create_poll: 1ms\n"), nil)
}

// converge sends every lock's changes in order, benchWorkers locks at a
// time.
func converge(tb testing.TB, sink *nuki.Sink, changes [][]knutpunkt.Message, busy *atomic.Int64) {
	work := make(chan []knutpunkt.Message)
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for msgs := range work {
				for _, m := range msgs {
					if err := sendRetrying(context.Background(), sink, m, busy); err != nil {
						tb.Error(err)
						return
					}
				}
			}
		})
	}
	for _, msgs := range changes {
		work <- msgs
	}
	close(work)
	wg.Wait()
}

// checkConverged: every lock holds the two holders never revoked.
func checkConverged(tb testing.TB, sim *nukisim.Server, locks int) {
	tb.Helper()
	for l := range locks {
		if n := len(sim.Grants(int64(10_000 + l))); n != 2 {
			tb.Fatalf("lock %d holds %d auths after the run, want 2", l, n)
		}
	}
}

// sendRetrying is the hub's retry of transient errors, with a fixed 1ms
// backoff.
func sendRetrying(ctx context.Context, s *nuki.Sink, m knutpunkt.Message, busy *atomic.Int64) error {
	for attempt := 0; ; attempt++ {
		err := s.Send(ctx, m)
		if err == nil {
			return nil
		}
		if adapters.IsPermanent(err) || attempt == 1000 {
			return err
		}
		if nuki.StatusOf(err) == http.StatusLocked {
			busy.Add(1)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}
