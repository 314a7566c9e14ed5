// Package entity is the table of canonical entity kinds a pipeline's store
// step writes. For each kind it says how the kind's canonical JSON is
// decoded and validated, what of its write can be done off the store
// writer's goroutine, and how it is applied in the transaction that marks
// its message processed. The router's handlers and knut import reach the
// store through this one table, so a new kind (staff, a lock, a key grant,
// a reconciliation) is one entry in Kinds, not edits in several files.
package entity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Kind is one canonical entity kind.
type Kind struct {
	// Name is what a pipeline's store step names: `store: visit`.
	Name string
	// Decode reads the kind's canonical JSON strictly (unknown fields
	// refused) and validates it.
	Decode func(body []byte, opts homecare.ValidateOptions) (any, error)
	// Prepare, if set, does the part of the write that needs no
	// transaction (hashing, sealing) on the caller's goroutine; Apply
	// takes its result as well as a decoded entity.
	Prepare func(st *store.Store, e any) any
	// Apply writes the entity in tx, for message msgID. It reports hold
	// when nobody downstream is to hear of the entity (an order change
	// older than the one in force): the message is processed but its
	// outputs are not logged or sent. An error wrapped with router.Defer
	// makes the message wait; adapters.Permanent makes it dead at once.
	Apply func(ctx context.Context, tx *store.Tx, e any, msgID string) (hold bool, err error)
}

// Kinds are the entity kinds the hub stores.
var Kinds = []Kind{
	{
		Name: "visit",
		Decode: func(body []byte, opts homecare.ValidateOptions) (any, error) {
			var v homecare.Visit
			if !decodeVisitFast(body, &v) {
				v = homecare.Visit{}
				if err := decodeStrict(body, &v); err != nil {
					return nil, err
				}
			}
			// The hub says what is doubtful, not the sender: flags are recomputed
			// (ambiguous_time kept where it can be true, from the mapping). The
			// store adds those that need the time of receipt.
			v.RecomputeFlags(time.Time{})
			if err := v.ValidateWith(opts); err != nil {
				return nil, err
			}
			return v, nil
		},
		Prepare: func(st *store.Store, e any) any { return st.PrepareVisit(e.(homecare.Visit)) },
		Apply: func(ctx context.Context, tx *store.Tx, e any, _ string) (bool, error) {
			v, ok := e.(store.PreparedVisit)
			if !ok {
				return false, fmt.Errorf("visit: got %T, not prepared (entity.Prepare)", e)
			}
			_, err := tx.UpsertVisit(ctx, v)
			if _, ok := errors.AsType[*store.VisitVersionError](err); ok {
				return false, adapters.Permanent(err) // the same again will not apply
			}
			return false, err
		},
	},
	{
		Name: "order_event",
		Decode: func(body []byte, opts homecare.ValidateOptions) (any, error) {
			var ev homecare.OrderEvent
			if err := decodeStrict(body, &ev); err != nil {
				return nil, err
			}
			if err := ev.Validate(opts); err != nil {
				return nil, err
			}
			return ev, nil
		},
		Apply: func(ctx context.Context, tx *store.Tx, e any, msgID string) (bool, error) {
			res, err := tx.ApplyOrderEvent(ctx, e.(homecare.OrderEvent), msgID)
			if errors.Is(err, homecare.ErrUnknownOrder) || errors.Is(err, homecare.ErrNoPauseYet) {
				// Its create (or pause) may be behind it in the queue: wait, bounded.
				return false, router.Defer(err)
			}
			if _, ok := errors.AsType[*homecare.TransitionError](err); ok {
				return false, adapters.Permanent(err)
			}
			if _, ok := errors.AsType[*homecare.ForeignOrderError](err); ok {
				return false, adapters.Permanent(err)
			}
			// A change older than the one in force is recorded, not passed on: the
			// provider has the newer one.
			return res.Stale, err
		},
	},
	{
		// A directory's snapshot: every person it lists, one canonical staff record per
		// line (JSON lines, as a mapping gives them for a snapshot of entries), synced as
		// one (store.Tx.SyncStaff): joiners, movers and leavers, under the mass-removal
		// guard. A snapshot that lists nobody names no directory and is refused: an empty
		// answer is a broken directory until someone says otherwise.
		Name: "staff",
		Decode: func(body []byte, opts homecare.ValidateOptions) (any, error) {
			var people []homecare.DirectoryPerson
			for i, line := range bytes.Split(body, []byte("\n")) {
				if len(bytes.TrimSpace(line)) == 0 {
					continue
				}
				var p homecare.DirectoryPerson
				if err := decodeStrict(line, &p); err != nil {
					return nil, fmt.Errorf("record %d: %w", i+1, err)
				}
				if err := p.Validate(opts); err != nil {
					return nil, fmt.Errorf("record %d: %w", i+1, err)
				}
				people = append(people, p)
			}
			if len(people) == 0 {
				return nil, errors.New("an empty snapshot: the directory listed nobody (a broken answer until someone says otherwise; nobody was ended)")
			}
			return people, nil
		},
		Apply: func(ctx context.Context, tx *store.Tx, e any, msgID string) (bool, error) {
			people := e.([]homecare.DirectoryPerson)
			_, err := tx.SyncStaff(ctx, people[0].Directory, people, store.DefaultSyncGuard, msgID)
			if err != nil {
				// The same snapshot again would fail the same way.
				return false, adapters.Permanent(err)
			}
			return false, nil
		},
	},
	{
		// A lock event, stored once per (vendor, event_ref), resolved to its grant.
		Name: "lock_event",
		Decode: func(body []byte, _ homecare.ValidateOptions) (any, error) {
			var e homecare.LockEvent
			if err := decodeStrict(body, &e); err != nil {
				return nil, err
			}
			if err := e.Validate(); err != nil {
				return nil, err
			}
			return e, nil
		},
		Apply: func(ctx context.Context, tx *store.Tx, e any, msgID string) (bool, error) {
			_, err := tx.InsertLockEvent(ctx, e.(homecare.LockEvent), msgID)
			return false, err
		},
	},
	{
		// A lock vendor's answer to a key grant change: what it now holds.
		Name: "key_grant_result",
		Decode: func(body []byte, opts homecare.ValidateOptions) (any, error) {
			var r vendorResult
			if err := decodeStrict(body, &r); err != nil {
				return nil, err
			}
			if err := r.Validate(opts); err != nil {
				return nil, err
			}
			return r, nil
		},
		Apply: func(ctx context.Context, tx *store.Tx, e any, _ string) (bool, error) {
			r := e.(vendorResult)
			err := tx.ApplyKeyGrantResult(ctx, r.vendor(), r.KeyGrantResult)
			if errors.Is(err, store.ErrNotFound) {
				return false, adapters.Permanent(err) // no change of the hub's: nothing will make it one
			}
			return false, err
		},
	},
	{
		// A lock vendor's list of the grants it holds, for drift repair: one object
		// {"vendor": …, "grants": [...]}, so that a vendor holding none says so.
		Name: "key_grants",
		Decode: func(body []byte, opts homecare.ValidateOptions) (any, error) {
			var list struct {
				Vendor string                 `json:"vendor"`
				Grants []homecare.VendorGrant `json:"grants"`
			}
			if err := decodeStrict(body, &list); err != nil {
				return nil, err
			}
			if list.Vendor == "" {
				return nil, errors.New("vendor: is required")
			}
			for i, g := range list.Grants {
				if g.LockRef == "" {
					return nil, fmt.Errorf("grants[%d].lock_ref: is required", i)
				}
			}
			return vendorGrants{vendor: list.Vendor, grants: list.Grants, allowTest: opts.AllowTestHSAIDs}, nil
		},
		Apply: func(ctx context.Context, tx *store.Tx, e any, _ string) (bool, error) {
			snap := e.(vendorGrants)
			_, err := tx.CompareVendorGrants(ctx, snap.vendor, snap.grants, snap.allowTest)
			return false, err
		},
	},
}

