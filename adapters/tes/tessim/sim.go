package tessim

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Rates are how often the simulator's events happen, each a probability
// in [0, 1]. Per visit unless said otherwise.
type Rates struct {
	// Manual: registered by hand, no tag (method MAN). Default 0.05.
	Manual float64
	// Lock: started by opening the digital lock, ended with the tag
	// (method LAS, endMethod NFC). Default 0.03.
	Lock float64
	// Outside: outside the home (method UTE, no tag). Default 0.005.
	Outside float64
	// Declined: per client record, the client declined the whole visit
	// at the door (AVBOJD). Default 0.02.
	Declined float64
	// PartlyDeclined: per client record with two or more insatser, one
	// declined (DELVIS_AVBOJD). Default 0.05.
	PartlyDeclined float64
	// MuchLate: 30-120 minutes late on top of the usual lateness.
	// Default 0.03.
	MuchLate float64
	// Overrun: 1.5-2.5 times the granted minutes. Default 0.03.
	Overrun float64
	// WrongDoor: per client record, the tag read is another client's
	// (a neighbour's tag within reach). Default 0.003.
	WrongDoor float64
	// UnknownTag: per client record, the tag read is registered to no
	// client (a replaced tag). Default 0.002.
	UnknownTag float64
	// Overlap: the staff member is still on another visit. Default 0.003.
	Overlap float64
	// Offline: per phone and day, the phone is offline for 2-6 hours and
	// syncs what it registered meanwhile in a burst (offline: true).
	// Default 0.10.
	Offline float64
	// LateSync: per phone and day, the phone goes offline and syncs 1-5
	// days later (late records). Default 0.02.
	LateSync float64
	// Correction: a supervisor corrects the visit the next morning
	// (version 2: the end time, or an insats added). Default 0.02.
	Correction float64
}

// DefaultRates returns the rates described on Rates.
func DefaultRates() Rates {
	return Rates{
		Manual: 0.05, Lock: 0.03, Outside: 0.005, Declined: 0.02, PartlyDeclined: 0.05,
		MuchLate: 0.03, Overrun: 0.03, WrongDoor: 0.003, UnknownTag: 0.002, Overlap: 0.003,
		Offline: 0.10, LateSync: 0.02, Correction: 0.02,
	}
}

// Options configure a Simulator.
type Options struct {
	// Seed makes every draw: the same plan, seed and days give the same
	// output, byte for byte.
	Seed uint64
	// Rates of the events. The zero value means DefaultRates(); start
	// from DefaultRates() to change one, or to set one to 0 (never).
	Rates Rates
}

// Simulator is TES for one municipality: the phones register each day's
// visits from the plan, and it hands out what TES sends day by day. Not
// safe for concurrent use.
type Simulator struct {
	opts    Options
	plan    Plan
	last    homecare.Date
	pending []record // registered, not yet sent
}

// record is one visit record on its way to the hub.
type record struct {
	v      Visit
	device string    // the phone, or WebDeviceID
	at     time.Time // when its batch is sent (without the forwarding delay)
}

// New returns a simulator of plan. The plan must not change while the
// simulator uses it; SetPlan replaces it.
func New(plan Plan, opts Options) (*Simulator, error) {
	if opts.Rates == (Rates{}) {
		opts.Rates = DefaultRates()
	}
	s := &Simulator{opts: opts}
	if err := s.SetPlan(plan); err != nil {
		return nil, err
	}
	return s, nil
}

// SetPlan replaces the plan from the next day on (orders began, changed
// or ended). Records already registered are sent as they were.
func (s *Simulator) SetPlan(plan Plan) error {
	if err := plan.Validate(); err != nil {
		return err
	}
	s.plan = plan
	return nil
}

// DayOutput is one simulated day.
type DayOutput struct {
	Date homecare.Date
	// Performed are the visit records the phones registered on the day
	// (version 1, ReceivedAt the sync to come), in order of start. Some
	// reach TES days later.
	Performed []Visit
	// Syncs are the batches TES sends on the day, in order of SentAt:
	// the phones' syncs (the day's, and late ones of earlier days) and
	// the supervisors' corrections of the day before. Move the hub's clock
	// to each SentAt and push it.
	Syncs []Batch
	// Nightly is the export for the day: each record TES received on it
	// (in Syncs), the latest version of each visit, by start. Write it
	// with WriteNightlyCSV or DropNightly after the day.
	Nightly []Visit
}

// Day simulates day: the visits of the plan's clients, the phones'
// syncs and the corrections, and returns what TES sends on it. Days must
// come in increasing order; a day skipped registers no visits, and what
// fell due on it is sent on the next day asked for.
func (s *Simulator) Day(day homecare.Date) (DayOutput, error) {
	if !s.last.IsZero() && !s.last.Before(day) {
		return DayOutput{}, fmt.Errorf("tessim: day %s does not follow %s", day, s.last)
	}
	s.last = day
	performed, recs := s.generate(day)
	s.pending = append(s.pending, recs...)
	end := clock(day.AddDays(1), 0)
	var due []record
	s.pending = slices.DeleteFunc(s.pending, func(r record) bool {
		if r.at.Before(end) {
			due = append(due, r)
			return true
		}
		return false
	})
	out := DayOutput{Date: day, Performed: performed, Syncs: batches(due)}
	latest := map[string]Visit{}
	for _, r := range due {
		if v, ok := latest[r.v.VisitID]; !ok || v.Version < r.v.Version {
			latest[r.v.VisitID] = r.v
		}
	}
	for _, v := range latest {
		out.Nightly = append(out.Nightly, v)
	}
	sortVisits(out.Nightly)
	return out, nil
}

// Pending returns how many records are registered but not yet sent
// (phones offline past the last day simulated).
func (s *Simulator) Pending() int { return len(s.pending) }

// batches groups records by device and time into batches of at most
// MaxBatch, in order of SentAt.
func batches(recs []record) []Batch {
	slices.SortStableFunc(recs, func(a, b record) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.device, b.device), cmp.Compare(a.v.VisitID, b.v.VisitID),
			cmp.Compare(a.v.Version, b.v.Version))
	})
	var out []Batch
	ids := map[string]int{}
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && j-i < MaxBatch && recs[j].device == recs[i].device && recs[j].at.Equal(recs[i].at) {
			j++
		}
		at := recs[i].at
		id := recs[i].device + "-" + at.Format("20060102T1504")
		ids[id]++
		if n := ids[id]; n > 1 {
			id = fmt.Sprintf("%s-%d", id, n)
		}
		b := Batch{SyncID: id, DeviceID: recs[i].device, SentAt: at.Add(forwardDelay(at))}
		for _, r := range recs[i:j] {
			b.Visits = append(b.Visits, r.v)
		}
		out = append(out, b)
		i = j
	}
	return out
}

// forwardDelay is how long TES takes to pass a sync on to the hub: a few
// seconds, varying with the time.
func forwardDelay(at time.Time) time.Duration {
	return time.Duration(2+at.Minute()%7) * time.Second
}

// sortVisits sorts by start, then visit id.
func sortVisits(vs []Visit) {
	slices.SortFunc(vs, func(a, b Visit) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.VisitID, b.VisitID), cmp.Compare(a.Version, b.Version))
	})
}

// clock returns the instant minutes after midnight of day in Stockholm, as
// a wall clock reads (minutes past 24 hours run into the next days).
func clock(day homecare.Date, minutes int) time.Time {
	return time.Date(day.Year, day.Month, day.Day, 0, minutes, 0, 0, homecare.Stockholm())
}
