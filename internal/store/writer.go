package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// WriterOptions tune a Writer's group commit.
type WriterOptions struct {
	// MaxBatch is the most ops one transaction holds; default 512.
	MaxBatch int
	// MaxDelay is how long an open batch waits for more ops once the queue
	// is empty, counted from the batch's first op. 0 commits as soon as the
	// queue runs dry, which is already group commit: ops that arrive while
	// a batch commits form the next batch. A few milliseconds fill batches
	// better when callers are fewer than MaxBatch, at that cost in latency.
	MaxDelay time.Duration
	// QueueSize is how many ops may wait for the batch loop; default MaxBatch.
	QueueSize int
}

// WriterStats are a Writer's counters since it was made.
type WriterStats struct {
	// Batches is the number of transactions committed or attempted.
	Batches uint64
	// Ops is the number of ops run (succeeded or failed).
	Ops uint64
	// Failed is the number of ops whose own error was returned.
	Failed uint64
}

// Writer shares one transaction, and so one commit (one fsync with durable
// SQLite), among many concurrent writes. It is what makes a durable store
// fast: a commit costs milliseconds, a row microseconds.
//
// Do is safe for concurrent use. An op that returns an error (or panics) is
// rolled back alone and the rest of its batch commits: the batch is then
// re-run with a savepoint per op. So an op's fn may be called twice (only
// when another op of its batch failed); it must have no effects outside tx.
// Ops run one at a time on the Writer's goroutine, in arrival order, but
// for DoBulk's, which wait for the others queued.
//
// In a batch's first pass the hot inserts (SaveInbound, UpsertVisit) are
// written behind: buffered and inserted as multi-row statements before any
// other statement and before the commit (see writeBehind). Should that
// fail, or meet a duplicate message or a visit already stored, the batch is
// re-run op by op as above, so each op still gets its own outcome.
type Writer struct {
	s    *Store
	opts WriterOptions
	ops  chan *writerOp
	bulk chan *writerOp // DoBulk's ops: served when ops has none
	done chan struct{}

	mu     sync.RWMutex // guards closed against sends on a closed ops
	closed bool

	batches, nops, failed atomic.Uint64

	// wb is the batch's write-behind buffer, reused from batch to batch.
	wb *writeBehind
	// conn are the statements prepared on SQLite's one write connection;
	// nil for PostgreSQL.
	conn *connStmts
}

type writerOp struct {
	ctx  context.Context
	fn   func(*Tx) error
	lazy bool        // see DoLazy
	bulk bool        // see DoBulk
	done chan error  // buffered: the batch loop never blocks on a gone caller
	cb   func(error) // instead of done, for Go
}

// finish reports the op's outcome to its caller.
func (op *writerOp) finish(err error) {
	if op.cb != nil {
		op.cb(err)
		return
	}
	op.done <- err
}

// NewWriter starts a Writer. Close it before closing the Store (Store.Close
// also closes it).
func (s *Store) NewWriter(opts WriterOptions) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = opts.MaxBatch
	}
	w := &Writer{
		s:    s,
		opts: opts,
		ops:  make(chan *writerOp, opts.QueueSize),
		bulk: make(chan *writerOp, 16),
		done: make(chan struct{}),
		wb:   newWriteBehind(),
	}
	if s.dialect == DialectSQLite {
		w.conn = newConnStmts(s.wdb.DB)
		w.conn.missed = append(w.conn.missed, w.wb.queries()...)
	}
	s.writersMu.Lock()
	s.writers[w] = struct{}{}
	s.writersMu.Unlock()
	go w.loop()
	return w
}

// Do runs fn in the Writer's current batch transaction and returns once that
// transaction committed: nil then means fn's writes are durable. If fn
// returns an error, its writes are rolled back, the error is returned as is,
// and the other ops of the batch are unaffected. If the commit fails, every
// op in the batch gets the commit error.
//
// ctx is checked before fn runs: if it is done by then, fn is not run and
// ctx.Err() is returned. Once fn runs, its statements ignore ctx's
// cancellation (the transaction is shared), but Do still returns ctx.Err()
// as soon as ctx is done; the op's outcome is then unknown, as with any
// database call cut short, and it may commit.
//
// fn must use only tx, must not keep it, must not call Do, and may be
// called more than once (see Writer).
func (w *Writer) Do(ctx context.Context, fn func(tx *Tx) error) error {
	return w.do(ctx, &writerOp{ctx: ctx, fn: fn})
}

