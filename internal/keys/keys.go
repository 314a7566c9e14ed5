// Package keys is the key lifecycle of keyless locks (DOMAIN.md §3): who may open which
// client's door, and when. Only the chosen provider's staff, only while the order is in
// force: the hub wants a grant for every (lock, person) where an order in force today
// names the lock (its key information) and the person is listed by a directory sync as
// working for the order's provider, and for nobody else. A paused or ended order, a
// change of provider, a leaver and a blocked person (an emergency revoke: a lost phone,
// a dismissal) take the grants away.
//
// The lifecycle is state-based, not a log of operations: Plan compares what the hub
// wants with what it has handed to the vendor (the store's key_grants) and what the
// vendor last showed (drift), and returns the changes, numbered per (lock, person).
// Converge records each change and hands it to the keys pipeline, whose sink is the
// vendor's adapter; the pipeline keeps a (lock, person)'s changes in order (order_by),
// retries them through an outage, and the adapter's answer settles the row. A change
// never confirmed is handed on again, numbered anew, after resend_after, so nothing is
// lost to an outage longer than the retries; a revoke cannot be overtaken by an older
// grant, as every change carries the whole wanted state and a higher number.
package keys

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Want is a grant the hub wants.
type Want struct {
	LockRef    string
	Holder     homecare.HSAID
	ProviderID string
	Client     homecare.PersonID
	OrderRef   string
	Window     homecare.KeyWindow
}

func (w Want) key() string { return w.LockRef + "\x00" + string(w.Holder) }

// InForce returns the orders of timelines in force on day: started, not ended,
// paused (a stay in hospital, a trip), rejected or closed.
func InForce(timelines []homecare.Timeline, day homecare.Date) []homecare.Order {
	var out []homecare.Order
	for _, tl := range timelines {
		o := tl.At(day)
		switch {
		case o.IsZero(), o.Status.Closed(), o.Status == homecare.OrderStatusRejected, o.Status == homecare.OrderStatusPaused,
			day.Before(o.ValidFrom), !o.ValidTo.IsZero() && o.ValidTo.Before(day):
			continue
		}
		out = append(out, o)
	}
	return out
}

// Desired returns the grants wanted for orders (those in force): for each that names a
// lock, one per person the directories list as working for its provider (staff),
// blocked people left out, valid over the order's period (its first day's midnight to
// the end of its last, Europe/Stockholm). When two orders name one lock for one person
// (a client's provider change on the day), the window covers both.
func Desired(orders []homecare.Order, staff map[string][]homecare.HSAID, blocked map[homecare.HSAID]bool) []Want {
	loc := homecare.Stockholm()
	byKey := map[string]*Want{}
	for _, o := range orders {
		if o.Planning.Key == nil || o.Planning.Key.LockRef == "" {
			continue
		}
		w := homecare.KeyWindow{ValidFrom: o.ValidFrom.In(loc)}
		if !o.ValidTo.IsZero() {
			until := o.ValidTo.AddDays(1).In(loc).Add(-time.Second)
			w.ValidUntil = &until
		}
		for _, h := range staff[o.ProviderID] {
			if blocked[h] {
				continue
			}
			want := Want{LockRef: o.Planning.Key.LockRef, Holder: h, ProviderID: o.ProviderID, Client: o.Client.PersonID,
				OrderRef: o.SourceSystem + "/" + o.ExternalID, Window: w}
			if prev, ok := byKey[want.key()]; ok {
				prev.Window = widen(prev.Window, w)
				continue
			}
			byKey[want.key()] = &want
		}
	}
	out := make([]Want, 0, len(byKey))
	for _, w := range byKey {
		out = append(out, *w)
	}
	slices.SortFunc(out, func(a, b Want) int { return cmp.Compare(a.key(), b.key()) })
	return out
}

// widen returns the window from the earlier start to the later end (open beats any).
func widen(a, b homecare.KeyWindow) homecare.KeyWindow {
	if b.ValidFrom.Before(a.ValidFrom) {
		a.ValidFrom = b.ValidFrom
	}
	if a.ValidUntil != nil && (b.ValidUntil == nil || b.ValidUntil.After(*a.ValidUntil)) {
		a.ValidUntil = b.ValidUntil
	}
	return a
}

// Plan returns the changes that bring the vendor from grants (what the hub handed on
// and what the vendor last showed) to wants, at now: a grant for each want the vendor
// lacks or holds with another window, a revoke for each grant nobody wants, and again a
// change that waited for its confirmation longer than resendAfter or that the vendor's
// list contradicts (drift). Each change is numbered one past its (lock, holder)'s last.
func Plan(wants []Want, grants []store.KeyGrant, now time.Time, resendAfter time.Duration) []store.KeyChange {
	have := make(map[string]store.KeyGrant, len(grants))
	for _, g := range grants {
		have[g.Key()] = g
	}
	wanted := make(map[string]bool, len(wants))
	var out []store.KeyChange
	stale := func(g store.KeyGrant) bool { return g.AppliedSeq < g.Seq && now.Sub(g.RequestedAt) >= resendAfter }
	// drifted: the vendor's list, read after the vendor confirmed the row's state, says otherwise.
	drifted := func(g store.KeyGrant, atVendor bool) bool {
		return g.AppliedSeq == g.Seq && !g.CheckedAt.IsZero() && g.CheckedAt.After(g.AppliedAt) && g.AtVendor != atVendor
	}
	for _, w := range wants {
		wanted[w.key()] = true
		g, ok := have[w.key()]
		reason := "order " + w.OrderRef + " in force"
		switch {
		case !ok:
		case g.Op == homecare.KeyRevokeOp:
		case !g.Window.Equal(w.Window):
			reason = "order " + w.OrderRef + ": its period changed"
		case stale(g):
			reason += " (handed on again: not confirmed)"
		case drifted(g, true):
			reason += " (the vendor had lost it)"
		default:
			continue
		}
		out = append(out, change(homecare.KeyGrantOp, w.LockRef, w.Holder, g.Seq+1, reason, w.ProviderID, w.Client, w.OrderRef, w.Window))
	}
	for _, g := range grants {
		if wanted[g.Key()] {
			continue
		}
		reason := "no order in force names the lock for " + string(g.Holder) + " with their provider"
		switch {
		case g.Op == homecare.KeyGrantOp:
		case stale(g):
			reason = "revoke handed on again: not confirmed"
		case drifted(g, false):
			reason = "revoked, yet the vendor still had it"
		default:
			continue
		}
		out = append(out, change(homecare.KeyRevokeOp, g.LockRef, g.Holder, g.Seq+1, reason, g.ProviderID, homecare.PersonID{}, "", homecare.KeyWindow{}))
	}
	slices.SortFunc(out, func(a, b store.KeyChange) int {
		return cmp.Or(cmp.Compare(a.LockRef, b.LockRef), cmp.Compare(a.Holder, b.Holder))
	})
	return out
}

