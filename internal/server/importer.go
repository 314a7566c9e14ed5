package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/records"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// ImportStats counts what an import did with its input.
type ImportStats struct {
	// Messages is how many messages were read: one per line of a .jsonl,
	// .ndjson or .csv file (a CSV record, which a quoted line break makes
	// several lines, travels with its header), one
	// per other file.
	Messages int64
	// Stored is how many were processed and committed.
	Stored int64
	// Dead is how many were dead-lettered with a reason.
	Dead int64
	// Duplicates were already in the message log (same file and line) and
	// were skipped.
	Duplicates int64
	// Elapsed is the wall time of the import.
	Elapsed time.Duration
}

// Importer runs files through a store-only pipeline straight into the
// store, with no bus in between: batch loads (a vendor's backlog, the
// benchmark) at the speed of group commit. Every message is logged,
// processed or dead-lettered exactly as `knut serve` would.
type Importer struct {
	// Workers is how many messages are processed at once; default
	// GOMAXPROCS. Processing is CPU work, so more would only contend.
	Workers int
	// InFlight is how many processed messages may wait for their commit;
	// default 2048, four group-commit batches, so one batch commits while
	// the next fills.
	InFlight int
	// Progress, if set, is called after each message with the running count.
	Progress func(done int64)
}

// Run imports files through pipeline name.
func (im *Importer) Run(ctx context.Context, cfg *config.Config, opts Options, name string, files []string) (ImportStats, error) {
	start := time.Now()
	var stats ImportStats
	opts = opts.withDefaults()
	plan, err := pipeline.Load(filepath.Join(cfg.Path(cfg.Pipelines), name+".yaml"), Resources(cfg, opts.Registry))
	if err != nil {
		return stats, err
	}
	if n := len(plan.Sinks()) + len(plan.Topics()); n > 0 {
		return stats, fmt.Errorf("pipeline %s sends messages on (to, route or dead_letter); import runs store-only pipelines, use knut serve", name)
	}
	st, err := OpenStore(ctx, cfg, opts.Secrets, opts.Clock)
	if err != nil {
		return stats, err
	}
	defer st.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers, inFlight := im.Workers, im.InFlight
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if inFlight <= 0 {
		inFlight = 2048
	}
	// The Writer's queue holds the processed messages waiting for their
	// commit, so one batch commits while the next fills.
	w := st.NewWriter(store.WriterOptions{MaxBatch: 512, MaxDelay: 5 * time.Millisecond, QueueSize: inFlight})
	defer w.Close()

	// Processing runs on a few goroutines whose stacks stay grown (the
	// validators recurse deeply). They hand each message to the Writer
	// without waiting for its commit (Writer.Go); the outcomes come back on
	// done, to one goroutine. No goroutine per message in flight: with
	// thousands, scanning their stacks was a good part of every GC cycle.
	msgs := make(chan knutpunkt.Message, workers)
	done := make(chan *importOp, inFlight+512)
	var procWG, opsWG sync.WaitGroup
	for range workers {
		procWG.Add(1)
		go func() {
			defer procWG.Done()
			for m := range msgs {
				res, err := plan.Process(ctx, m)
				op := prepareImport(st, plan, m, res, err)
				opsWG.Add(1)
				w.Go(ctx, op.fn(ctx), func(err error) {
					op.err = err
					done <- op
				})
			}
		}()
	}
	outcomes := make(chan struct{})
	go func() {
		defer close(outcomes)
		for op := range done {
			next, err := op.outcome(st, plan, opts, &stats)
			switch {
			case next != nil:
				// Its entities cannot be stored: dead-letter it instead.
				// From a goroutine of its own, as this one must never block
				// on the Writer, whose callbacks wait for it.
				opsWG.Add(1)
				go w.Go(ctx, next.fn(ctx), func(err error) {
					next.err = err
					done <- next
				})
			case err != nil:
				cancel(err)
			default:
				n := atomic.AddInt64(&stats.Messages, 1)
				if im.Progress != nil {
					im.Progress(n)
				}
			}
			opsWG.Done()
		}
	}()
	readErr := readMessages(ctx, files, plan.MaxBody, msgs)
	close(msgs)
	procWG.Wait()
	opsWG.Wait()
	close(done)
	<-outcomes
	stats.Elapsed = time.Since(start)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return stats, cause
	}
	return stats, errors.Join(readErr, ctx.Err())
}

