package server

import (
	"context"
	"fmt"

	"github.com/knutpunkt/knutpunkt/internal/entity"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The two writes that finish a message, one Writer op each, shared by the
// router's handlers (messageLog.Commit, messageLog.DeadLetter) and knut
// import. Both run a message through the same plan (pipeline.Plan.Process)
// and end it with one of these; only the way there differs. The router logs
// a message durably when it is handed over and queues it; import reads
// files, which stay where they are if it stops, so a message is logged
// with its outcome, in the same op (in), and never waits in the log as
// received. How ops are batched is the Writer's business.

// done is the op of a message processed cleanly: its entities, its outputs
// logged as received in their pipelines, and the message processed.
type done struct {
	pipeline, msgID string
	// in is the message itself when it is not in the log yet (import):
	// it is saved processed. Its one attempt succeeded, which its status
	// and time say, so no attempt row is written for it.
	in     *store.PreparedInbound
	writes []pipeline.Write // prepared (entity.Prepare) off the Writer's goroutine
	outs   []store.PreparedInbound

	// What the op did.
	inDup bool   // in was in the log already: nothing else was written
	dup   []bool // outs[i] was in the log already (not to queue)
}

// newDone prepares what it can of the op before the Writer runs it.
func newDone(st *store.Store, p, msgID string, writes []pipeline.Write, outs []router.Outbound) *done {
	d := &done{pipeline: p, msgID: msgID, writes: entity.Prepare(st, writes), dup: make([]bool, len(outs))}
	for _, o := range outs {
		d.outs = append(d.outs, st.PrepareInbound(store.Inbound(o.Pipeline, o.Source, o.Msg)))
	}
	return d
}

func (d *done) op(ctx context.Context) func(tx *store.Tx) error {
	return func(tx *store.Tx) error {
		if d.in != nil {
			if dup, err := saveInput(ctx, tx, *d.in, &d.inDup); err != nil || dup {
				return err
			}
		} else if err := tx.RecordAttempt(ctx, d.msgID, d.pipeline, "", nil); err != nil {
			return err
		}
		if err := entity.Apply(ctx, tx, d.writes); err != nil {
			return err
		}
		for i, o := range d.outs {
			res, err := tx.SaveInbound(ctx, o)
			if err != nil {
				return fmt.Errorf("save message %s for pipeline %s: %w", o.ID(), o.Pipeline(), err)
			}
			d.dup[i] = res.Duplicate
		}
		if d.in != nil {
			return nil // saved processed
		}
		return tx.MarkProcessed(ctx, d.msgID)
	}
}

// dead is the op of a message given up on: dead-lettered with why.
type dead struct {
	entry store.DeadLetterEntry
	// in is the message itself when it is not in the log yet (import):
	// it is saved with the attempt that failed, which the router records
	// as each attempt fails (messageLog.RecordAttempt).
	in    *store.PreparedInbound
	cause error
	inDup bool
}

func newDead(p, msgID string, cause error) *dead {
	return &dead{entry: deadLetterEntry(p, msgID, cause), cause: cause}
}

func (d *dead) op(ctx context.Context) func(tx *store.Tx) error {
	return func(tx *store.Tx) error {
		if d.in != nil {
			if dup, err := saveInput(ctx, tx, *d.in, &d.inDup); err != nil || dup {
				return err
			}
			if err := tx.RecordAttempt(ctx, d.entry.MessageID, d.entry.Pipeline, d.entry.Step, masked(d.cause)); err != nil {
				return err
			}
		}
		_, err := tx.DeadLetter(ctx, d.entry)
		return err
	}
}

// saveInput saves an op's input message and notes in dup whether the log
// had it already: then the op writes nothing else.
func saveInput(ctx context.Context, tx *store.Tx, in store.PreparedInbound, dup *bool) (bool, error) {
	saved, err := tx.SaveInbound(ctx, in)
	if err != nil {
		return false, err
	}
	*dup = saved.Duplicate
	return saved.Duplicate, nil
}
