package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// WarmUpDays is how long the phones were in use before the first day the demo pushes:
// what a phone kept offline since then (tessim's late syncs, up to five days) reaches
// the hub in the demo's days.
const WarmUpDays = 5

// SimTries bounds the simulator seeds the demo tries (from its own seed, in order)
// for one whose days show a supervisor's correction and a sync more than 48 h late.
const SimTries = 16

// TES is the demo's TES system (adapters/tes/tessim): the phones of the municipality's
// staff register each day's visits from the plan of the day, TES pushes each sync to
// the hub's /ingest/tes_sync at its simulated time and drops each night's CSV export in
// the hub's drop directory.
type TES struct {
	// URL is the hub's base URL; syncs go to URL + /ingest/tes_sync.
	URL    string
	Client *http.Client
	// Plan returns what the phones work from on a day (Municipality.Plan).
	Plan func(day homecare.Date) (tessim.Plan, error)
	// ExportDir, if set, receives each night's export (tessim.DropNightly), which
	// Run waits for the hub to take.
	ExportDir string
	// Sync, if set, moves the hub's clock to when a sync or export arrives (the zero
	// time: back to now), so that each sync is received at its time and only a late
	// one is late.
	Sync func(time.Time)
	// Settle, if set, waits until the hub has processed what it took.
	Settle func(context.Context) error
}

// PhoneReport is what the phones and TES did in a Run.
type PhoneReport struct {
	// Seed is the simulator's; First and Last the days pushed.
	Seed        uint64
	First, Last homecare.Date
	// The plan of the last day: phones, staff (StaffIDOnly of them without HSA-ID),
	// clients, couples living together, clients granted double staffing.
	Phones, Staff, StaffIDOnly, Clients, Couples, DoubleClients int
	// Syncs are the batches pushed; Visits the records in them (the bad ones
	// included), Duplicates those the hub answered it had (the sync sent twice).
	Syncs, Visits, Duplicates int
	// Performed are the version-1 records, Corrections the supervisors' versions 2
	// and up (from TES-WEB, the next morning).
	Performed, Corrections int
	// OfflineBursts are syncs of a phone back after hours offline; LateSyncs those of
	// a phone back after days, with LateVisits records synced more than 48 h late.
	OfflineBursts, LateSyncs, LateVisits int
	// Of the performed records: registered by hand, double-staffed, of cohabitants
	// visited together, declined at the door, partly declined, by staff named only by
	// the provider's staff id.
	Manual, DoubleStaffed, Shared, Declined, PartlyDeclined, ByStaffID int
	// Bad are the broken records sent in one sync (each a dead letter).
	Bad int
	// Nightly are the exports dropped and taken, NightlyRows their rows.
	Nightly     []string
	NightlyRows int
	// Pending are records TES has not sent by the end of the last day (a phone
	// still offline, the last day's corrections).
	Pending int
	// Corrected is a visit a supervisor corrected, Late one synced more than 48 h late.
	Corrected, Late string
	// Correctable is a visit of the last day as the phone synced it: the one a
	// supervisor corrects the morning after the night's reconciliation (Correct).
	Correctable tessim.Visit
}

// simulated is a run of the simulator: each day's output, warm-up days first.
type simulated struct {
	seed    uint64
	days    []tessim.DayOutput
	pending int
}

// rates are the simulator's defaults, with phones left offline for days (LateSync)
// three times as often, so that one is likely within the demo's days.
func rates() tessim.Rates {
	r := tessim.DefaultRates()
	r.LateSync = 0.06
	return r
}

// simulate runs the simulator with seed over the warm-up days and days from first on.
func (t *TES) simulate(seed uint64, first homecare.Date, days int) (*simulated, error) {
	start := first.AddDays(-WarmUpDays)
	plan, err := t.Plan(start)
	if err != nil {
		return nil, err
	}
	sim, err := tessim.New(plan, tessim.Options{Seed: seed, Rates: rates()})
	if err != nil {
		return nil, err
	}
	out := &simulated{seed: seed}
	for d := range WarmUpDays + days {
		day := start.AddDays(d)
		if d > 0 {
			if plan, err = t.Plan(day); err != nil {
				return nil, err
			}
			if err := sim.SetPlan(plan); err != nil {
				return nil, err
			}
		}
		o, err := sim.Day(day)
		if err != nil {
			return nil, err
		}
		out.days = append(out.days, o)
	}
	out.pending = sim.Pending()
	return out, nil
}