// importOp is one processed message on its way into the store: one of the
// two ops that finish a message (commit.go), with the message itself to
// save in it, prepared (store.PrepareInbound, entity.Prepare) on the
// processing goroutine so that the Writer's goroutine only runs statements,
// and then what the write did.
type importOp struct {
	m    knutpunkt.Message
	done *done // processed cleanly, or
	dead *dead // given up on
	err  error // the Writer's outcome
}

func prepareImport(st *store.Store, plan *pipeline.Plan, m knutpunkt.Message, res pipeline.Result, perr error) *importOp {
	op := &importOp{m: m}
	in := store.Inbound(plan.Name, "import", m)
	if perr != nil {
		op.dead = newDead(plan.Name, m.ID, perr)
	} else {
		in.Status = store.StatusProcessed
		op.done = newDone(st, plan.Name, m.ID, res.Writes, nil)
	}
	prepared := st.PrepareInbound(in)
	if op.dead != nil {
		op.dead.in = &prepared
	} else {
		op.done.in = &prepared
	}
	return op
}

func (op *importOp) fn(ctx context.Context) func(tx *store.Tx) error {
	if op.dead != nil {
		return op.dead.op(ctx)
	}
	return op.done.op(ctx)
}

// outcome counts what the op did. Only a store failure is returned, and
// next, the op to run instead, when the message's entities cannot be
// stored: an order event its order's state refuses, or one whose order is
// not there, which no later message of a one-shot import will bring.
func (op *importOp) outcome(st *store.Store, plan *pipeline.Plan, opts Options, stats *ImportStats) (next *importOp, err error) {
	m := op.m
	var de *router.DeferredError
	switch {
	case op.err != nil && op.done != nil && (adapters.IsPermanent(op.err) || errors.As(op.err, &de)):
		return prepareImport(st, plan, m, pipeline.Result{}, &pipeline.StepError{Pipeline: plan.Name, Step: "commit", MessageID: m.ID, Err: op.err}), nil
	case op.err != nil:
		return nil, fmt.Errorf("import message %s: %w", m.ID, op.err)
	case op.done != nil && op.done.inDup, op.dead != nil && op.dead.inDup:
		atomic.AddInt64(&stats.Duplicates, 1)
	case op.dead != nil:
		atomic.AddInt64(&stats.Dead, 1)
		// The external id is file:line, where the operator looks.
		opts.Logger.Warn("dead letter", zap.String("at", m.Header(knutpunkt.HeaderExternalID)),
			zap.String("pipeline", plan.Name), zap.String("msg_id", m.ID), zap.Error(op.dead.cause))
	default:
		atomic.AddInt64(&stats.Stored, 1)
	}
	return nil, nil
}

// readMessages turns files into messages. The external id is the file's
// base name and line, so importing the same file twice stores nothing twice.
// .jsonl, .ndjson and .csv files are split into records (internal/records);
// any other file is one message.
func readMessages(ctx context.Context, files []string, maxBody int64, out chan<- knutpunkt.Message) error {
	for _, path := range files {
		if err := readFile(ctx, path, maxBody, out); err != nil {
			return err
		}
	}
	return nil
}

func readFile(ctx context.Context, path string, maxBody int64, out chan<- knutpunkt.Message) error {
	base := filepath.Base(path)
	ext := strings.ToLower(filepath.Ext(path))
	contentType := map[string]string{".jsonl": "application/json", ".ndjson": "application/json", ".json": "application/json",
		".csv": "text/csv", ".xml": "application/xml"}[ext]
	newMsg := func(ref string, body []byte) knutpunkt.Message {
		return knutpunkt.Message{
			ID: uuid.Must(uuid.NewV7()).String(),
			Headers: map[string]string{
				knutpunkt.HeaderContentType:  contentType,
				knutpunkt.HeaderSourceSystem: "import",
				knutpunkt.HeaderExternalID:   ref,
				knutpunkt.HeaderFilename:     base,
			},
			Body: body,
		}
	}
	send := func(m knutpunkt.Message) error {
		select {
		case out <- m:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if ext != ".jsonl" && ext != ".ndjson" && ext != ".csv" {
		body, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		return send(newMsg(base, body))
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	format := records.Lines
	if ext == ".csv" {
		format = records.CSV
	}
	rr := records.NewReader(f, format, int(maxBody))
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		if err := send(newMsg(base+":"+strconv.Itoa(rec.Line), rec.Body)); err != nil {
			return err
		}
	}
}
