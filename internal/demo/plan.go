package demo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// lovStaffIDs is how many of the LOV provider's staff have no HSA-ID (no SITHS card):
// TES names them by the provider's own staff id only.
const lovStaffIDs = 3

// OrdersInForce returns, per client, the order of tls in force on day that gives care:
// not rejected, ended or paused, and begun. The demo's phones visit those clients, for
// the provider the order names, with the insatser it grants.
func OrdersInForce(tls []homecare.Timeline, day homecare.Date) map[homecare.PersonID]homecare.Order {
	out := map[homecare.PersonID]homecare.Order{}
	for _, tl := range tls {
		o := tl.At(day)
		switch {
		case o.IsZero(), o.Status.Closed(), o.Status == homecare.OrderStatusRejected, o.Status == homecare.OrderStatusPaused,
			day.Before(o.ValidFrom):
			continue
		}
		out[o.Client.PersonID] = o
	}
	return out
}

// Plan is what the municipality's phones work from on day (tessim): the clients with
// an order in force (orders, by client), each with the insatser, schedule and double
// staffing of the order and the provider it names; with orders nil, every client of
// the municipality with its provider and VisitsPerDay (the benchmarks' generator).
// Omsorg Norr (LOV) has a few staff named only by its own staff id; each provider has
// phones (tessim.NewPhones: most clocks right, one far off where there are four); one
// in three homes has a second tag; cohabitants the orders name are visited together
// (else two clients of one provider share a home), and a client or two are granted
// double staffing if the orders grant none.
func (m *Municipality) Plan(orders map[homecare.PersonID]homecare.Order, day homecare.Date) (tessim.Plan, error) {
	var plan tessim.Plan
	for i, p := range m.Providers {
		tp := tessim.Provider{ID: p.ID}
		for _, h := range p.Staff {
			tp.Staff = append(tp.Staff, tessim.Staff{HSAID: string(h)})
		}
		if p.ID == lovProvider {
			for k := range lovStaffIDs {
				tp.Staff = append(tp.Staff, tessim.Staff{StaffID: fmt.Sprintf("LOV-%04d", 2001+k)})
			}
		}
		// Omsorg Norr's four phones (one with a clock set by hand), Söder's three.
		tp.Phones = tessim.NewPhones(1+20*i, 4-i)
		plan.Providers = append(plan.Providers, tp)
	}
	byOrder := map[string]homecare.PersonID{} // an order's external id: its client
	for pid, o := range orders {
		byOrder[o.ExternalID] = pid
	}
	index := map[homecare.PersonID]int{} // client: its index in plan.Clients
	for i, c := range m.Clients {
		tc := tessim.Client{PersonID: separated(c.PersonID.Reveal()), Tags: m.Tags(i)}
		if orders == nil {
			if c.VisitsPerDay == 0 {
				continue
			}
			p := m.Providers[c.Provider]
			tc.Provider, tc.Unit = p.ID, p.Unit
			for v := range c.VisitsPerDay {
				code := bySlot[v%len(bySlot)][0]
				tc.Insatser = append(tc.Insatser, tessim.Grant{Code: code, Minutes: m.minutes(code), Slots: []tessim.Slot{defaultSlot[code]}})
			}
		} else {
			o, ok := orders[c.PersonID]
			if !ok {
				continue
			}
			tc.Provider = o.ProviderID
			for _, p := range m.Providers {
				if p.ID == o.ProviderID {
					tc.Unit = p.Unit
				}
			}
			for k, in := range o.Insatser {
				if !in.ValidFrom.IsZero() && day.Before(in.ValidFrom) || !in.ValidTo.IsZero() && in.ValidTo.Before(day) {
					continue
				}
				tc.Insatser = append(tc.Insatser, m.grant(in, i+k))
			}
			for _, id := range o.Planning.CohabitantOrderIDs {
				if pid, ok := byOrder[id]; ok && orders[pid].ProviderID == o.ProviderID {
					tc.Cohabitant = separated(pid.Reveal())
				}
			}
		}
		if len(tc.Insatser) == 0 {
			continue
		}
		index[c.PersonID] = len(plan.Clients)
		plan.Clients = append(plan.Clients, tc)
	}
	// A cohabitant whose order is not in force that day lives alone meanwhile.
	inPlan := map[string]bool{}
	for _, c := range plan.Clients {
		inPlan[c.PersonID] = true
	}
	couples := 0
	for i := range plan.Clients {
		if c := &plan.Clients[i]; c.Cohabitant != "" && !inPlan[c.Cohabitant] {
			c.Cohabitant = ""
		} else if c.Cohabitant != "" {
			couples++
		}
	}
	if couples == 0 {
		shareAHome(plan.Clients)
	}
	grantDoubleStaffing(plan.Clients)
	return plan, plan.Validate()
}

