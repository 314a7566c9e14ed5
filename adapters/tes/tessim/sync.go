package tessim

import (
	"math/rand/v2"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// syncInterval is how often an online phone syncs what it registered.
const syncInterval = 10 * time.Minute

// phoneDay is how a phone syncs on one day: every syncInterval from its
// phase, except in an offline spell, whose records go in one burst when
// the phone is back (hours later, or days).
type phoneDay struct {
	phase  time.Time // the first sync of the day
	from   time.Time // the offline spell; zero: online all day
	till   time.Time
	online bool
}

// phoneSyncs draws the day's sync pattern of every phone of the plan.
func (s *Simulator) phoneSyncs(day homecare.Date, r *rand.Rand) map[string]phoneDay {
	rates := s.opts.Rates
	out := map[string]phoneDay{}
	for _, p := range s.plan.Providers {
		for _, ph := range p.Phones {
			d := phoneDay{phase: clock(day, 0).Add(time.Duration(r.IntN(600)) * time.Second), online: true}
			switch u := r.Float64(); {
			case u < rates.LateSync: // left uncharged in a locker: back days later
				d.from = clock(day, 7*60+r.IntN(12*60))
				d.till = clock(day.AddDays(1+r.IntN(5)), 7*60+r.IntN(120))
				d.online = false
			case u < rates.LateSync+rates.Offline: // a dead zone, a flat battery
				d.from = clock(day, 7*60+r.IntN(12*60))
				d.till = d.from.Add(time.Duration(120+r.IntN(240)) * time.Minute)
				d.online = false
			}
			out[ph.DeviceID] = d
		}
	}
	return out
}

// at returns when a visit that ended at end reaches TES, and whether the
// phone was offline meanwhile: the first sync after it, or the burst
// that ends an offline spell the sync falls in.
func (d phoneDay) at(end time.Time) (time.Time, bool) {
	t := end.Add(30 * time.Second)
	k := t.Sub(d.phase) / syncInterval
	next := d.phase.Add(k * syncInterval)
	for next.Before(t) {
		next = next.Add(syncInterval)
	}
	if !d.online && !next.Before(d.from) && next.Before(d.till) {
		return d.till.Add(40 * time.Second), true
	}
	return next, false
}
