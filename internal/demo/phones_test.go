package demo

import (
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// TestPlanWithoutOrders: the municipality's plan is valid, names its LOV staff by
// staff id only, and has a couple and clients granted double staffing.
func TestPlanWithoutOrders(t *testing.T) {
	m := NewMunicipality(1)
	plan, err := m.Plan(nil, homecare.Date{Year: 2026, Month: 11, Day: 23})
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	var r PhoneReport
	r.describe(plan)
	if r.StaffIDOnly != lovStaffIDs || r.Couples != 1 || r.DoubleClients < 2 || r.Phones != 7 || r.Clients == 0 {
		t.Errorf("plan: %+v, want %d staff by staff id only, a couple, two clients double-staffed, 7 phones", r, lovStaffIDs)
	}
}

// TestSimulatorSeedShows: on any day, the demo finds a simulator seed whose days
// push a supervisor's correction and a record synced more than 48 h late.
func TestSimulatorSeedShows(t *testing.T) {
	m := NewMunicipality(1)
	tes := &TES{Plan: func(day homecare.Date) (tessim.Plan, error) { return m.Plan(nil, day) }}
	first := homecare.Date{Year: 2026, Month: 11, Day: 2}
	for d := range 10 {
		day := first.AddDays(d * 3)
		s, err := tes.pick(1, day, 3)
		if err != nil {
			t.Fatal(err)
		}
		found := s.shows(day, 3)
		if !found {
			t.Errorf("days from %s: no seed of %d shows a correction and a late sync", day, SimTries)
		}
	}
}
