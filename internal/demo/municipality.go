// Package demo is the simulated municipality behind `knut demo` and the
// benchmarks: providers, staff with test HSA-IDs, clients with official test
// personnummer only, and their TES system (adapters/tes/tessim: the staff's
// phones registering visits from the orders in force) that pushes the phones'
// syncs to the hub over real HTTP on loopback and drops the nightly export.
package demo

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Municipality is the synthetic municipality the demo lives in.
type Municipality struct {
	Name      string
	Providers []Provider
	Clients   []Client
	Insatser  []Insats
}

// Provider is a home-care provider (utförare) with its staff.
type Provider struct {
	ID    string
	Name  string
	Unit  string
	Staff []homecare.HSAID
}

// Client is a home-care client (brukare) with a provider and a door tag.
type Client struct {
	PersonID homecare.PersonID
	Provider int // index into Municipality.Providers
	TagUID   string
	// VisitsPerDay is how many visits the client's order grants.
	VisitsPerDay int
}

// Insats is an entry of the municipality's local insats catalogue.
type Insats struct {
	Code    string
	Minutes int
}

// NewMunicipality builds the demo municipality deterministically from seed:
// the same seed gives the same clients, staff and tags.
func NewMunicipality(seed uint64) *Municipality {
	r := rand.New(rand.NewPCG(seed, 0x6b6e7574))
	m := &Municipality{
		Name: "Demo kommun",
		Providers: []Provider{
			{ID: "omsorg-norr", Name: "Omsorg Norr AB (LOV)", Unit: "norr-team-1"},
			{ID: "hemtjanst-soder", Name: "Hemtjänsten Söder (egen regi)", Unit: "soder-grupp-a"},
		},
		Insatser: []Insats{
			{"DUSCH", 20}, {"FRUKOST", 15}, {"LUNCH", 20}, {"MIDDAG", 20}, {"TILLSYN", 10},
			{"STAD", 45}, {"INKOP", 30}, {"PROMENAD", 30}, {"MEDICIN", 5}, {"KVALL", 25},
		},
	}
	staff := 0
	for i := range m.Providers {
		for range 6 {
			staff++
			m.Providers[i].Staff = append(m.Providers[i].Staff,
				homecare.HSAID(fmt.Sprintf("TSTNMT2321000156-%04d", 1000+staff)))
		}
	}
	for i, pid := range homecare.OfficialTestPersonIDs() {
		m.Clients = append(m.Clients, Client{
			PersonID:     pid,
			Provider:     i % len(m.Providers),
			TagUID:       fmt.Sprintf("04%012X", r.Uint64()&0xFFFFFFFFFFFF),
			VisitsPerDay: 1 + r.IntN(4),
		})
	}
	return m
}

// Stockholm is the municipality's time zone.
func Stockholm() *time.Location { return homecare.Stockholm() }
