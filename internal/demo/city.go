package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The city: one month of a large municipality's home care written straight into a
// store, the input of the reconciliation benchmark (testdata/bench/reconcile.sh). Orders
// go in through Tx.ApplyOrderEvent, key grants through Tx.RecordKeyChange and
// Tx.ApplyKeyGrantResult (as the keys engine and the vendor's answer write them), visits
// through a store.Writer (the ingest path's PrepareVisit and UpsertVisit), lock events
// through Tx.InsertLockEvent. Nothing passes through pipelines: the month is there in
// minutes rather than hours.

// CityOptions say what GenerateCity writes.
type CityOptions struct {
	// Month is the month the visits fall in.
	Month report.Month
	// Visits is how many visits to write; default 2,000,000.
	Visits int
	// LockEvents is how many lock events to write; default twice Visits.
	LockEvents int
	// Seed makes the city: the same seed, month and counts give the same orders,
	// visits and lock events.
	Seed uint64
	// Clock, when set, is the store's clock (store.Options.Clock, server.OpenStore's
	// clock): GenerateCity moves it as the month passes, so that orders and key grants
	// are made before the month, each day's visits are received the next day and the
	// late ones days later, as a live hub would have seen them. Without it the store's
	// own clock stands: a past month's visits are all received late, its lock events
	// precede their grants' confirmation (no_grant findings), and a future month's
	// orders are refused as dated ahead of the hub's clock.
	Clock *CityClock
	// Progress, when set, gets a line every 5 % of the visits.
	Progress io.Writer
}

// CityStats count what GenerateCity wrote.
type CityStats struct {
	Providers, Teams, Staff int
	Clients, Couples        int
	Orders, OrderEvents     int
	KeyGrants               int
	Visits, LockEvents      int
	// Of the visits: received days late, declined at the door, cancelled, with a
	// second person on them.
	Late, Declined, Cancelled, DoubleStaffed int
	Elapsed                                  time.Duration
}

// CityClock is a clock GenerateCity sets: pass Now as the store's clock.
type CityClock struct{ ns atomic.Int64 }

// Now is the time last set, or time.Now before the first Set.
func (c *CityClock) Now() time.Time {
	if n := c.ns.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Now()
}