// isLate reports whether v, sent at, reaches the hub more than 48 h after it ended.
func isLate(v tessim.Visit, at time.Time) bool { return at.Sub(v.End) > homecare.LateAfter }

// pushed are the records of b the demo pushes: from before first only those a phone
// kept offline for days (the rest reached the hub before the demo's days).
func pushed(b tessim.Batch, first homecare.Date) []tessim.Visit {
	return slices.DeleteFunc(slices.Clone(b.Visits), func(v tessim.Visit) bool {
		return homecare.LocalDate(v.Start).Before(first) && !isLate(v, b.SentAt)
	})
}

// shows reports whether s pushes a correction (if days allow one) and a late record.
func (s *simulated) shows(first homecare.Date, days int) bool {
	corrected, late := days < 2, false
	for _, o := range s.days[WarmUpDays:] {
		for _, b := range o.Syncs {
			for _, v := range pushed(b, first) {
				corrected = corrected || v.Version > 1
				late = late || isLate(v, b.SentAt)
			}
		}
	}
	return corrected && late
}

// pick simulates the days with the first of SimTries seeds drawn from seed whose days
// show a correction and a late sync, else with the first.
func (t *TES) pick(seed uint64, first homecare.Date, days int) (*simulated, error) {
	var sim *simulated
	for k := range uint64(SimTries) {
		s, err := t.simulate(seed+k*0x9e3779b97f4a7c15, first, days)
		if err != nil {
			return nil, err
		}
		if s.shows(first, days) {
			return s, nil
		}
		if sim == nil {
			sim = s
		}
	}
	return sim, nil
}

