package tessim

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Plan is what the phones work from: the clients with care in force and
// the providers that give it. The simulator reads it; it does not change
// it.
type Plan struct {
	Clients   []Client
	Providers []Provider
}

// Client is one client (brukare) with care in force.
type Client struct {
	// PersonID is the client's personnummer or samordningsnummer as TES
	// writes it (e.g. "19400104-2383"); it must be one of Skatteverket's
	// official test numbers.
	PersonID string
	// Tags are the UIDs of the NFC tags in the client's home, hex with or
	// without ':'. The first is at the door; a second (inside, or the old
	// one not yet removed) is sometimes read at the end of a visit. None:
	// every visit is registered by hand.
	Tags []string
	// Provider is the ID of the provider (Provider.ID) whose staff visit.
	Provider string
	// Unit is the provider's team serving the client.
	Unit string
	// Insatser are what the client is granted, each with its times of day.
	Insatser []Grant
	// Cohabitant is the PersonID of another client in the same home,
	// visited together (sammanboende): at a time of day both have
	// insatser, one visit by the same staff registers two records, one per
	// client, each naming the other's (sharedVisitId). Empty: lives alone.
	// A cohabitant not in the plan (no care in force) or with another
	// provider is visited apart: it is no error.
	Cohabitant string
}

// Grant is one granted insats: what, how long, when.
type Grant struct {
	// Code is the municipality's insats code, e.g. "FRUKOST".
	Code string
	// Minutes is the usual time per occasion (> 0).
	Minutes int
	// Slots are the times of day of its occasions, one visit each; an
	// insats three times a day has three slots. Insatser of a client in
	// the same slot are done in one visit.
	Slots []Slot
	// Weekdays are the days it is given; empty: every day.
	Weekdays []time.Weekday
	// EveryOtherWeek gives it on even ISO weeks only.
	EveryOtherWeek bool
	// DoubleStaffing says two staff are granted (dubbelbemanning): the
	// visits doing it have two staff, and the insats is doubleStaffed.
	DoubleStaffing bool
}

// Slot is a time of day, in the words of the canonical order
// (homecare.InsatsSchedule.TimesOfDay).
type Slot string

// The slots and when their visits fall (Europe/Stockholm).
const (
	Morning   Slot = "morning"   // 07:00-09:30, breakfast, getting up
	Forenoon  Slot = "forenoon"  // 09:30-11:30, shower, cleaning, shopping
	Midday    Slot = "midday"    // 11:30-13:30, lunch
	Afternoon Slot = "afternoon" // 15:00-17:30, dinner
	Evening   Slot = "evening"   // 19:00-21:30, the evening round
	Night     Slot = "night"     // 22:00-23:30, night check
)

// slots are the slots in the order of the day, with their windows in
// minutes after midnight.
var slots = []struct {
	slot       Slot
	from, till int
}{
	{Morning, 7 * 60, 9*60 + 30}, {Forenoon, 9*60 + 30, 11*60 + 30}, {Midday, 11*60 + 30, 13*60 + 30},
	{Afternoon, 15 * 60, 17*60 + 30}, {Evening, 19 * 60, 21*60 + 30}, {Night, 22 * 60, 23*60 + 30},
}

func slotIndex(s Slot) int {
	return slices.IndexFunc(slots, func(w struct {
		slot       Slot
		from, till int
	}) bool {
		return w.slot == s
	})
}

// Provider is a home-care provider (utförare) with its staff and phones.
type Provider struct {
	// ID is how TES names the provider, e.g. "omsorg-norr".
	ID string
	// Staff are the people who visit, at least one (two where any client
	// is granted double staffing).
	Staff []Staff
	// Phones are the provider's phones, at least one. Staff member i
	// carries phone i modulo their number.
	Phones []Phone
}

// Staff is one staff member, named by HSA-ID, by the provider's own
// staff id (common at private LOV providers, whose staff often have no
// SITHS card), or both.
type Staff struct {
	HSAID   string `json:"hsaId,omitempty"`
	StaffID string `json:"staffId,omitempty"`
}

// Phone is a phone with the TES app.
type Phone struct {
	// DeviceID names it in the sync batches, e.g. "PHONE-0017".
	DeviceID string
	// Skew is how far its clock is off: its times (deviceStart, deviceEnd)
	// are the true times plus Skew. Most phones are right, a few minutes
	// off, one far off.
	Skew time.Duration
}