func change(op homecare.KeyOp, lock string, holder homecare.HSAID, seq int64, reason, provider string, client homecare.PersonID,
	orderRef string, w homecare.KeyWindow) store.KeyChange {
	return store.KeyChange{KeyGrantChange: homecare.KeyGrantChange{ChangeID: homecare.KeyChangeID(lock, holder, seq), Seq: seq, Op: op,
		LockRef: lock, Holder: holder, ProviderID: provider, Reason: reason, KeyWindow: w}, Client: client, OrderRef: orderRef}
}

// Ingester hands a message to a pipeline by name (the router).
type Ingester interface {
	Ingest(ctx context.Context, name, source string, m knutpunkt.Message) (adapters.Receipt, error)
}

// Engine converges one vendor's grants.
type Engine struct {
	Store       *store.Store
	In          Ingester
	Vendor      string
	Pipeline    string
	ResendAfter time.Duration
	Clock       func() time.Time
	Log         *zap.Logger

	// mu makes one comparison at a time: two would number the same changes alike. (A
	// second process, `knut keys revoke` beside `knut serve`, is refused by the store's
	// numbering and says so; the next comparison hands on what it did not.)
	mu sync.Mutex
}

// Stats are what one Converge did.
type Stats struct {
	Wanted, Grants, Revokes int
}

// Converge compares what the hub wants today with what it has, records each change and
// hands it to the keys pipeline. Only holder, when set, is converged (an emergency
// revoke does not wait for everyone else's).
func (e *Engine) Converge(ctx context.Context, holder homecare.HSAID) (Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.Clock()
	tls, err := e.Store.Timelines(ctx)
	if err != nil {
		return Stats{}, err
	}
	staff, err := e.Store.ActiveStaff(ctx)
	if err != nil {
		return Stats{}, err
	}
	blocks, err := e.Store.KeyBlocks(ctx)
	if err != nil {
		return Stats{}, err
	}
	blocked := map[homecare.HSAID]bool{}
	for _, b := range blocks {
		blocked[b.Holder] = true
	}
	grants, err := e.Store.KeyGrants(ctx, store.KeyGrantFilter{Vendor: e.Vendor, Holder: holder})
	if err != nil {
		return Stats{}, err
	}
	wants := Desired(InForce(tls, homecare.LocalDate(now)), staff, blocked)
	if holder != "" {
		wants = slices.DeleteFunc(wants, func(w Want) bool { return w.Holder != holder })
	}
	st := Stats{Wanted: len(wants)}
	for _, c := range Plan(wants, grants, now, e.ResendAfter) {
		if err := e.handOn(ctx, c); err != nil {
			return st, err
		}
		if c.Op == homecare.KeyGrantOp {
			st.Grants++
		} else {
			st.Revokes++
		}
	}
	return st, nil
}

// handOn records c and gives it to the keys pipeline. A change recorded but not handed
// on (the hub stopped between the two) is handed on again, numbered anew, after
// resend_after.
func (e *Engine) handOn(ctx context.Context, c store.KeyChange) error {
	if err := e.Store.Tx(ctx, func(tx *store.Tx) error { return tx.RecordKeyChange(ctx, e.Vendor, c) }); err != nil {
		return err
	}
	body, err := json.Marshal(c.KeyGrantChange)
	if err != nil {
		return err
	}
	_, err = e.In.Ingest(ctx, e.Pipeline, "keys", knutpunkt.Message{Body: body, Headers: map[string]string{
		knutpunkt.HeaderContentType: "application/json",
		knutpunkt.HeaderExternalID:  c.ChangeID,
		"key-grant":                 c.LockRef + "/" + string(c.Holder),
	}})
	if err != nil {
		return fmt.Errorf("hand key change %s to %s: %w", c.ChangeID, e.Pipeline, err)
	}
	e.Log.Info("key change handed on", zap.String("change", c.ChangeID), zap.String("op", string(c.Op)), zap.String("reason", c.Reason))
	return nil
}

// Revoke blocks holder's keys (audited, by whom and why) and revokes every grant they
// have at once.
func (e *Engine) Revoke(ctx context.Context, holder homecare.HSAID, reason, by string) (int, error) {
	if err := e.Store.BlockKeys(ctx, holder, reason, by); err != nil {
		return 0, err
	}
	st, err := e.Converge(ctx, holder)
	return st.Revokes, err
}