// Tags are the UIDs of the NFC tags in the home of client i (Municipality.Clients): the
// one at the door, and in one home in three a second inside, sometimes read at the end
// of a visit (05 where the door tag has 04, so that no two homes share one).
func (m *Municipality) Tags(i int) []string {
	c := m.Clients[i]
	tags := []string{colonHex(c.TagUID)}
	if i%3 == 1 {
		tags = append(tags, colonHex("05"+c.TagUID[2:]))
	}
	return tags
}

// RegisterTags registers every client's tags in the hub's register from day from, as
// staff do when they put one up (knut tags register): the nightly review flags a tag
// read at no door (unknown_tag) or at another client's (foreign_tag).
func (m *Municipality) RegisterTags(ctx context.Context, st *store.Store, from homecare.Date) error {
	for i, c := range m.Clients {
		for k, uid := range m.Tags(i) {
			where := "inside the door frame"
			if k > 0 {
				where = "on the bedroom door"
			}
			if err := st.RegisterTag(ctx, uid, c.PersonID, from, where, "demo:provider-staff"); err != nil {
				return err
			}
		}
	}
	return nil
}

// shareAHome makes the first two clients of one provider a couple living together.
func shareAHome(clients []tessim.Client) {
	first := map[string]int{}
	for i, c := range clients {
		j, ok := first[c.Provider]
		if !ok {
			first[c.Provider] = i
			continue
		}
		clients[i].Cohabitant, clients[j].Cohabitant = clients[j].PersonID, clients[i].PersonID
		return
	}
}

// grantDoubleStaffing grants two staff for the evening help (or else the first
// insats) of the first clients without it, until two clients have it.
func grantDoubleStaffing(clients []tessim.Client) {
	double := func(c tessim.Client) bool {
		return slices.ContainsFunc(c.Insatser, func(g tessim.Grant) bool { return g.DoubleStaffing })
	}
	n := 0
	for _, c := range clients {
		if double(c) {
			n++
		}
	}
	for i := 0; i < len(clients) && n < 2; i++ {
		c := &clients[i]
		if double(*c) {
			continue
		}
		k := max(0, slices.IndexFunc(c.Insatser, func(g tessim.Grant) bool { return g.Code == "KVALL" }))
		c.Insatser[k].DoubleStaffing = true
		n++
	}
}

// defaultSlot is when an insats whose order gives no time of day is done.
var defaultSlot = map[string]tessim.Slot{
	"FRUKOST": tessim.Morning, "MEDICIN": tessim.Morning, "DUSCH": tessim.Forenoon, "STAD": tessim.Forenoon,
	"INKOP": tessim.Forenoon, "LUNCH": tessim.Midday, "PROMENAD": tessim.Afternoon, "MIDDAG": tessim.Afternoon,
	"KVALL": tessim.Evening, "TILLSYN": tessim.Evening,
}

// weekdayOf is the canonical order's weekday names.
var weekdayOf = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday,
	"sat": time.Saturday, "sun": time.Sunday,
}

// grant is an order's insats as the phones do it: the minutes per occasion, the times
// of day and weekdays of its schedule. A weekly or monthly insats whose order names no
// weekday falls on one (from n), a monthly one every other week.
func (m *Municipality) grant(in homecare.OrderInsats, n int) tessim.Grant {
	g := tessim.Grant{Code: in.Code, Minutes: in.MinutesPerOccasion, DoubleStaffing: in.DoubleStaffing}
	if g.Minutes <= 0 && in.Period == homecare.PeriodDay && in.TimesPerPeriod > 0 {
		g.Minutes = in.GrantedMinutes / in.TimesPerPeriod
	}
	if g.Minutes <= 0 {
		g.Minutes = m.minutes(in.Code)
	}
	g.Minutes = min(600, g.Minutes)
	if s := in.Schedule; s != nil {
		for _, t := range s.TimesOfDay {
			g.Slots = append(g.Slots, tessim.Slot(t))
		}
		for _, d := range s.Weekdays {
			g.Weekdays = append(g.Weekdays, weekdayOf[d])
		}
		g.EveryOtherWeek = s.EveryOtherWeek
	}
	if len(g.Slots) == 0 {
		slot, ok := defaultSlot[in.Code]
		if !ok {
			slot = tessim.Forenoon
		}
		g.Slots = []tessim.Slot{slot}
	}
	if len(g.Weekdays) == 0 && in.Period != homecare.PeriodDay {
		g.Weekdays = []time.Weekday{time.Monday + time.Weekday(n%5)}
		g.EveryOtherWeek = in.Period == homecare.PeriodMonth
	}
	return g
}
