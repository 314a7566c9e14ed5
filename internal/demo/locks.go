package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The demo municipality's keyless locks: a Nuki Web API simulator (adapters/nuki/nukisim)
// with a lock at every client's door whose order names one (lifecaresim numbers them from
// lifecaresim.DemoLockBase), reached by the pipelines nuki_keys, nuki_key_results,
// nuki_lock_events and nuki_grants.

const (
	secretNukiToken = "env:KNUT_NUKI_TOKEN"
	demoNukiToken   = "demo-nuki-api-token"
	lockVendor      = "nuki"
)

// Locks is the demo's lock vendor and what the demo showed of it.
type Locks struct {
	sim *nukisim.Server
	// Granted counts the grants the hub made before the first visits; Doors the locks
	// they are at.
	Granted, Doors int
	// Opened counts the app unlocks the demo made at the doors around the visits, and
	// Night the opening with no visit near it.
	Opened int
	Night  string
	// Events counts the lock events the hub stored.
	Events int
	// Leaver and Joiner are the directory's: their grants revoked and made.
	Leaver, Joiner             homecare.HSAID
	LeaverRevoked, JoinerGrant int
	// Lost is the person whose phone was lost: their grants revoked in LostTook, and
	// their next try at a door rejected by the lock (LostRejected).
	Lost         homecare.HSAID
	LostGrants   int
	LostTook     time.Duration
	LostRejected bool
	// Findings are the lock events with a finding after the night's review.
	Findings []store.StoredLockEvent
}

// StartLocks starts the lock simulator with a lock for each of m's clients' doors and
// points cfg's nuki vars at it; the returned secrets hold its API token.
func StartLocks(cfg *config.Config, m *Municipality) (*Locks, adapters.MapSecrets, error) {
	sim, err := nukisim.Start(nukisim.Options{Token: demoNukiToken, CreateDelay: 20 * time.Millisecond})
	if err != nil {
		return nil, nil, fmt.Errorf("demo: the lock simulator: %w", err)
	}
	for i := range m.Clients {
		sim.AddLock(lifecaresim.DemoLockBase+1+int64(i), fmt.Sprintf("Entrédörr %d", i+1))
	}
	cfg.Vars["nuki_url"] = sim.URL
	cfg.Vars["nuki_poll_interval"] = "1s"
	cfg.Vars["nuki_grants_interval"] = "2s"
	return &Locks{sim: sim}, adapters.MapSecrets{secretNukiToken: demoNukiToken}, nil
}

// Close stops the simulator.
func (l *Locks) Close() { l.sim.Close() }

// Grant has the hub converge its keys at the clock's time at (the demo sets the hub's
// clock there: the morning before the first visits) and waits until the vendor
// confirmed every change.
func (l *Locks) Grant(ctx context.Context, srv *server.Server) error {
	if srv.Keys() == nil {
		return nil
	}
	if _, err := srv.Keys().Converge(ctx, ""); err != nil {
		return err
	}
	if err := waitKeys(ctx, srv.Store()); err != nil {
		return err
	}
	grants, err := srv.Store().KeyGrants(ctx, store.KeyGrantFilter{Vendor: lockVendor})
	if err != nil {
		return err
	}
	doors := map[string]bool{}
	for _, g := range grants {
		if g.State == store.KeyActive {
			l.Granted++
			doors[g.LockRef] = true
		}
	}
	l.Doors = len(doors)
	return nil
}

