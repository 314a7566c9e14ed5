package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/knutpunkt/knutpunkt/internal/entity"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
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
	// input, when set, is saved processed: its one attempt succeeded,
	// which its status and time say, so no attempt row is written for it.
	input
	writes []pipeline.Write // prepared (entity.Prepare) off the Writer's goroutine
	outs   []store.PreparedInbound
	dup    []bool // what the op did: outs[i] was in the log already, or held (not to queue)
	// held is what the op did: an entity was not to be passed on (a stale
	// order change), so no output was logged.
	held bool
}

// input is the message an op finishes when it is not in the log yet
// (import), saved in the op.
type input struct {
	in    *store.PreparedInbound
	inDup bool // what the op did: in was in the log already, nothing else was written
}

// save saves the input and reports whether the log had it already.
func (i *input) save(ctx context.Context, tx *store.Tx) (bool, error) {
	saved, err := tx.SaveInbound(ctx, *i.in)
	if err != nil {
		return false, err
	}
	i.inDup = saved.Duplicate
	return i.inDup, nil
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
			if dup, err := d.save(ctx, tx); err != nil || dup {
				return err
			}
		} else if err := tx.RecordAttempt(ctx, d.msgID, d.pipeline, "", nil); err != nil {
			return err
		}
		held, err := entity.Apply(ctx, tx, d.writes)
		if err != nil {
			return err
		}
		d.held = held
		for i, o := range d.outs {
			if held {
				d.dup[i] = true
				continue
			}
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
	cause error
	// input, when set, is saved with the attempt that failed, which the
	// router records as each attempt fails (messageLog.RecordAttempt).
	input
}

func newDead(p, msgID string, cause error) *dead {
	return &dead{entry: deadLetterEntry(p, msgID, cause), cause: cause}
}

func (d *dead) op(ctx context.Context) func(tx *store.Tx) error {
	return func(tx *store.Tx) error {
		if d.in != nil {
			if dup, err := d.save(ctx, tx); err != nil || dup {
				return err
			}
			if err := tx.RecordAttempt(ctx, d.entry.MessageID, d.entry.Pipeline, d.entry.Step, masked(d.cause)); err != nil {
				return err
			}
		}
		if _, err := tx.DeadLetter(ctx, d.entry); err != nil {
			return err
		}
		return auditRefusal(ctx, tx, d.entry, d.cause)
	}
}

// auditRefusal records in the audit trail, with the dead letter, a message
// refused because its sender may not touch what it named: a provider's
// event on another provider's order.
func auditRefusal(ctx context.Context, tx *store.Tx, e store.DeadLetterEntry, cause error) error {
	f, ok := errors.AsType[*homecare.ForeignOrderError](cause)
	if !ok {
		return nil
	}
	_, err := tx.Audit(ctx, store.AuditEntry{
		Actor: homecare.ByPrefix + f.Provider, Action: "order_event." + string(f.Event), Outcome: store.AuditDenied,
		Resource: "order:" + f.SourceSystem + "/" + f.OrderID, OrderSource: f.SourceSystem, OrderID: f.OrderID,
		Detail: fmt.Sprintf("not the order's provider; message %s of pipeline %s dead-lettered", e.MessageID, e.Pipeline),
	})
	return err
}