// DoLazy is Do for writes the hub can redo from durable ones: it returns
// once the transaction committed, but the commit need not have reached the
// disk. A crash of the process loses nothing (the operating system has the
// write); a power cut or a crash of the machine may take back the last
// lazy commits, never a durable one, and never half of one. They become
// durable with the next durable commit, as SQLite's and PostgreSQL's
// write-ahead logs are written in order.
//
// The router commits a message's processing this way: the message itself
// was saved durably (Do) before its sender was answered, and processing it
// again yields the same writes and the same derived message ids, so a
// delivery made again carries the same idempotency key. Saving an fsync on
// each hop is most of an order's latency.
func (w *Writer) DoLazy(ctx context.Context, fn func(tx *Tx) error) error {
	return w.do(ctx, &writerOp{ctx: ctx, fn: fn, lazy: true})
}

// DoBulk is Do for a large write, such as a message of megabytes: it
// commits durably, in a transaction of its own, when no other op waits.
// Every other op queued meanwhile goes first, so that a flood of large
// bodies, each of which holds the one writer while it is written and
// synced, makes small writes wait for at most the one being written, not
// for all those queued ahead of them.
func (w *Writer) DoBulk(ctx context.Context, fn func(tx *Tx) error) error {
	return w.do(ctx, &writerOp{ctx: ctx, fn: fn, bulk: true})
}

func (w *Writer) do(ctx context.Context, op *writerOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan error, 1)
	queue := w.ops
	if op.bulk {
		queue = w.bulk
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case queue <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Go is Do without the wait: it queues fn (blocking only while the queue is
// full) and returns; done is then called once with what Do would have
// returned. done runs on the Writer's goroutine, so it must be quick and
// must not call the Writer. It lets a caller keep thousands of ops in
// flight without a goroutine, and a goroutine stack, for each. If ctx is
// done before fn is queued, or the Writer is closed, Go calls done with
// that error before it returns.
func (w *Writer) Go(ctx context.Context, fn func(tx *Tx) error, done func(error)) {
	if err := ctx.Err(); err != nil {
		done(err)
		return
	}
	op := &writerOp{ctx: ctx, fn: fn, cb: done}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		done(ErrClosed)
		return
	}
	select {
	case w.ops <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		done(ctx.Err())
	}
}

// Stats returns the Writer's counters, e.g. to report the mean batch size.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Batches: w.batches.Load(), Ops: w.nops.Load(), Failed: w.failed.Load()}
}

// Close stops accepting ops, commits the ops already queued and waits for
// the batch loop to end. Do after Close returns ErrClosed. Close is
// idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
		close(w.bulk)
	}
	w.mu.Unlock()
	<-w.done
	w.s.writersMu.Lock()
	delete(w.s.writers, w)
	w.s.writersMu.Unlock()
	return nil
}

func (w *Writer) loop() {
	defer close(w.done)
	var timer *time.Timer
	if w.conn != nil {
		defer w.conn.close()
	}
	var next *writerOp
	for {
		op := next
		if op == nil {
			if op = w.take(); op == nil {
				break
			}
		}
		if w.conn != nil {
			w.conn.learn(context.Background())
		}
		next, timer = w.batch(op, timer)
	}
	if timer != nil {
		timer.Stop()
	}
}

// take returns the next op to start a batch with: one from ops if any
// waits, else the first to arrive on either queue; nil once both are closed
// and empty.
func (w *Writer) take() *writerOp {
	ops, bulk := w.ops, w.bulk
	for ops != nil || bulk != nil {
		select {
		case op, open := <-ops:
			if open {
				return op
			}
			ops = nil
			continue
		default:
		}
		select {
		case op, open := <-ops:
			if open {
				return op
			}
			ops = nil
		case op, open := <-bulk:
			if open {
				return op
			}
			bulk = nil
		}
	}
	return nil
}