// Set moves the clock to t.
func (c *CityClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// The city's shape.
const (
	cityVisitsPerDay  = 3      // per client, on average: sets the first guess of clients
	cityTeamClients   = 30     // clients of one home-care group
	cityMaxClients    = 34_000 // official test personnummer born 1890-2010, less a margin
	cityLockBase      = 18_000_000
	cityStaffUserBase = 100_000
	citySource        = "tes"
	cityCaseSystem    = "lifecare"
	cityLockVendor    = "nuki"
)

// cityProviders are the city's providers with their share of the clients: a few large,
// many small, as under LOV.
var cityProviders = []struct {
	id    string
	share float64
}{
	{"omsorg-norr", 0.24}, {"hemtjanst-soder", 0.17}, {"hemtjanst-ost", 0.12}, {"hemtjanst-vast", 0.10},
	{"centrum-omsorg", 0.08}, {"aldreomsorg-city", 0.07}, {"trygg-hemtjanst", 0.06}, {"omtanke-lov", 0.05},
	{"stads-hemtjanst", 0.04}, {"hjartat-omsorg", 0.03}, {"lugna-hander", 0.02}, {"ljusglimten", 0.02},
}

// slot is a time of day a visit falls in.
type slot int

const (
	slotMorning slot = iota
	slotForenoon
	slotMidday
	slotAfternoon
	slotEvening
	slotNight
	numSlots
)

// slotStart is when each slot's rounds start (minutes after midnight), slotName its
// canonical time_of_day, slotPerStaff the visits one person does in it.
var (
	slotStart    = [numSlots]int{7 * 60, 9*60 + 30, 11*60 + 30, 15 * 60, 19 * 60, 21*60 + 30}
	slotName     = [numSlots]string{"morning", "forenoon", "midday", "afternoon", "evening", "night"}
	slotPerStaff = [numSlots]int{5, 3, 5, 5, 5, 6}
)

// cityInsats is one insats of a client's order and when its occasions fall.
type cityInsats struct {
	code     string
	minutes  int // per occasion
	period   homecare.Period
	slots    []slot // a daily insats: one occasion in each; else the one slot
	weekdays []time.Weekday
	biweekly bool // every other (ISO) week
	double   bool
}

// on reports whether the insats has an occasion on day.
func (in *cityInsats) on(day time.Time) bool {
	if in.period == homecare.PeriodDay {
		return true
	}
	if !slices.Contains(in.weekdays, day.Weekday()) {
		return false
	}
	_, week := day.ISOWeek()
	return !in.biweekly || week%2 == 0
}

type cityClient struct {
	pid      homecare.PersonID
	team     int
	order    string // the order's external id
	decided  homecare.Date
	from, to homecare.Date // the order's period (to zero: open)
	// pauseFrom..pauseTo: a planned stay at a short-term home, no visits.
	pauseFrom, pauseTo homecare.Date
	insatser           []cityInsats
	partner            int  // the cohabitant's index, or -1
	follower           bool // the second of a couple: visited with the first
	tag, lock          string
	limit              int // visits at most (the last client's share of Visits)
	written            int
}

// inForce reports whether the client gets visits on day.
func (c *cityClient) inForce(day homecare.Date) bool {
	if day.Before(c.from) || !c.to.IsZero() && c.to.Before(day) {
		return false
	}
	return c.pauseFrom.IsZero() || day.Before(c.pauseFrom) || c.pauseTo.Before(day)
}

type cityTeam struct {
	provider int
	unit     string
	staff    []int // indices into city.staff
	clients  []int
}

type city struct {
	opts      CityOptions
	loc       *time.Location
	first     homecare.Date
	days      int
	providers []string
	teams     []cityTeam
	staff     []homecare.HSAID
	clients   []cityClient
	stats     CityStats
}

// GenerateCity writes a city's month into st: orders (created, then executed by the
// provider), a key grant at every client's lock for each person of the client's team,
// opts.Visits visits and opts.LockEvents lock events; newClient, teamDay, visit and
// fitEvents say how they are distributed. Memory stays bounded: visits and lock events
// are made and written a day at a time.
func GenerateCity(ctx context.Context, st *store.Store, opts CityOptions) (CityStats, error) {
	start := time.Now()
	if opts.Visits <= 0 {
		opts.Visits = 2_000_000
	}
	if opts.LockEvents <= 0 {
		opts.LockEvents = 2 * opts.Visits
	}
	if opts.Month == (report.Month{}) {
		return CityStats{}, errors.New("city: a month is required")
	}
	c := &city{opts: opts, loc: Stockholm(), first: opts.Month.First()}
	c.days = opts.Month.Last().Day
	if err := c.build(); err != nil {
		return CityStats{}, err
	}
	c.setClock(c.first.AddDays(-1).In(c.loc).Add(6 * time.Hour))
	pending, err := c.writeOrders(ctx, st)
	if err != nil {
		return c.stats, err
	}
	if err := c.writeGrants(ctx, st); err != nil {
		return c.stats, err
	}
	if err := c.writeMonth(ctx, st, pending, start); err != nil {
		return c.stats, err
	}
	c.stats.Elapsed = time.Since(start)
	return c.stats, nil
}

func (c *city) setClock(t time.Time) {
	if c.opts.Clock != nil {
		c.opts.Clock.Set(t)
	}
}

func (c *city) progress(format string, args ...any) {
	if c.opts.Progress != nil {
		fmt.Fprintf(c.opts.Progress, "city: "+format+"\n", args...)
	}
}

// build makes the providers, teams, staff and clients with their orders: clients are
// added until their visits over the month reach opts.Visits.
func (c *city) build() error {
	r := rand.New(rand.NewPCG(c.opts.Seed, 0x63697479))
	for _, p := range cityProviders {
		c.providers = append(c.providers, p.id)
	}
	guess := min(cityMaxClients, c.opts.Visits/(cityVisitsPerDay*c.days)*5/4+50)
	pids := cityPersonIDs(guess)
	total := 0
	for total < c.opts.Visits {
		i := len(c.clients)
		if i == len(pids) {
			if len(pids) >= cityMaxClients {
				return fmt.Errorf("city: %d visits in %s need more clients than there are official test numbers (%d)",
					c.opts.Visits, c.opts.Month, cityMaxClients)
			}
			pids = cityPersonIDs(cityMaxClients)
		}
		cl := c.newClient(r, i, pids[i])
		// One couple in 67 clients (3 % of the clients live in a couple), the partner
		// visited together with them: the same provider, home and insatser.
		couple := r.IntN(67) == 0 && i+1 < len(pids) && cl.pauseFrom.IsZero()
		c.clients = append(c.clients, cl)
		n := c.monthVisits(&c.clients[i])
		if couple {
			p := cl
			p.pid, p.partner, p.follower = pids[i+1], i, true
			p.order = fmt.Sprintf("BEST-%d-%06d", c.first.Year, i+2)
			p.insatser = slices.Clone(cl.insatser)
			c.clients[i].partner = i + 1
			c.clients = append(c.clients, p)
			c.stats.Couples++
			n *= 2
		}
		if total+n > c.opts.Visits {
			last := &c.clients[len(c.clients)-1]
			if couple {
				// The couple's visits go in pairs: the lead's first.
				c.clients[i].limit = (c.opts.Visits - total + 1) / 2
				last.limit = (c.opts.Visits - total) / 2
			} else {
				last.limit = c.opts.Visits - total
			}
		}
		total += n
	}
	c.assignTeams(r)
	c.stats.Providers, c.stats.Teams, c.stats.Staff = len(c.providers), len(c.teams), len(c.staff)
	c.stats.Clients, c.stats.Orders = len(c.clients), len(c.clients)
	c.progress("%d clients (%d couples) of %d providers in %d teams, %d staff", len(c.clients), c.stats.Couples,
		len(c.providers), len(c.teams), len(c.staff))
	return nil
}

// cityPersonIDs returns n official test numbers: the demo's clients, then personnummer
// of people born 1890-2010 (homecare.OfficialTestPersonIDsBorn). Skatteverket's list has
// few people born 1910-1969, so the city's clients are older and younger than home
// care's; only official test numbers are ever used.
func cityPersonIDs(n int) []homecare.PersonID {
	ids := homecare.OfficialTestPersonIDs()
	if n > len(ids) {
		ids = append(ids, homecare.OfficialTestPersonIDsBorn(1890, 2010, n-len(ids))...)
	}
	return ids[:n]
}

// newClient makes client i's order: 1-4 insatser giving 1-5 visits a day, sometimes a
// weekly or fortnightly service, now and then double staffing, a start or end within
// the month or a planned short stay away.
func (c *city) newClient(r *rand.Rand, i int, pid homecare.PersonID) cityClient {
	cl := cityClient{pid: pid, partner: -1, limit: math.MaxInt,
		order: fmt.Sprintf("BEST-%d-%06d", c.first.Year, i+1),
		tag:   fmt.Sprintf("04%012X", r.Uint64()&0xFFFFFFFFFFFF),
		lock:  strconv.Itoa(cityLockBase + i)}
	om := func(lo, hi int) int { return lo + r.IntN((hi-lo)/5+1)*5 } // whole five minutes
	daily := func(code string, minutes int, s ...slot) cityInsats {
		return cityInsats{code: code, minutes: minutes, period: homecare.PeriodDay, slots: s}
	}
	switch v := r.IntN(100); {
	case v < 15: // one visit a day
		cl.insatser = []cityInsats{daily("LUNCH", om(15, 30), slotMidday)}
	case v < 40:
		cl.insatser = []cityInsats{daily("FRUKOST", om(20, 35), slotMorning), daily("MIDDAG", om(20, 35), slotAfternoon)}
	case v < 70:
		cl.insatser = []cityInsats{daily("FRUKOST", om(20, 35), slotMorning), daily("MIDDAG", om(20, 35), slotAfternoon),
			daily("KVALL", om(25, 45), slotEvening)}
	case v < 90: // medication reminders at midday and in the evening make four visits
		cl.insatser = []cityInsats{daily("FRUKOST", om(20, 35), slotMorning),
			daily("MEDICIN", om(5, 10), slotMorning, slotMidday, slotEvening), daily("MIDDAG", om(20, 35), slotAfternoon)}
	default: // and the night's check (trygghetsbesök)
		cl.insatser = []cityInsats{daily("FRUKOST", om(20, 35), slotMorning), daily("MEDICIN", om(5, 10), slotMidday, slotEvening),
			daily("MIDDAG", om(20, 35), slotAfternoon), daily("TILLSYN", 15, slotNight)}
	}
	weekday := func() time.Weekday { return time.Monday + time.Weekday(r.IntN(5)) }
	for len(cl.insatser) < 4 && r.IntN(2) == 0 {
		var in cityInsats
		switch r.IntN(4) {
		case 0:
			in = cityInsats{code: "DUSCH", minutes: om(30, 45), period: homecare.PeriodWeek, slots: []slot{slotForenoon},
				weekdays: []time.Weekday{weekday()}}
			if r.IntN(3) == 0 {
				in.weekdays = append(in.weekdays, (in.weekdays[0]+3)%7)
			}
		case 1:
			in = cityInsats{code: "STAD", minutes: 96, period: homecare.PeriodMonth, slots: []slot{slotForenoon},
				weekdays: []time.Weekday{weekday()}, biweekly: true}
		case 2:
			in = cityInsats{code: "INKOP", minutes: om(30, 60), period: homecare.PeriodWeek, slots: []slot{slotForenoon},
				weekdays: []time.Weekday{weekday()}}
		default:
			in = cityInsats{code: "PROMENAD", minutes: 30, period: homecare.PeriodWeek, slots: []slot{slotAfternoon},
				weekdays: []time.Weekday{weekday()}}
		}
		if !slices.ContainsFunc(cl.insatser, func(o cityInsats) bool { return o.code == in.code }) {
			cl.insatser = append(cl.insatser, in)
		}
	}
	if r.IntN(20) == 0 { // double staffing: the care that needs two, a lift
		k := slices.IndexFunc(cl.insatser, func(in cityInsats) bool { return in.code == "DUSCH" || in.code == "KVALL" })
		cl.insatser[max(0, k)].double = true
	}
	// Most orders began long before the month; a few begin or end in it, or pause for a
	// planned stay at a short-term home.
	cl.from = c.first.AddDays(-14 - r.IntN(900))
	switch v := r.IntN(100); {
	case v < 3:
		cl.from = c.first.AddDays(1 + r.IntN(c.days-3))
	case v < 5:
		cl.to = c.first.AddDays(2 + r.IntN(c.days-4))
	case v < 6:
		cl.pauseFrom = c.first.AddDays(2 + r.IntN(c.days/2))
		cl.pauseTo = cl.pauseFrom.AddDays(4 + r.IntN(6))
	}
	if cl.to.IsZero() && r.IntN(3) == 0 {
		cl.to = c.first.AddDays(c.days + 30 + r.IntN(150)) // a decision for a period
	}
	cl.decided = cl.from.AddDays(-3 - r.IntN(12))
	if last := c.first.AddDays(-2); last.Before(cl.decided) {
		cl.decided = last
	}
	return cl
}

// dayTime is day at minute m after midnight, local time.
func (c *city) dayTime(day homecare.Date, m int) time.Time {
	return day.In(c.loc).Add(time.Duration(m) * time.Minute)
}

// occasions returns, per slot, the client's insatser with an occasion then on day.
func (c *city) occasions(cl *cityClient, day homecare.Date) (out [numSlots][]*cityInsats) {
	if !cl.inForce(day) {
		return out
	}
	noon := c.dayTime(day, 12*60)
	for k := range cl.insatser {
		in := &cl.insatser[k]
		if !in.on(noon) {
			continue
		}
		for _, s := range in.slots {
			out[s] = append(out[s], in)
		}
	}
	return out
}

// monthVisits counts the visits of one client (a single, or each of a couple) over the
// month.
func (c *city) monthVisits(cl *cityClient) int {
	n := 0
	for d := range c.days {
		for _, ins := range c.occasions(cl, c.first.AddDays(d)) {
			if len(ins) > 0 {
				n++
			}
		}
	}
	return n
}

// assignTeams gives each client a provider by the providers' shares (a couple together)
// and each provider's clients groups of about cityTeamClients, each group about 0.4 staff
// per client (day, evening and night shifts, days off).
func (c *city) assignTeams(r *rand.Rand) {
	byProvider := make([][]int, len(c.providers))
	for i := range c.clients {
		if c.clients[i].follower {
			continue
		}
		x, p := r.Float64(), 0
		for acc := cityProviders[0].share; x > acc && p < len(cityProviders)-1; {
			p++
			acc += cityProviders[p].share
		}
		byProvider[p] = append(byProvider[p], i)
		if j := c.clients[i].partner; j >= 0 {
			byProvider[p] = append(byProvider[p], j)
		}
	}
	for p, ids := range byProvider {
		for k := 0; k < len(ids); k += cityTeamClients {
			members := ids[k:min(len(ids), k+cityTeamClients)]
			t := cityTeam{provider: p, unit: fmt.Sprintf("%s-grupp-%02d", c.providers[p], k/cityTeamClients+1)}
			for range max(4, len(members)*2/5) {
				t.staff = append(t.staff, len(c.staff))
				c.staff = append(c.staff, homecare.HSAID(fmt.Sprintf("TSTNMT2321000156-%04d", 1+len(c.staff))))
			}
			for _, i := range members {
				c.clients[i].team = len(c.teams)
				t.clients = append(t.clients, i)
			}
			c.teams = append(c.teams, t)
		}
	}
}

// chunks runs each fn it is sent in a transaction of its own, on workers goroutines:
// one for SQLite (one writer anyway), four for PostgreSQL, whose statements wait for
// their round trips. It returns the first error once the channel is closed and drained.
type chunks struct {
	in   chan func(*store.Tx) error
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	stop context.CancelFunc
}

func runChunks(ctx context.Context, st *store.Store) *chunks {
	ctx, cancel := context.WithCancel(ctx)
	ch := &chunks{in: make(chan func(*store.Tx) error, 4), stop: cancel}
	workers := 1
	if st.Dialect() == store.DialectPostgres {
		workers = 4
	}
	for range workers {
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			for fn := range ch.in {
				if ch.failed() {
					continue
				}
				if err := st.Tx(ctx, fn); err != nil {
					ch.fail(err)
				}
			}
		}()
	}
	return ch
}

