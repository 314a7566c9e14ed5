package router

import (
	"context"
	"iter"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// MessageLog is the part of the store the router needs: the message log and the
// commit of a message's entity writes.
type MessageLog interface {
	// SaveInbound durably records m entering pipeline p from source and
	// returns its ID in the log. dup is true when the message was already
	// known (same ID, or same source system and external id); it is then
	// not processed again, and id is the first message's.
	SaveInbound(ctx context.Context, p, source string, m knutpunkt.Message) (id string, dup bool, err error)
	// RecordAttempt records one processing attempt and its error, if any.
	RecordAttempt(ctx context.Context, p, step, msgID string, attemptErr error) error
	// Commit records the successful attempt, stores writes, marks the
	// message processed and logs outs as received in their pipelines, all
	// in one transaction: the message's effects and the messages it hands
	// on are stored together or not at all, and one commit waits where
	// four would. dup[i] reports outs[i] as already known (not to queue).
	//
	// Unlike SaveInbound, Commit, RecordAttempt and DeadLetter need not
	// reach the disk before they return: a power cut may take back the
	// last of them (a crash of the process cannot), and the message is then
	// received again and processed again from its durable body, to the
	// same writes and the same derived ids. That saves an fsync on every
	// hop of a message's way through the hub.
	Commit(ctx context.Context, p, msgID string, writes []pipeline.Write, outs []Outbound) (dup []bool, err error)
	// DeadLetter marks the message dead with why: cause is the final error,
	// a *pipeline.StepError naming the step where processing failed.
	DeadLetter(ctx context.Context, p, msgID string, cause error) error
	// Pending yields pipeline p's messages that are received but neither
	// processed nor dead, oldest first, except those known reports true
	// for: after a restart, every unfinished one; while running, those
	// another process logged (knut replay) or a failed publish left. It
	// reads each body only when the iteration reaches it, so a sweep that
	// stops for want of room has not loaded the rest.
	Pending(ctx context.Context, p string, known func(id string) bool) iter.Seq2[knutpunkt.Message, error]
	// Done reports whether message msgID is finished (processed, dead or
	// replayed): the bus may hand a message over again after a stop, and a
	// finished one must not be processed twice.
	Done(ctx context.Context, msgID string) (bool, error)
}

// Outbound is a message a handler hands on, logged with its input's
// commit: as received in Pipeline (from Source), then queued on Topic.
type Outbound struct {
	Pipeline, Source, Topic string
	Msg                     knutpunkt.Message
}