// NewPhones returns n phones PHONE-<first>, PHONE-<first+1>, … with clocks
// as a real fleet has them: most right, one in seven 3 minutes fast, one
// in seven 2 minutes slow, and the last of four or more 47 minutes fast
// (a phone whose clock someone set by hand).
func NewPhones(first, n int) []Phone {
	out := make([]Phone, n)
	for i := range out {
		out[i].DeviceID = fmt.Sprintf("PHONE-%04d", first+i)
		switch {
		case n >= 4 && i == n-1:
			out[i].Skew = 47 * time.Minute
		case i%7 == 3:
			out[i].Skew = 3 * time.Minute
		case i%7 == 5:
			out[i].Skew = -2 * time.Minute
		}
	}
	return out
}

var (
	tagPattern      = regexp.MustCompile(`^([0-9A-Fa-f]{2}:?){4,10}$`)
	deviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

// Validate checks the plan: official test numbers only, known providers,
// slots and cohabitants, staff with an id, phones with a device id,
// enough staff for double staffing. The errors name the client by its
// index, never its number.
func (p *Plan) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	providers := map[string]*Provider{}
	devices := map[string]bool{}
	for i := range p.Providers {
		pr := &p.Providers[i]
		if pr.ID == "" || providers[pr.ID] != nil {
			bad("providers[%d]: id empty or given twice", i)
		}
		providers[pr.ID] = pr
		if len(pr.Staff) == 0 {
			bad("providers[%d]: no staff", i)
		}
		for j, s := range pr.Staff {
			if s.HSAID == "" && s.StaffID == "" {
				bad("providers[%d].staff[%d]: neither hsa id nor staff id", i, j)
			}
			if s.HSAID != "" {
				if _, err := homecare.ParseHSAID(s.HSAID, true); err != nil {
					bad("providers[%d].staff[%d]: %w", i, j, err)
				}
			}
		}
		if len(pr.Phones) == 0 {
			bad("providers[%d]: no phones", i)
		}
		for j, ph := range pr.Phones {
			if !deviceIDPattern.MatchString(ph.DeviceID) || devices[ph.DeviceID] || ph.DeviceID == WebDeviceID {
				bad("providers[%d].phones[%d]: device id empty, malformed or given twice", i, j)
			}
			devices[ph.DeviceID] = true
		}
	}
	clients := map[string]int{}
	tags := map[string]bool{}
	for i, c := range p.Clients {
		pid, err := homecare.ParsePersonID(c.PersonID)
		switch {
		case err != nil:
			bad("clients[%d]: %w", i, err)
		case !homecare.IsOfficialTestNumber(pid):
			bad("clients[%d]: not one of Skatteverket's official test numbers", i)
		}
		if _, dup := clients[c.PersonID]; dup {
			bad("clients[%d]: given twice", i)
		}
		clients[c.PersonID] = i
		pr := providers[c.Provider]
		if pr == nil {
			bad("clients[%d]: unknown provider", i)
		}
		for _, t := range c.Tags {
			uid := strings.ToUpper(strings.ReplaceAll(t, ":", ""))
			switch {
			case !tagPattern.MatchString(t):
				bad("clients[%d]: tag uid is not 4-10 hex bytes", i)
			case tags[uid]:
				bad("clients[%d]: tag uid at another client too", i)
			}
			tags[uid] = true
		}
		for j, g := range c.Insatser {
			if g.Code == "" || len(g.Code) > 32 || g.Minutes <= 0 || g.Minutes > 600 {
				bad("clients[%d].insatser[%d]: want a code of 1-32 characters and 1-600 minutes", i, j)
			}
			for _, s := range g.Slots {
				if slotIndex(s) < 0 {
					bad("clients[%d].insatser[%d]: unknown slot %q", i, j, s)
				}
			}
			if g.DoubleStaffing && pr != nil && len(pr.Staff) < 2 {
				bad("clients[%d].insatser[%d]: double staffing with fewer than two staff", i, j)
			}
		}
	}
	for i, c := range p.Clients {
		if c.Cohabitant == "" {
			continue
		}
		j, ok := clients[c.Cohabitant]
		switch {
		case !ok:
		case j == i:
			bad("clients[%d]: cohabitant is the client", i)
		case p.Clients[j].Cohabitant != "" && p.Clients[j].Cohabitant != c.PersonID:
			bad("clients[%d]: cohabitant lives with a third client", i)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("tessim: plan: %w", errors.Join(errs...))
	}
	return nil
}
