package tessim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// job is one visit to a home: one client, or two cohabitants visited
// together (one record each).
type job struct {
	order    int // creation order, the tie-break
	slot     int // index into slots
	provider *Provider
	planned  time.Time
	members  []*member
	kind     Method        // how it is registered
	late     time.Duration // lateness drawn
	minutes  int           // actual duration in minutes
	seconds  [2]int        // seconds past the minute of start and end
	staff    []int         // indexes into provider.Staff: primary, second
	start    time.Time
	end      time.Time
	phone    Phone
}

// member is one client's part of a job: its record.
type member struct {
	client   int
	grants   []Grant
	declined []string // per grant: "" performed, else the reason
	start    string   // tag read at the start, "" none
	end      string   // tag read at the end, "" none
	v        Visit
}

// performed is the granted minutes of what m does (not declined).
func (m *member) performed() int {
	n := 0
	for i, g := range m.grants {
		if m.declined[i] == "" {
			n += g.Minutes
		}
	}
	return n
}

// double reports whether any of m's insatser is granted two staff.
func (m *member) double() bool {
	return slices.ContainsFunc(m.grants, func(g Grant) bool { return g.DoubleStaffing })
}

// generate registers the visits of day: the records in order of start,
// and each record's way to the hub (its sync, and a correction's).
func (s *Simulator) generate(day homecare.Date) ([]Visit, []record) {
	days := day.In(time.UTC).Unix() / 86400
	r := rand.New(rand.NewPCG(s.opts.Seed, uint64(days)^0x7465737369))
	rates := s.opts.Rates
	jobs := s.jobs(day, r)
	for _, j := range jobs {
		s.draw(j, r)
	}
	s.staff(jobs, r)

	var recs []record
	var out []*member
	for _, j := range jobs {
		for _, m := range j.members {
			m.v = s.visit(day, j, m)
			out = append(out, m)
		}
	}
	// Ids in order of start, as TES numbers its visits.
	slices.SortStableFunc(out, func(a, b *member) int { return a.v.Start.Compare(b.v.Start) })
	for i, m := range out {
		m.v.VisitID = fmt.Sprintf("TES-%04d%02d%02d-%06d", day.Year, day.Month, day.Day, i+1)
	}
	syncs := s.phoneSyncs(day, r)
	for _, j := range jobs {
		if len(j.members) == 2 {
			a, b := j.members[0], j.members[1]
			a.v.SharedVisitID, b.v.SharedVisitID = b.v.VisitID, a.v.VisitID
		}
		at, offline := syncs[j.phone.DeviceID].at(j.end)
		for _, m := range j.members {
			m.v.ReceivedAt, m.v.Offline = at, offline
			recs = append(recs, record{v: m.v, device: j.phone.DeviceID, at: at})
		}
		if r.Float64() < rates.Correction {
			recs = append(recs, s.correct(day, j, at, r)...)
		}
	}
	visits := make([]Visit, len(out))
	for i, m := range out {
		visits[i] = m.v
	}
	return visits, recs
}

// jobs lists the day's visits: per client (or cohabitant pair) and slot
// the insatser due, at the planned time, a client's time in a slot's
// window fixed by its place in the plan.
func (s *Simulator) jobs(day homecare.Date, r *rand.Rand) []*job {
	plan := &s.plan
	index := map[string]int{}
	for i, c := range plan.Clients {
		index[c.PersonID] = i
	}
	partner := map[int]int{}
	for i, c := range plan.Clients {
		if j, ok := index[c.Cohabitant]; ok && c.Cohabitant != "" && plan.Clients[j].Provider == c.Provider {
			partner[i], partner[j] = j, i
		}
	}
	providers := map[string]*Provider{}
	for i := range plan.Providers {
		providers[plan.Providers[i].ID] = &plan.Providers[i]
	}
	midnight := day.In(homecare.Stockholm())
	_, week := midnight.ISOWeek()
	var jobs []*job
	for i, c := range plan.Clients {
		j, paired := partner[i]
		if paired && j < i {
			continue // visited with the partner
		}
		due := dueGrants(c, midnight.Weekday(), week)
		var dueJ [][]Grant
		if paired {
			dueJ = dueGrants(plan.Clients[j], midnight.Weekday(), week)
		}
		for si, w := range slots {
			var ms []*member
			if len(due[si]) > 0 {
				ms = append(ms, &member{client: i, grants: due[si]})
			}
			if paired && len(dueJ[si]) > 0 {
				ms = append(ms, &member{client: j, grants: dueJ[si]})
			}
			if len(ms) == 0 {
				continue
			}
			span := (w.till - w.from) / 5
			offset := ((i*37 + si*11) % span) * 5
			jobs = append(jobs, &job{
				order: len(jobs), slot: si, provider: providers[c.Provider], members: ms,
				planned: clock(day, w.from+offset),
			})
		}
	}
	return jobs
}