func (ch *chunks) fail(err error) {
	ch.mu.Lock()
	if ch.err == nil {
		ch.err = err
		ch.stop()
	}
	ch.mu.Unlock()
}

func (ch *chunks) failed() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.err != nil
}

func (ch *chunks) send(fn func(*store.Tx) error) { ch.in <- fn }

func (ch *chunks) wait() error {
	close(ch.in)
	ch.wg.Wait()
	ch.stop()
	return ch.err
}

// cityPending is an order event that takes effect in the month, sent on its day.
type cityPending struct {
	day homecare.Date
	ev  homecare.OrderEvent
}

// writeOrders stores each client's order as the case system created it and the
// provider executed it; an execution or resumption in the month is returned, to be sent
// on its day.
func (c *city) writeOrders(ctx context.Context, st *store.Store) ([]cityPending, error) {
	var pending []cityPending
	ch := runChunks(ctx, st)
	var batch []homecare.OrderEvent
	flush := func() {
		evs := batch
		batch = nil
		ch.send(func(tx *store.Tx) error {
			for _, ev := range evs {
				if _, err := tx.ApplyOrderEvent(ctx, ev, ""); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for i := range c.clients {
		cl := &c.clients[i]
		created, executed := c.orderEvents(i)
		evs := []homecare.OrderEvent{created}
		if cl.from.Before(c.first) {
			evs = append(evs, executed)
		} else {
			pending = append(pending, cityPending{cl.from, executed})
		}
		if !cl.pauseFrom.IsZero() {
			at := cl.decided.In(c.loc).Add(30 * time.Hour)
			evs = append(evs, homecare.OrderEvent{SourceSystem: cityCaseSystem, EventID: cl.order + "-paus", Type: homecare.OrderPaused,
				OccurredAt: at.UTC(), Order: homecare.OrderSnapshot{ExternalID: cl.order},
				Pause: &homecare.OrderPause{From: cl.pauseFrom, To: cl.pauseTo, Reason: homecare.PauseShortStay, Planned: true}})
			back := cl.pauseTo.AddDays(1)
			pending = append(pending, cityPending{back, homecare.OrderEvent{SourceSystem: cityCaseSystem, EventID: cl.order + "-ater",
				Type: homecare.OrderResumed, OccurredAt: c.dayTime(back, 8*60).UTC(), Order: homecare.OrderSnapshot{ExternalID: cl.order},
				ResumedDate: back}})
		}
		batch = append(batch, evs...)
		c.stats.OrderEvents += len(evs)
		if len(batch) >= 500 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	if err := ch.wait(); err != nil {
		return nil, fmt.Errorf("city: orders: %w", err)
	}
	slices.SortStableFunc(pending, func(a, b cityPending) int { return a.day.Compare(b.day) })
	c.progress("%d orders stored (%d events, %d more in the month)", len(c.clients), c.stats.OrderEvents, len(pending))
	return pending, nil
}

// orderEvents are client i's order as created and as executed on its first day.
func (c *city) orderEvents(i int) (created, executed homecare.OrderEvent) {
	cl := &c.clients[i]
	team := c.teams[cl.team]
	o := homecare.OrderSnapshot{
		ExternalID: cl.order,
		DecisionID: "BESL" + cl.order[4:],
		DecidedAt:  cl.decided,
		ProviderID: c.providers[team.provider],
		Client:     &homecare.OrderClient{PersonID: cl.pid, PersonIDType: cl.pid.Type()},
		ValidFrom:  cl.from,
		ValidTo:    cl.to,
		Key:        &homecare.OrderKey{LockRef: cl.lock},
		Language:   "sv",
	}
	if cl.partner >= 0 {
		o.CohabitantOrderIDs = []string{c.clients[cl.partner].order}
	}
	for _, in := range cl.insatser {
		oi := homecare.OrderInsats{Code: in.code, Period: in.period, MinutesPerOccasion: in.minutes, DoubleStaffing: in.double,
			Schedule: &homecare.InsatsSchedule{EveryOtherWeek: in.biweekly}}
		switch in.period {
		case homecare.PeriodDay:
			oi.TimesPerPeriod = len(in.slots)
		case homecare.PeriodWeek:
			oi.TimesPerPeriod = len(in.weekdays)
		case homecare.PeriodMonth:
			oi.TimesPerPeriod = 2 // every other week
		}
		oi.GrantedMinutes = in.minutes * oi.TimesPerPeriod
		for _, s := range in.slots {
			oi.Schedule.TimesOfDay = append(oi.Schedule.TimesOfDay, slotName[s])
		}
		for _, d := range in.weekdays {
			oi.Schedule.Weekdays = append(oi.Schedule.Weekdays, weekdays[(int(d)+6)%7])
		}
		o.Insatser = append(o.Insatser, oi)
	}
	created = homecare.OrderEvent{SourceSystem: cityCaseSystem, EventID: cl.order + "-ny", Type: homecare.OrderCreated,
		OccurredAt: c.dayTime(cl.decided, 9*60).Add(time.Duration(i%3600) * time.Second).UTC(), Order: o}
	executed = homecare.OrderEvent{SourceSystem: cityCaseSystem, EventID: cl.order + "-verkstalld", Type: homecare.OrderExecuted,
		OccurredAt: c.dayTime(cl.from, 10*60).UTC(), Order: homecare.OrderSnapshot{ExternalID: cl.order},
		ExecutedDate: cl.from, By: homecare.ByPrefix + o.ProviderID}
	return created, executed
}

// weekdays are the canonical order's weekday names, Monday first.
var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// writeGrants gives each person of a client's team a key at the client's lock (one lock
// for a couple: the first's), handed on and confirmed by the vendor before the month, as
// the keys engine and the vendor's answer record them. (The keys engine grants a
// provider's whole staff; a city provider's thousand staff would make that millions of
// rows, so the city grants the team that visits.)
func (c *city) writeGrants(ctx context.Context, st *store.Store) error {
	ch := runChunks(ctx, st)
	var batch []store.KeyChange
	flush := func() {
		changes := batch
		batch = nil
		ch.send(func(tx *store.Tx) error {
			for _, k := range changes {
				if err := tx.RecordKeyChange(ctx, cityLockVendor, k); err != nil {
					return err
				}
				if err := tx.ApplyKeyGrantResult(ctx, cityLockVendor, homecare.KeyGrantResult{ChangeID: k.ChangeID, Seq: k.Seq,
					Op: k.Op, LockRef: k.LockRef, Holder: k.Holder, VendorGrantRef: "g" + k.LockRef + "-" + string(k.Holder[17:]),
					State: store.KeyActive, AppliedAt: c.clock()}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for i := range c.clients {
		cl := &c.clients[i]
		if cl.follower {
			continue
		}
		team := c.teams[cl.team]
		w := homecare.KeyWindow{ValidFrom: cl.from.In(c.loc)}
		if !cl.to.IsZero() {
			until := cl.to.AddDays(1).In(c.loc).Add(-time.Second)
			w.ValidUntil = &until
		}
		for _, s := range team.staff {
			h := c.staff[s]
			batch = append(batch, store.KeyChange{KeyGrantChange: homecare.KeyGrantChange{ChangeID: homecare.KeyChangeID(cl.lock, h, 1),
				Seq: 1, Op: homecare.KeyGrantOp, LockRef: cl.lock, Holder: h, ProviderID: c.providers[team.provider],
				Reason: "order " + cityCaseSystem + "/" + cl.order + " in force", KeyWindow: w},
				Client: cl.pid, OrderRef: cityCaseSystem + "/" + cl.order})
			c.stats.KeyGrants++
		}
		if len(batch) >= 2000 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	if err := ch.wait(); err != nil {
		return fmt.Errorf("city: key grants: %w", err)
	}
	c.progress("%d key grants stored", c.stats.KeyGrants)
	return nil
}

func (c *city) clock() time.Time {
	if c.opts.Clock != nil {
		return c.opts.Clock.Now()
	}
	return time.Now()
}

// cityLockEvent is a lock event of the day before it is numbered and stored.
type cityLockEvent struct {
	at     time.Time
	client int // whose lock
	staff  int // -1: the lock locked itself
	unlock bool
}

// cityLate is a visit its phone sends days late.
type cityLate struct {
	received time.Time
	v        homecare.Visit
}

// writeMonth writes the month's visits and lock events, a day at a time: the day's
// visits are received the next day, the late ones (2 %) when their phone comes back
// online 3-10 days on.
func (c *city) writeMonth(ctx context.Context, st *store.Store, pending []cityPending, start time.Time) error {
	w := st.NewWriter(store.WriterOptions{MaxBatch: 1024})
	var (
		werr     error
		werrOnce sync.Once
		failed   atomic.Bool
	)
	done := func(err error) {
		if err != nil {
			werrOnce.Do(func() { werr = err })
			failed.Store(true)
		}
	}
	put := func(v homecare.Visit) {
		p := st.PrepareVisit(v)
		w.Go(ctx, func(tx *store.Tx) error { _, err := tx.UpsertVisit(ctx, p); return err }, done)
	}
	events := runChunks(ctx, st)
	var late []cityLate
	var seq, eventSeq, visitsMade int
	step := max(1, c.opts.Visits/20)
	nextReport := step
	fail := func(err error) error {
		w.Close()
		if e := events.wait(); err == nil {
			err = e
		}
		return err
	}
	for d := 0; ; d++ {
		day := c.first.AddDays(d)
		received := c.dayTime(day.AddDays(1), 12*60)
		c.setClock(received)
		if failed.Load() {
			return fail(fmt.Errorf("city: visits: %w", werr))
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		// The order events of the day: executions and resumptions.
		var evs []homecare.OrderEvent
		for len(pending) > 0 && !day.Before(pending[0].day) {
			evs = append(evs, pending[0].ev)
			pending = pending[1:]
		}
		if len(evs) > 0 {
			if err := st.Tx(ctx, func(tx *store.Tx) error {
				for _, ev := range evs {
					if _, err := tx.ApplyOrderEvent(ctx, ev, ""); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return fail(fmt.Errorf("city: orders: %w", err))
			}
		}
		// Late visits whose phone synced by now.
		keep := late[:0]
		for _, l := range late {
			if l.received.After(received) {
				keep = append(keep, l)
				continue
			}
			c.setClock(l.received)
			put(l.v)
		}
		late = keep
		c.setClock(received)
		if d >= c.days {
			if len(late) == 0 && len(pending) == 0 {
				break
			}
			continue
		}
		var dayEvents []cityLockEvent
		for t := range c.teams {
			r := rand.New(rand.NewPCG(c.opts.Seed^0x7669736974, uint64(t)<<16|uint64(d)))
			for _, v := range c.teamDay(r, t, day, &seq, &dayEvents) {
				visitsMade++
				switch v.Status {
				case homecare.VisitDeclined:
					c.stats.Declined++
				case homecare.VisitCancelled:
					c.stats.Cancelled++
				}
				if len(v.Staff) > 1 {
					c.stats.DoubleStaffed++
				}
				if r.IntN(50) == 0 { // the phone offline for days
					at := v.EndAt.Add(time.Duration(3*24*60+r.IntN(7*24*60)) * time.Minute)
					v.RecordedOffline, v.ReceivedAt = true, at.UTC()
					late = append(late, cityLate{at, v})
					c.stats.Late++
					continue
				}
				put(v)
			}
		}
		// The day's share of the lock events, by the visits made so far.
		quota := int(int64(c.opts.LockEvents)*int64(visitsMade)/int64(c.opts.Visits)) - eventSeq
		if d == c.days-1 {
			quota = c.opts.LockEvents - eventSeq
		}
		dayEvents = c.fitEvents(rand.New(rand.NewPCG(c.opts.Seed^0x6c6f636b, uint64(d))), day, dayEvents, quota)
		for k := 0; k < len(dayEvents); k += 5000 {
			part := dayEvents[k:min(len(dayEvents), k+5000)]
			first := eventSeq + 1
			events.send(func(tx *store.Tx) error {
				for n, e := range part {
					if _, err := tx.InsertLockEvent(ctx, c.lockEvent(e, first+n), ""); err != nil {
						return err
					}
				}
				return nil
			})
			eventSeq += len(part)
		}
		c.stats.LockEvents = eventSeq
		for visitsMade >= nextReport && nextReport <= c.opts.Visits {
			c.progress("%3d %% %s: %d visits, %d lock events, %.0f s", 100*nextReport/c.opts.Visits, day, visitsMade, eventSeq,
				time.Since(start).Seconds())
			nextReport += step
		}
	}
	w.Close()
	if err := events.wait(); err != nil {
		return fmt.Errorf("city: lock events: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("city: visits: %w", werr)
	}
	c.stats.Visits = visitsMade
	return nil
}

// teamDay makes one team's visits of day: each slot's visits shared among the staff on
// duty as rounds (no one in two homes at once), a second person where the order grants
// double staffing, a couple visited together. The lock events of each visit are added
// to events.
func (c *city) teamDay(r *rand.Rand, t int, day homecare.Date, seq *int, events *[]cityLockEvent) []homecare.Visit {
	team := &c.teams[t]
	free := make([]time.Time, len(team.staff)) // when each person is free again
	var out []homecare.Visit
	type unit struct {
		client int
		ins    []*cityInsats
	}
	var perSlot [numSlots][]unit
	for _, i := range team.clients {
		cl := &c.clients[i]
		if cl.follower {
			continue
		}
		for s, ins := range c.occasions(cl, day) {
			if len(ins) > 0 {
				perSlot[s] = append(perSlot[s], unit{i, ins})
			}
		}
	}
	order := make([]int, len(team.staff))
	for s, units := range perSlot {
		if len(units) == 0 {
			continue
		}
		r.Shuffle(len(units), func(a, b int) { units[a], units[b] = units[b], units[a] })
		// The staff on duty: those free soonest.
		k := min(len(team.staff), (len(units)+slotPerStaff[s]-1)/slotPerStaff[s])
		for j := range order {
			order[j] = j
		}
		rot := r.IntN(len(order))
		slices.SortStableFunc(order, func(a, b int) int {
			if n := free[a].Compare(free[b]); n != 0 {
				return n
			}
			return (a-rot+len(order))%len(order) - (b-rot+len(order))%len(order)
		})
		onDuty, offDuty := order[:k], order[k:]
		begin := c.dayTime(day, slotStart[s])
		for n, u := range units {
			j := onDuty[n%k]
			at := begin.Add(time.Duration(r.IntN(15)) * time.Minute)
			if free[j].After(at) {
				at = free[j]
			}
			planned := 0
			for _, in := range u.ins {
				planned += in.minutes
			}
			staff := []int{team.staff[j]}
			double := slices.ContainsFunc(u.ins, func(in *cityInsats) bool { return in.double })
			if double || r.IntN(300) == 0 { // granted, or a second person the order does not grant
				second := (j + 1) % len(team.staff)
				if len(offDuty) > 0 {
					second = offDuty[n%len(offDuty)]
				}
				if second != j {
					staff = append(staff, team.staff[second])
					free[second] = at.Add(time.Duration(planned+10) * time.Minute)
				}
			}
			vs := c.visit(r, day, u.client, u.ins, at, planned, staff, seq, events)
			out = append(out, vs...)
			free[j] = at.Add(time.Duration(planned+5+r.IntN(11)) * time.Minute)
		}
	}
	return out
}

// The methods' shares, in per mille: tag, manual, lock, outside_home.
var cityMethods = [...]struct {
	m     homecare.RegistrationMethod
	share int
}{{homecare.MethodTag, 850}, {homecare.MethodManual, 100}, {homecare.MethodLock, 30}, {homecare.MethodOutsideHome, 20}}

func cityMethod(r *rand.Rand) homecare.RegistrationMethod {
	x := r.IntN(1000)
	for _, m := range cityMethods {
		if x < m.share {
			return m.m
		}
		x -= m.share
	}
	return homecare.MethodTag
}

// visit makes the visit of client at start (for a couple, one for each, linked): its
// length log-normal around the planned minutes, a few far too short or long, 1 %
// declined at the door, 0.5 % cancelled; and its lock events: the door unlocked a few
// minutes around the start and locked after the end by the visit's first person (at 1 %
// of the visits someone else of the team opens), the lock now and then locking itself.
func (c *city) visit(r *rand.Rand, day homecare.Date, client int, ins []*cityInsats, start time.Time, planned int, staff []int,
	seq *int, events *[]cityLockEvent) []homecare.Visit {
	cl := &c.clients[client]
	status := homecare.VisitCompleted
	length := time.Duration(float64(planned) * math.Exp(0.3*r.NormFloat64()) * float64(time.Minute))
	switch x := r.IntN(1000); {
	case x < 10:
		status, length = homecare.VisitDeclined, time.Duration(60+r.IntN(180))*time.Second
	case x < 15:
		status, length = homecare.VisitCancelled, 0
	case x < 18: // a tag touched twice
		length = time.Duration(10+r.IntN(45)) * time.Second
	case x < 19: // the end registered hours late
		length = time.Duration(245+r.IntN(240)) * time.Minute
	}
	if status == homecare.VisitCompleted {
		length = max(length, 2*time.Minute)
		if r.IntN(1000) < 3 {
			length = time.Duration(10+r.IntN(45)) * time.Second
		}
	}
	start = start.Add(time.Duration(r.IntN(60)) * time.Second)
	end := start.Add(length)
	startM := cityMethod(r)
	endM := startM
	if r.IntN(5) == 0 {
		endM = cityMethod(r)
	}
	if status == homecare.VisitCancelled {
		startM, endM = homecare.MethodManual, homecare.MethodManual
	}
	base := homecare.Visit{
		SourceSystem: citySource, ProviderID: c.providers[c.teams[cl.team].provider], UnitID: c.teams[cl.team].unit,
		StartAt: start.UTC(), EndAt: end.UTC(), LocalDate: homecare.LocalDate(start),
		DurationMinutes: int(length.Round(time.Minute) / time.Minute),
		StartMethod:     startM, EndMethod: endM, Status: status,
		OutsideHome: startM == homecare.MethodOutsideHome && endM == homecare.MethodOutsideHome,
	}
	if startM == homecare.MethodTag {
		base.StartTagUID = cl.tag
	}
	if endM == homecare.MethodTag {
		base.EndTagUID = cl.tag
	}
	for k, s := range staff {
		role := homecare.RolePrimary
		if k > 0 {
			role = homecare.RoleSecond
		}
		base.Staff = append(base.Staff, homecare.VisitStaff{HSAID: c.staff[s], Role: role})
	}
	minutes := int(length / time.Minute)
	for _, in := range ins {
		vi := homecare.VisitInsats{Code: in.code, DoubleStaffed: len(staff) > 1 && in.double}
		switch status {
		case homecare.VisitDeclined:
			vi.Declined, vi.DeclinedReason = true, "brukaren avböjde"
		case homecare.VisitCompleted:
			m := minutes * in.minutes / planned
			vi.Minutes = &m
		}
		base.Insatser = append(base.Insatser, vi)
	}
	ids := []int{client}
	if cl.partner >= 0 {
		ids = append(ids, cl.partner)
	}
	refs := make([]string, len(ids))
	for k := range ids {
		*seq++
		refs[k] = fmt.Sprintf("TES-%d%02d%02d-%07d", day.Year, day.Month, day.Day, *seq)
	}
	var write []int // of ids, those still under their limit
	for k, i := range ids {
		if who := &c.clients[i]; who.written < who.limit {
			who.written++
			write = append(write, k)
		}
	}
	out := make([]homecare.Visit, 0, len(write))
	for _, k := range write {
		who := &c.clients[ids[k]]
		v := base
		v.ExternalID, v.Client = refs[k], homecare.VisitClient{PersonID: who.pid, PersonIDType: who.pid.Type()}
		if len(write) == 2 {
			v.SharedVisitRef = refs[1-k]
		}
		v.Staff = slices.Clone(base.Staff)
		v.Insatser = slices.Clone(base.Insatser)
		out = append(out, v)
	}
	if len(out) == 0 || status == homecare.VisitCancelled {
		return out
	}
	opener := staff[0]
	if r.IntN(100) == 0 { // someone else of the team opens
		team := c.teams[cl.team].staff
		opener = team[r.IntN(len(team))]
	}
	lockedBy := staff[0]
	if r.IntN(5) == 0 {
		lockedBy = -1 // auto lock
	}
	*events = append(*events,
		cityLockEvent{at: start.Add(time.Duration(r.IntN(300)-200) * time.Second), client: client, staff: opener, unlock: true},
		cityLockEvent{at: end.Add(time.Duration(30+r.IntN(150)) * time.Second), client: client, staff: lockedBy})
	return out
}

// fitEvents makes the day's lock events quota: 2 % of visits add an opening with no
// visit (by the team, now and then by someone of another team, who has no key there);
// then events are dropped evenly, or more openings with no visit added, until there are
// quota. They stay in team order, a client's together: in time order (as the vendor's
// log gives them) the lookups of grants and the lock events' indexes lose their locality
// and the writes take a third longer.
func (c *city) fitEvents(r *rand.Rand, day homecare.Date, events []cityLockEvent, quota int) []cityLockEvent {
	opening := func() {
		i := r.IntN(len(c.clients))
		cl := &c.clients[i]
		if cl.follower {
			i = cl.partner
			cl = &c.clients[i]
		}
		team := c.teams[cl.team].staff
		s := team[r.IntN(len(team))]
		if r.IntN(10) == 0 {
			s = r.IntN(len(c.staff)) // most likely no key here
		}
		at := c.dayTime(day, 8*60+r.IntN(12*60)).Add(time.Duration(r.IntN(60)) * time.Second)
		events = append(events, cityLockEvent{at: at, client: i, staff: s, unlock: true},
			cityLockEvent{at: at.Add(time.Duration(2+r.IntN(10)) * time.Minute), client: i, staff: s})
	}
	for range len(events) / 100 { // 2 % of the visits: one in a hundred of the events
		opening()
	}
	for len(events) < quota {
		opening()
	}
	if len(events) > quota {
		kept := events[:0]
		for i, e := range events {
			if (i+1)*quota/len(events) > i*quota/len(events) {
				kept = append(kept, e)
			}
		}
		events = kept
	}
	return events
}

// lockEvent is e as the nuki mapping gives it (mappings/nuki/log_to_lock_event.yaml),
// numbered n.
func (c *city) lockEvent(e cityLockEvent, n int) homecare.LockEvent {
	le := homecare.LockEvent{Vendor: cityLockVendor, EventRef: fmt.Sprintf("city-%x-%09d", c.opts.Seed&0xffff, n),
		LockRef: c.clients[e.client].lock, OccurredAt: e.at.UTC(), Action: "lock", VendorAction: 2, Trigger: "app",
		Result: "success", Source: "app"}
	if e.unlock {
		le.Action, le.VendorAction = "unlock", 1
	}
	if e.staff < 0 {
		le.Trigger, le.Source, le.VendorAction = "auto_lock", "auto", 2
		return le
	}
	le.Holder = string(c.staff[e.staff])
	le.VendorActorRef = strconv.Itoa(cityStaffUserBase + e.staff)
	return le
}