// waitKeys waits until no key grant waits for the vendor's answer.
func waitKeys(ctx context.Context, st *store.Store) error {
	waiting := 0
	err := waitFor(ctx, 50*time.Millisecond, func() (bool, error) {
		grants, err := st.KeyGrants(ctx, store.KeyGrantFilter{Vendor: lockVendor})
		waiting = 0
		for _, g := range grants {
			if g.AppliedSeq < g.Seq {
				waiting++
			}
		}
		return waiting == 0, err
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("demo: %d key grant changes not confirmed by the lock vendor within %v (see nuki_keys' dead letters)", waiting, waitLimit)
	}
	return err
}

// OpenDoors opens the doors as the staff did around the visits of from..to (a couple of
// minutes before each visit with a lock, by the visit's first member of staff, with the
// app), and one door in the night of to with no visit near it; it waits until the hub
// has read every event from the locks' log.
func (l *Locks) OpenDoors(ctx context.Context, st *store.Store, from, to homecare.Date) error {
	grants, err := st.KeyGrants(ctx, store.KeyGrantFilter{Vendor: lockVendor})
	if err != nil {
		return err
	}
	lockOf := map[homecare.PersonID]int64{}
	var night store.KeyGrant
	for _, g := range grants {
		id, err := strconv.ParseInt(g.LockRef, 10, 64)
		if err != nil || g.Client.IsZero() {
			continue
		}
		lockOf[g.Client] = id
		if night.LockRef == "" && g.State == store.KeyActive {
			night = g
		}
	}
	visits, err := st.ListVisits(ctx, store.VisitFilter{LocalDateFrom: from, LocalDateTo: to, Limit: 100000})
	if err != nil {
		return err
	}
	for _, v := range visits {
		lock, ok := lockOf[v.Client.PersonID]
		if !ok || len(v.Staff) == 0 || v.Staff[0].HSAID == "" || v.StartAt.IsZero() {
			continue
		}
		l.sim.Unlock(lock, string(v.Staff[0].HSAID), v.StartAt.Add(-2*time.Minute))
		l.sim.Door(lock, true, v.StartAt.Add(-time.Minute))
		l.Opened++
	}
	if night.LockRef != "" {
		id, _ := strconv.ParseInt(night.LockRef, 10, 64)
		at := to.In(Stockholm()).Add(3*time.Hour + 10*time.Minute)
		l.sim.Unlock(id, string(night.Holder), at)
		l.Opened++
		l.Night = fmt.Sprintf("%s opened lock %s at %s", night.Holder, night.LockRef, at.Format("2006-01-02 15:04"))
	}
	// Each visit's unlock and door sensor, and the night's unlock.
	want := 2*l.Opened - 1
	if night.LockRef == "" {
		want = 2 * l.Opened
	}
	err = waitFor(ctx, 100*time.Millisecond, func() (bool, error) {
		evs, err := st.LockEvents(ctx, store.LockEventFilter{})
		l.Events = len(evs)
		return l.Events >= want, err
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("demo: the hub stored %d lock events within %v, want %d (see nuki_lock_events' dead letters)", l.Events, waitLimit, want)
	}
	return err
}

// Staff has the hub converge after the directory's next sync (a leaver, a joiner) and
// counts what it did for them.
func (l *Locks) Staff(ctx context.Context, srv *server.Server, leaver, joiner homecare.HSAID) error {
	if srv.Keys() == nil || leaver == "" {
		return nil
	}
	l.Leaver, l.Joiner = leaver, joiner
	if _, err := srv.Keys().Converge(ctx, ""); err != nil {
		return err
	}
	if err := waitKeys(ctx, srv.Store()); err != nil {
		return err
	}
	for _, h := range []homecare.HSAID{leaver, joiner} {
		gs, err := srv.Store().KeyGrants(ctx, store.KeyGrantFilter{Vendor: lockVendor, Holder: h})
		if err != nil {
			return err
		}
		for _, g := range gs {
			switch {
			case h == leaver && g.State == store.KeyRevoked:
				l.LeaverRevoked++
			case h == joiner && g.State == store.KeyActive:
				l.JoinerGrant++
			}
		}
	}
	return nil
}

// LostPhone is the emergency revoke of holder's keys (their phone was lost), timed from
// the call until the vendor holds none of their grants; then the phone's finder tries a
// door.
func (l *Locks) LostPhone(ctx context.Context, srv *server.Server, holder homecare.HSAID) error {
	if srv.Keys() == nil {
		return nil
	}
	gs, err := srv.Store().KeyGrants(ctx, store.KeyGrantFilter{Vendor: lockVendor, Holder: holder})
	if err != nil {
		return err
	}
	var locks []int64
	for _, g := range gs {
		if g.State == store.KeyActive {
			id, _ := strconv.ParseInt(g.LockRef, 10, 64)
			locks = append(locks, id)
		}
	}
	l.Lost, l.LostGrants = holder, len(locks)
	start := time.Now()
	if _, err := srv.Keys().Revoke(ctx, holder, "lost phone", "demo:care-manager"); err != nil {
		return err
	}
	err = waitFor(ctx, 20*time.Millisecond, func() (bool, error) {
		for _, id := range locks {
			for _, a := range l.sim.Grants(id) {
				if a.Name == string(holder) {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("demo: %s's grants still at the vendor %v after the emergency revoke", holder, waitLimit)
	}
	if err != nil {
		return err
	}
	l.LostTook = time.Since(start)
	if err := waitKeys(ctx, srv.Store()); err != nil {
		return err
	}
	if len(locks) == 0 {
		return nil
	}
	// The lock's answer, as the hub reads it from the log.
	ref := l.sim.Unlock(locks[0], string(holder), time.Now())
	err = waitFor(ctx, 100*time.Millisecond, func() (bool, error) {
		evs, err := srv.Store().LockEvents(ctx, store.LockEventFilter{Holder: holder, From: start.Add(-time.Minute)})
		for _, e := range evs {
			if e.EventRef == ref {
				l.LostRejected = e.Result == "rejected"
				return true, nil
			}
		}
		return false, err
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("demo: the lock event of the lost phone's try was not stored within %v", waitLimit)
	}
	return err
}

// Summarize reads the findings after the night's review.
func (l *Locks) Summarize(ctx context.Context, st *store.Store) error {
	evs, err := st.LockEvents(ctx, store.LockEventFilter{})
	if err != nil {
		return err
	}
	l.Events = len(evs)
	for _, e := range evs {
		if e.Finding != "" {
			l.Findings = append(l.Findings, e)
		}
	}
	return nil
}

// Print writes what the locks did.
func (l *Locks) Print(w io.Writer) {
	fmt.Fprintf(w, "\nKeyless locks (a Nuki Web API simulator; pipelines nuki_keys, nuki_key_results, nuki_lock_events, nuki_grants):\n")
	if l.Granted == 0 {
		fmt.Fprintln(w, "  no key was granted: only staff a directory sync lists get keys, and the HSA directory did not run.")
		return
	}
	fmt.Fprintf(w, "  before the first visits the hub granted %d keys at %d doors: the doors whose orders name a lock, to the directory-listed staff of the order's provider (`knut keys list`)\n",
		l.Granted, l.Doors)
	fmt.Fprintf(w, "  the staff opened the doors %d times around the visits; the hub read %d events from the locks' log (`knut keys events`, `knut audit list --client`)\n",
		l.Opened, l.Events)
	if l.Leaver != "" {
		fmt.Fprintf(w, "  the directory's leaver %s: %d keys revoked at the next comparison; the joiner %s: %d keys granted\n",
			l.Leaver, l.LeaverRevoked, l.Joiner, l.JoinerGrant)
	}
	if l.Lost != "" {
		rejected := "opened (!)"
		if l.LostRejected {
			rejected = "rejected by the lock"
		}
		fmt.Fprintf(w, "  %s's phone was lost: `knut keys revoke` removed all %d keys at the vendor in %s; the phone's next try at a door was %s\n",
			l.Lost, l.LostGrants, l.LostTook.Round(time.Millisecond), rejected)
	}
	if len(l.Findings) > 0 {
		fmt.Fprintf(w, "  findings after the night's review (`knut keys events --findings`):\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range l.Findings {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", e.OccurredAt.In(Stockholm()).Format("2006-01-02 15:04"), e.LockRef, e.Holder, e.Action, e.Finding)
		}
		tw.Flush()
	}
}