// dueGrants returns per slot the client's insatser given on a day of
// weekday in ISO week.
func dueGrants(c Client, weekday time.Weekday, week int) [][]Grant {
	out := make([][]Grant, len(slots))
	for _, g := range c.Insatser {
		if len(g.Weekdays) > 0 && !slices.Contains(g.Weekdays, weekday) {
			continue
		}
		if g.EveryOtherWeek && week%2 != 0 {
			continue
		}
		for _, sl := range g.Slots {
			si := slotIndex(sl)
			if !slices.ContainsFunc(out[si], func(h Grant) bool { return h.Code == g.Code }) {
				out[si] = append(out[si], g)
			}
		}
	}
	return out
}

var reasons = []string{ReasonNotWanted, ReasonNotWanted, ReasonNotWanted, ReasonAsleep, ReasonRelative}

// draw decides what happens on j: declines, how it is registered and
// which tags are read, lateness and duration.
func (s *Simulator) draw(j *job, r *rand.Rand) {
	rates := s.opts.Rates
	for _, m := range j.members {
		m.declined = make([]string, len(m.grants))
		switch u := r.Float64(); {
		case u < rates.Declined:
			for k := range m.declined {
				m.declined[k] = reasons[r.IntN(len(reasons))]
			}
		case u < rates.Declined+rates.PartlyDeclined && len(m.grants) > 1:
			m.declined[r.IntN(len(m.grants))] = reasons[r.IntN(len(reasons))]
		}
	}
	switch u := r.Float64(); {
	case u < rates.Manual:
		j.kind = Manual
	case u < rates.Manual+rates.Lock:
		j.kind = Lock
	case u < rates.Manual+rates.Lock+rates.Outside:
		j.kind = Outside
	default:
		j.kind = NFC
	}
	for _, m := range j.members {
		s.reads(j, m, r)
	}

	granted := 0
	for _, m := range j.members {
		granted += m.performed()
	}
	switch {
	case granted == 0: // declined at the door
		j.minutes = 1 + r.IntN(4)
	case r.Float64() < rates.Overrun:
		j.minutes = int(math.Round(float64(granted) * (1.5 + r.Float64())))
	default:
		f := min(1.4, max(0.6, 1+0.15*r.NormFloat64()))
		j.minutes = max(2, int(math.Round(float64(granted)*f)))
	}
	late := r.ExpFloat64() * 6
	if r.IntN(7) == 0 {
		late = -float64(r.IntN(6)) // a little early
	}
	if r.Float64() < rates.MuchLate {
		late += float64(30 + r.IntN(91))
	}
	j.late = time.Duration(late * float64(time.Minute)).Truncate(time.Minute)
	j.seconds = [2]int{r.IntN(60), r.IntN(60)}
}

// reads decides m's tag reads for a visit registered as j.kind: the door
// tag, sometimes the second tag at the end, rarely a neighbour's or an
// unknown tag. A client without tags is registered by hand.
func (s *Simulator) reads(j *job, m *member, r *rand.Rand) {
	rates := s.opts.Rates
	tags := s.plan.Clients[m.client].Tags
	if j.kind != NFC && j.kind != Lock {
		return
	}
	if len(tags) == 0 {
		return // visit() registers it as manual
	}
	m.start, m.end = tags[0], tags[0]
	if len(tags) > 1 && r.IntN(10) < 3 {
		m.end = tags[1]
	}
	switch u := r.Float64(); {
	case u < rates.WrongDoor:
		if t := s.foreignTag(j, r); t != "" {
			m.start = t
			if r.IntN(2) == 0 {
				m.end = t
			}
		}
	case u < rates.WrongDoor+rates.UnknownTag:
		m.start = unknownTag(r)
	}
	if j.kind == Lock {
		m.start = "" // the lock, not a tag
	}
}