// batch runs first and whatever else arrives, up to MaxBatch ops, in one
// transaction and commits it. The commit is durable unless first is lazy;
// a durable op arriving for a lazy batch ends it and is returned to start
// the next one (lazy ops join a durable batch: they only become durable
// sooner).
//
// Ops first run without savepoints: a savepoint makes SQLite copy every page
// an op touches into the statement journal, which costs more than the op.
// When an op fails, the transaction is rolled back and the batch is re-run
// with a savepoint per op, so that only the failing ops are rolled back.
func (w *Writer) batch(first *writerOp, timer *time.Timer) (next *writerOp, _ *time.Timer) {
	w.batches.Add(1)
	start := time.Now()
	ops := make([]*writerOp, 0, w.opts.MaxBatch)

	lazy := first.lazy
	// The batch holds one connection from setting its durability to its
	// commit: with SQLite that is the one write connection, whose level
	// another Writer of the Store may otherwise change in between. The
	// batch transaction must not die with any one caller's context.
	conn, err := w.s.wdb.Connx(context.Background())
	if err != nil {
		first.finish(fmt.Errorf("begin batch: %w", err))
		return nil, timer
	}
	defer conn.Close()
	sqltx, err := w.begin(conn, lazy)
	if err != nil {
		first.finish(fmt.Errorf("begin batch: %w", err))
		return nil, timer
	}
	tx := w.newTx(conn, sqltx)
	w.wb.reset()
	tx.wb = w.wb
	failed := false
	run := func(op *writerOp) {
		w.nops.Add(1)
		if err := op.ctx.Err(); err != nil {
			op.finish(err)
			return
		}
		ops = append(ops, op)
		if failed {
			return // the batch will be re-run with savepoints anyway
		}
		if err := runOp(tx, op); err != nil {
			failed = true
		}
	}

	run(first)
	n, limit := 1, w.opts.MaxBatch
	if first.bulk {
		limit = 1 // alone: see DoBulk
	}
collect:
	for n < limit {
		select {
		case op, open := <-w.ops:
			if !open {
				break collect
			}
			if lazy && !op.lazy {
				next = op
				break collect
			}
			run(op)
			n++
			continue
		default:
		}
		wait := w.opts.MaxDelay - time.Since(start)
		if wait <= 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case op, open := <-w.ops:
			timer.Stop()
			if !open {
				break collect
			}
			if lazy && !op.lazy {
				next = op
				break collect
			}
			run(op)
			n++
		case <-timer.C:
			break collect
		}
	}

	ok := ops
	if !failed && tx.wb != nil && tx.wb.pending() {
		if err := tx.flush(context.Background()); err != nil {
			failed = true
		}
	}
	tx.wb = nil
	if failed {
		tx.release()
		_ = sqltx.Rollback()
		if sqltx, err = w.begin(conn, lazy); err != nil {
			err = fmt.Errorf("begin batch: %w", err)
			for _, op := range ops {
				op.finish(err)
			}
			return next, timer
		}
		tx = w.newTx(conn, sqltx)
		ok = ops[:0:0]
		for _, op := range ops {
			if err := tx.savepoint(op.ctx, op.fn); err != nil {
				w.failed.Add(1)
				op.finish(err)
				continue
			}
			ok = append(ok, op)
		}
	}

	tx.release()
	if err := sqltx.Commit(); err != nil {
		err = fmt.Errorf("commit batch of %d: %w", len(ok), err)
		for _, op := range ok {
			op.finish(err)
		}
		return next, timer
	}
	w.s.committed()
	for _, op := range ok {
		op.finish(nil)
	}
	return next, timer
}

// newTx is the Tx of a batch's transaction sqltx on conn.
func (w *Writer) newTx(conn *sqlx.Conn, sqltx *sqlx.Tx) *Tx {
	tx := newTx(w.s, sqltx, true)
	tx.conn = w.conn
	if w.s.dialect == DialectPostgres {
		tx.raw = conn.Conn
	}
	return tx
}

// begin opens a batch's transaction on conn, committing durably or not
// (see DoLazy). SQLite's synchronous level is set before it, as SQLite
// refuses to change it inside a transaction: NORMAL for a lazy batch (in
// WAL mode a commit then writes the log without an fsync), the Store's own
// level otherwise. On PostgreSQL a lazy transaction sets
// synchronous_commit off for itself.
func (w *Writer) begin(conn *sqlx.Conn, lazy bool) (*sqlx.Tx, error) {
	ctx := context.Background()
	if w.s.dialect == DialectSQLite {
		if err := w.s.setSyncLevel(ctx, conn, lazy); err != nil {
			return nil, err
		}
		return conn.BeginTxx(ctx, nil)
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil || !lazy {
		return tx, err
	}
	if _, err := tx.Exec("SET LOCAL synchronous_commit TO OFF"); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// setSyncLevel puts the SQLite write connection conn, held by the caller,
// at the lazy or the durable synchronous level, if it is not there.
// s.lazySync is the connection's state, so it is read and written only by
// a holder of that one connection.
func (s *Store) setSyncLevel(ctx context.Context, conn *sqlx.Conn, lazy bool) error {
	if lazy == s.lazySync || s.sync == "NORMAL" || s.sync == "OFF" {
		return nil
	}
	level := s.sync
	if lazy {
		level = "NORMAL"
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+level); err != nil {
		return fmt.Errorf("synchronous %s: %w", level, err)
	}
	s.lazySync = lazy
	return nil
}

// runOp runs op without a savepoint, turning a panic into an error.
func runOp(tx *Tx, op *writerOp) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errWriterOpPanic, r)
		}
	}()
	return op.fn(tx)
}

// errWriterOpPanic is wrapped by the error an op that panicked returns.
var errWriterOpPanic = errors.New("writer op panicked")