// Run simulates days days ending the day before today (and the warm-up days before
// them), pushes the syncs of those days in order, each at its time, with the bad
// records a real feed has in one of the last day's syncs and one sync sent twice,
// and drops each night's export. The simulator's seed is the first of SimTries drawn
// from seed whose days show a correction and a late sync.
func (t *TES) Run(ctx context.Context, today time.Time, days int, seed uint64) (*PhoneReport, error) {
	last := homecare.LocalDate(today).AddDays(-1)
	first := last.AddDays(1 - days)
	sim, err := t.pick(seed, first, days)
	if err != nil {
		return nil, err
	}
	rep := &PhoneReport{Seed: sim.seed, First: first, Last: last, Pending: sim.pending}
	if plan, err := t.Plan(last); err == nil {
		rep.describe(plan)
	}
	pusher := &tessim.Pusher{Client: t.Client}
	url := strings.TrimSuffix(t.URL, "/") + tessim.SyncPath
	defer t.moveClock(time.Time{})
	for d, o := range sim.days[WarmUpDays:] {
		// The bad records go in the last day's first phone sync; the phone's next sync
		// is sent twice.
		bad, again := d == days-1, false
		for _, b := range o.Syncs {
			b.Visits = pushed(b, first)
			if len(b.Visits) == 0 {
				continue
			}
			rep.count(b)
			phone := b.DeviceID != tessim.WebDeviceID
			if d == days-1 && phone && rep.Correctable.VisitID == "" {
				for _, v := range b.Visits {
					if v.Version == 1 && v.Status == tessim.Performed && len(v.Staff) == 1 && v.SharedVisitID == "" &&
						v.End.Sub(v.Start) > 20*time.Minute && byClock(v) {
						rep.Correctable = v
						break
					}
				}
			}
			twice := again && phone
			switch {
			case bad && phone:
				b.Visits = append(b.Visits, badVisits(b.Visits[0])...)
				rep.Bad, rep.Visits = 3, rep.Visits+3
				bad, again = false, true
			case twice:
				again = false
			}
			t.moveClock(b.SentAt)
			if err := t.push(ctx, pusher, url, b, rep); err != nil {
				return rep, err
			}
			if twice {
				// The phone did not get the answer and syncs the same again.
				if err := t.push(ctx, pusher, url, b, rep); err != nil {
					return rep, err
				}
				rep.Syncs, rep.Visits = rep.Syncs+1, rep.Visits+len(b.Visits)
			}
		}
		if err := t.dropNightly(ctx, o, first, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// byClock reports whether v's insatser are all paid by the clock (care, not the service
// insatser a rule set pays by schablon or fixed minutes), so that a correction of its
// times shows in what is paid.
func byClock(v tessim.Visit) bool {
	for _, in := range v.Insatser {
		if in.Code == "STAD" || in.Code == "INKOP" || in.Code == "TILLSYN" || in.Declined {
			return false
		}
	}
	return len(v.Insatser) > 0
}

// Correct sends a supervisor's correction of v from TES-WEB, as received by TES at at: its
// next version, ending minutes earlier (a stop registered late, shortened after a word with
// the staff). The caller moves the hub's clock: the hub stores it asynchronously, by its clock.
func (t *TES) Correct(ctx context.Context, v tessim.Visit, at time.Time, minutes int) (tessim.Visit, error) {
	v.Version++
	v.End = v.End.Add(-time.Duration(minutes) * time.Minute)
	if !v.DeviceEnd.IsZero() {
		v.DeviceEnd = v.DeviceEnd.Add(-time.Duration(minutes) * time.Minute)
	}
	left := minutes
	for i := range v.Insatser {
		if in := &v.Insatser[i]; in.Minutes > left {
			in.Minutes -= left
			left = 0
		}
	}
	v.ReceivedAt = at
	b := tessim.Batch{SyncID: fmt.Sprintf("%s-%s", tessim.WebDeviceID, at.In(Stockholm()).Format("20060102T1504")),
		DeviceID: tessim.WebDeviceID, SentAt: at, Visits: []tessim.Visit{v}}
	_, err := (&tessim.Pusher{Client: t.Client}).Push(ctx, strings.TrimSuffix(t.URL, "/")+tessim.SyncPath, b)
	return v, err
}

func (t *TES) moveClock(at time.Time) {
	if t.Sync != nil {
		t.Sync(at)
	}
}

// push sends b and counts the visits the hub answered it had.
func (t *TES) push(ctx context.Context, p *tessim.Pusher, url string, b tessim.Batch, rep *PhoneReport) error {
	res, err := p.Push(ctx, url, b)
	if err != nil {
		return err
	}
	for _, a := range res.Messages {
		if a.Duplicate {
			rep.Duplicates++
		}
	}
	return nil
}

// dropNightly drops the night's export of o (what the demo pushed of it) half an hour
// after midnight and waits until the hub has taken it and processed its rows.
func (t *TES) dropNightly(ctx context.Context, o tessim.DayOutput, first homecare.Date, rep *PhoneReport) error {
	if t.ExportDir == "" {
		return nil
	}
	var rows []tessim.Visit
	for _, v := range o.Nightly {
		if !homecare.LocalDate(v.Start).Before(first) || isLate(v, v.ReceivedAt) {
			rows = append(rows, v)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	t.moveClock(o.Date.AddDays(1).In(Stockholm()).Add(30 * time.Minute))
	path, err := tessim.DropNightly(t.ExportDir, o.Date, rows, tessim.UTF8)
	if err != nil {
		return err
	}
	name := filepath.Base(path)
	if err := waitTaken(ctx, t.ExportDir, name, 20*time.Second); err != nil {
		return err
	}
	if t.Settle != nil {
		if err := t.Settle(ctx); err != nil {
			return err
		}
	}
	rep.Nightly, rep.NightlyRows = append(rep.Nightly, name), rep.NightlyRows+len(rows)
	return nil
}

// describe counts the phones, staff and clients of plan.
func (r *PhoneReport) describe(plan tessim.Plan) {
	for _, p := range plan.Providers {
		r.Phones += len(p.Phones)
		r.Staff += len(p.Staff)
		for _, s := range p.Staff {
			if s.HSAID == "" {
				r.StaffIDOnly++
			}
		}
	}
	r.Clients = len(plan.Clients)
	for _, c := range plan.Clients {
		if c.Cohabitant != "" {
			r.Couples++
		}
		if slices.ContainsFunc(c.Insatser, func(g tessim.Grant) bool { return g.DoubleStaffing }) {
			r.DoubleClients++
		}
	}
	r.Couples /= 2
}

// count adds the records of b, as pushed, to the report.
func (r *PhoneReport) count(b tessim.Batch) {
	r.Syncs++
	r.Visits += len(b.Visits)
	offline, late := false, false
	for _, v := range b.Visits {
		if isLate(v, b.SentAt) {
			late = true
			r.LateVisits++
			if r.Late == "" {
				r.Late = v.VisitID
			}
		} else if v.Offline {
			offline = true
		}
		if v.Version > 1 {
			r.Corrections++
			if r.Corrected == "" {
				r.Corrected = v.VisitID
			}
			continue
		}
		r.Performed++
		switch {
		case v.Method == tessim.Manual:
			r.Manual++
		}
		if len(v.Staff) > 1 {
			r.DoubleStaffed++
		}
		if v.SharedVisitID != "" {
			r.Shared++
		}
		switch v.Status {
		case tessim.Declined:
			r.Declined++
		case tessim.PartlyDeclined:
			r.PartlyDeclined++
		}
		if slices.ContainsFunc(v.Staff, func(s tessim.VisitStaff) bool { return s.HSAID == "" }) {
			r.ByStaffID++
		}
	}
	if late {
		r.LateSyncs++
	} else if offline {
		r.OfflineBursts++
	}
}

// Print writes what the phones did, and the flags the hub set on the visits it stored.
func (r *PhoneReport) Print(w io.Writer, flags map[homecare.VisitFlag]int) {
	fmt.Fprintf(w, "\nWhat the phones did (adapters/tes/tessim, seed %d): %d phones, %d staff (%d with only Omsorg Norr's staff id, no HSA-ID), %d clients (couples living together: %d; granted double staffing: %d)\n",
		r.Seed, r.Phones, r.Staff, r.StaffIDOnly, r.Clients, r.Couples, r.DoubleClients)
	fmt.Fprintf(w, "  %s to %s: syncs pushed to /ingest/tes_sync: %d, with visit records: %d (registered by the phones: %d; supervisors' corrections the next morning, version 2: %d)\n",
		r.First, r.Last, r.Syncs, r.Visits, r.Performed, r.Corrections)
	fmt.Fprintf(w, "  offline bursts (a phone back after hours without network): %d; late syncs (a phone back after days): %d, with visits more than 48 h late: %d\n",
		r.OfflineBursts, r.LateSyncs, r.LateVisits)
	share := 0.0
	if r.Performed > 0 {
		share = 100 * float64(r.Manual) / float64(r.Performed)
	}
	fmt.Fprintf(w, "  registered by hand: %.1f%% (%d); double-staffed: %d; cohabitants visited together: %d records; declined: %d, partly declined: %d; staff named only by staff id: %d\n",
		share, r.Manual, r.DoubleStaffed, r.Shared, r.Declined, r.PartlyDeclined, r.ByStaffID)
	fmt.Fprintf(w, "  a sync sent twice (visits answered duplicate: %d); bad records in one sync: %d; nightly exports taken: %d (%d rows); records not sent by the end of %s: %d\n",
		r.Duplicates, r.Bad, len(r.Nightly), r.NightlyRows, r.Last, r.Pending)
	if len(flags) == 0 {
		fmt.Fprintf(w, "  the hub flagged none of the visits it stored\n")
		return
	}
	var fs []string
	for _, f := range slices.Sorted(maps.Keys(flags)) {
		fs = append(fs, fmt.Sprintf("%s %d", f, flags[f]))
	}
	fmt.Fprintf(w, "  visits the hub flagged (on intake and in the nightly review): %s\n", strings.Join(fs, ", "))
}

// badVisits are what a real feed also carries: a client number that fails its check
// digit (taken from the official test data's invalid cases), an unknown registration
// method, and an end before the start.
func badVisits(good tessim.Visit) []tessim.Visit {
	badPnr := good
	badPnr.VisitID += "-BADPNR"
	badPnr.ClientPnr = "20150916-0006"
	badMethod := good
	badMethod.VisitID += "-BADMETHOD"
	badMethod.Method = "BLUETOOTH"
	badMethod.StartMethod, badMethod.EndMethod = "", ""
	reversed := good
	reversed.VisitID += "-REVERSED"
	reversed.Start, reversed.End = good.End, good.Start
	reversed.DeviceStart, reversed.DeviceEnd = good.DeviceEnd, good.DeviceStart
	return []tessim.Visit{badPnr, badMethod, reversed}
}