// foreignTag returns the door tag of a client of the plan not in j, "" if
// there is none.
func (s *Simulator) foreignTag(j *job, r *rand.Rand) string {
	clients := s.plan.Clients
	off := r.IntN(max(1, len(clients)))
	for k := range clients {
		i := (off + k) % len(clients)
		if len(clients[i].Tags) > 0 && !slices.ContainsFunc(j.members, func(m *member) bool { return m.client == i }) {
			return clients[i].Tags[0]
		}
	}
	return ""
}

// unknownTag returns a tag UID registered to nobody: 7 bytes, the first
// 04 as NXP tags have.
func unknownTag(r *rand.Rand) string {
	b := r.Uint64()
	return fmt.Sprintf("04:%02x:%02x:%02x:%02x:%02x:%02x", byte(b), byte(b>>8), byte(b>>16), byte(b>>24), byte(b>>32), byte(b>>40))
}

// staff assigns each provider's staff to its jobs in order of planned
// time: who is free (after travel) when the visit is due, else who is
// free first, the visit waiting for them; rarely someone still busy.
func (s *Simulator) staff(jobs []*job, r *rand.Rand) {
	sorted := slices.Clone(jobs)
	slices.SortStableFunc(sorted, func(a, b *job) int {
		return cmp.Or(a.planned.Compare(b.planned), cmp.Compare(a.order, b.order))
	})
	busy := map[*Provider][]time.Time{}
	for _, j := range sorted {
		p := j.provider
		if busy[p] == nil {
			busy[p] = make([]time.Time, len(p.Staff))
		}
		until := busy[p]
		need := 1
		if slices.ContainsFunc(j.members, (*member).double) {
			need = 2
		}
		travel := time.Duration(5+r.IntN(8)) * time.Minute
		start := j.planned.Add(j.late)
		var free []int
		for k, t := range until {
			if !t.Add(travel).After(start) {
				free = append(free, k)
			}
		}
		r.Shuffle(len(free), func(a, b int) { free[a], free[b] = free[b], free[a] })
		if len(free) >= need {
			j.staff = free[:need]
		} else {
			first := make([]int, len(until))
			for k := range first {
				first[k] = k
			}
			slices.SortStableFunc(first, func(a, b int) int { return until[a].Compare(until[b]) })
			j.staff = first[:need]
			for _, k := range j.staff {
				if t := until[k].Add(travel); t.After(start) {
					start = t
				}
			}
		}
		if r.Float64() < s.opts.Rates.Overlap {
			for k, t := range until {
				if t.After(start) && !slices.Contains(j.staff, k) {
					j.staff[0] = k // still on the visit before
					break
				}
			}
		}
		j.start = start.Add(time.Duration(j.seconds[0]) * time.Second)
		j.end = start.Add(time.Duration(j.minutes)*time.Minute + time.Duration(j.seconds[1])*time.Second)
		for _, k := range j.staff {
			if j.end.After(until[k]) {
				until[k] = j.end
			}
		}
		j.phone = p.Phones[j.staff[0]%len(p.Phones)]
	}
}

// visit is m's record of j, version 1, without id and receipt.
func (s *Simulator) visit(day homecare.Date, j *job, m *member) Visit {
	c := s.plan.Clients[m.client]
	loc := homecare.Stockholm()
	v := Visit{
		Version:        1,
		ClientPnr:      c.PersonID,
		Start:          j.start.In(loc),
		End:            j.end.In(loc),
		DeviceStart:    j.start.Add(j.phone.Skew).In(loc),
		DeviceEnd:      j.end.Add(j.phone.Skew).In(loc),
		PlannedVisitID: fmt.Sprintf("PLAN-%04d%02d%02d-%04d-%s", day.Year, day.Month, day.Day, m.client+1, slots[j.slot].slot),
		Provider:       c.Provider,
		Unit:           c.Unit,
		Method:         j.kind,
	}
	v.Staff = append(v.Staff, VisitStaff{Staff: j.provider.Staff[j.staff[0]], Role: Primary})
	if len(j.staff) > 1 && m.double() {
		v.Staff = append(v.Staff, VisitStaff{Staff: j.provider.Staff[j.staff[1]], Role: Second})
	}
	switch {
	case (j.kind == NFC || j.kind == Lock) && m.end == "":
		v.Method = Manual // no tag in the home
	case j.kind == Lock:
		v.StartMethod, v.EndMethod, v.TagUID = Lock, NFC, m.end
	case j.kind == NFC:
		v.TagUID = m.start
		if m.end != m.start {
			v.StartTagUID, v.EndTagUID = m.start, m.end
		}
	}
	v.Insatser = insatser(m, j)
	n := 0
	for _, d := range m.declined {
		if d != "" {
			n++
		}
	}
	switch n {
	case 0:
		v.Status = Performed
	case len(m.declined):
		v.Status = Declined
	default:
		v.Status = PartlyDeclined
	}
	return v
}