// vendorResult is a key grant result with the vendor it is from.
type vendorResult struct {
	Vendor string `json:"vendor"`
	homecare.KeyGrantResult
}

func (r vendorResult) vendor() string { return r.Vendor }

// Validate checks the result and that it names its vendor.
func (r vendorResult) Validate(opts homecare.ValidateOptions) error {
	if r.Vendor == "" {
		return errors.Join(errors.New("vendor: is required"), r.KeyGrantResult.Validate(opts))
	}
	return r.KeyGrantResult.Validate(opts)
}

// vendorGrants is one vendor's grant list.
type vendorGrants struct {
	vendor    string
	grants    []homecare.VendorGrant
	allowTest bool
}

func kind(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Decoders are the pipeline loader's store-step decoders, one per kind;
// their errors name the kind.
func Decoders(opts homecare.ValidateOptions) map[string]pipeline.EntityDecoder {
	m := make(map[string]pipeline.EntityDecoder, len(Kinds))
	for _, k := range Kinds {
		m[k.Name] = func(body []byte) (any, error) {
			e, err := k.Decode(body, opts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.Name, err)
			}
			return e, nil
		}
	}
	return m
}

// Prepare returns writes with each entity whose kind can be prepared off
// the writer's goroutine prepared; writes itself when none can.
func Prepare(st *store.Store, writes []pipeline.Write) []pipeline.Write {
	var out []pipeline.Write
	for i, w := range writes {
		if k, ok := kind(w.Kind); ok && k.Prepare != nil {
			if out == nil {
				out = append([]pipeline.Write(nil), writes...)
			}
			out[i].Entity = k.Prepare(st, w.Entity)
		}
	}
	if out == nil {
		return writes
	}
	return out
}

// Apply stores the entities of writes in tx, in order. It reports hold
// when one of them is not to be passed on (Kind.Apply): the message's
// outputs are then dropped.
func Apply(ctx context.Context, tx *store.Tx, writes []pipeline.Write) (hold bool, err error) {
	for _, w := range writes {
		k, ok := kind(w.Kind)
		if !ok {
			return false, fmt.Errorf("store %s from message %s: no such entity kind", w.Kind, w.MessageID)
		}
		h, err := k.Apply(ctx, tx, w.Entity, w.MessageID)
		if err != nil {
			return false, fmt.Errorf("store %s from message %s: %w", w.Kind, w.MessageID, err)
		}
		hold = hold || h
	}
	return hold, nil
}

// decodeStrict decodes exactly one entity, refusing unknown fields and a
// key repeated in any object: encoding/json would keep its last value
// where a mapping or validator may have read the first.
func decodeStrict(body []byte, v any) error {
	if err := jsonscan.CheckKeys(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one entity in one message (JSON lines from a mapping need `split: lines` before `store`)")
	}
	return nil
}