// insatser splits the visit's minutes over m's performed insatser in
// proportion to their granted minutes (m's share of a shared visit by
// its granted minutes), so they never add up to more than the visit.
func insatser(m *member, j *job) []Insats {
	total := 0
	for _, o := range j.members {
		total += o.performed()
	}
	var out []Insats
	for k, g := range m.grants {
		if m.declined[k] != "" {
			out = append(out, Insats{Code: g.Code, Declined: true, DeclinedReason: m.declined[k]})
			continue
		}
		out = append(out, Insats{Code: g.Code, Minutes: max(1, j.minutes*g.Minutes/total), DoubleStaffed: g.DoubleStaffing && len(j.staff) > 1})
	}
	return out
}

// correct is a supervisor's correction of j the next morning, version 2
// of each of its records: the end moved (the stop registered late or
// early), or an insats added with the time it took. None if the records
// have not reached TES by then, or the client declined.
func (s *Simulator) correct(day homecare.Date, j *job, synced time.Time, r *rand.Rand) []record {
	at := clock(day.AddDays(1), 8*60+r.IntN(180)).Add(time.Duration(r.IntN(60)) * time.Second)
	kind := r.IntN(2)
	delta := time.Duration(3+r.IntN(10)) * time.Minute
	if r.IntN(3) > 0 {
		delta = -delta // the stop was registered late, more often than early
	}
	added := 0
	if !synced.Before(at) || slices.ContainsFunc(j.members, func(m *member) bool { return m.v.Status == Declined }) {
		return nil
	}
	var out []record
	for i, m := range j.members {
		v := m.v
		v.Version = 2
		v.ReceivedAt = at.In(homecare.Stockholm())
		v.Staff = slices.Clone(v.Staff)
		v.Insatser = slices.Clone(v.Insatser)
		switch {
		case kind == 1 && i == 0:
			code := s.extraInsats(m)
			added = 5 + 5*r.IntN(3)
			v.Insatser = append(v.Insatser, Insats{Code: code, Minutes: added})
		case kind == 0 && i == 0 && j.minutes+int(delta/time.Minute) < 2:
			delta = -delta // too short to end earlier
		}
		if kind == 1 {
			v.End = v.End.Add(time.Duration(added) * time.Minute)
		} else {
			v.End = v.End.Add(delta)
			if delta < 0 {
				shrink(v.Insatser, j.minutes, j.minutes+int(delta/time.Minute))
			}
		}
		// A supervisor's batch goes every quarter of an hour.
		out = append(out, record{v: v, device: WebDeviceID, at: at.Truncate(15 * time.Minute).Add(15*time.Minute + 20*time.Second)})
	}
	return out
}

// extraInsats is an insats the client has that m's visit does not, else
// TILLSYN (a check that was done and not registered).
func (s *Simulator) extraInsats(m *member) string {
	for _, g := range s.plan.Clients[m.client].Insatser {
		if !slices.ContainsFunc(m.v.Insatser, func(in Insats) bool { return in.Code == g.Code }) {
			return g.Code
		}
	}
	if !slices.ContainsFunc(m.v.Insatser, func(in Insats) bool { return in.Code == "TILLSYN" }) {
		return "TILLSYN"
	}
	return "OVRIGT"
}

// shrink scales the performed insatser's minutes from a visit of from
// minutes to one of to minutes.
func shrink(ins []Insats, from, to int) {
	for i := range ins {
		if !ins[i].Declined && from > 0 {
			ins[i].Minutes = max(1, ins[i].Minutes*to/from)
		}
	}
}
