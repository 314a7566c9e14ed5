package tessim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// testPlan is a municipality like the demo's: two providers (the LOV one
// with staff known only by its own staff id), the official test numbers
// as clients with one to four visits a day, double staffing for some
// showers and evening rounds, the first two clients a couple.
func testPlan(t testing.TB) tessim.Plan {
	t.Helper()
	p := tessim.Plan{Providers: []tessim.Provider{
		{ID: "omsorg-norr", Phones: tessim.NewPhones(1, 5)},
		{ID: "hemtjanst-soder", Phones: tessim.NewPhones(101, 4)},
	}}
	for i := range 8 {
		s := tessim.Staff{HSAID: fmt.Sprintf("TSTNMT2321000156-%04d", 1001+i)}
		if i%3 == 2 {
			s = tessim.Staff{StaffID: fmt.Sprintf("LOV-%04d", 17+i)}
		}
		p.Providers[0].Staff = append(p.Providers[0].Staff, s)
		p.Providers[1].Staff = append(p.Providers[1].Staff, tessim.Staff{HSAID: fmt.Sprintf("TSTNMT2321000156-%04d", 2001+i)})
	}
	day := [][]tessim.Grant{
		{{Code: "FRUKOST", Minutes: 15, Slots: []tessim.Slot{tessim.Morning}}},
		{{Code: "LUNCH", Minutes: 20, Slots: []tessim.Slot{tessim.Midday}}},
		{{Code: "MIDDAG", Minutes: 20, Slots: []tessim.Slot{tessim.Afternoon}}},
		{{Code: "KVALL", Minutes: 25, Slots: []tessim.Slot{tessim.Evening}}},
	}
	for i, pid := range homecare.OfficialTestPersonIDs() {
		digits := pid.Reveal()
		c := tessim.Client{
			PersonID: digits[:8] + "-" + digits[8:],
			Tags:     []string{fmt.Sprintf("04:a2:24:b2:%02x:5e:80", i)},
			Provider: p.Providers[i%2].ID,
			Unit:     []string{"norr-team-1", "söder-grupp-a"}[i%2],
		}
		if i%6 == 0 {
			c.Tags = append(c.Tags, fmt.Sprintf("04:77:10:%02x:c1:00:01", i))
		}
		for k := range 1 + i%4 {
			c.Insatser = append(c.Insatser, day[k]...)
		}
		c.Insatser = append(c.Insatser,
			tessim.Grant{Code: "MEDICIN", Minutes: 5, Slots: []tessim.Slot{tessim.Morning, tessim.Evening}},
			tessim.Grant{Code: "DUSCH", Minutes: 20, Slots: []tessim.Slot{tessim.Forenoon},
				Weekdays: []time.Weekday{time.Tuesday, time.Friday}, DoubleStaffing: i%5 == 0},
			tessim.Grant{Code: "STAD", Minutes: 45, Slots: []tessim.Slot{tessim.Forenoon},
				Weekdays: []time.Weekday{time.Monday}, EveryOtherWeek: true})
		if i%7 == 3 {
			c.Insatser = append(c.Insatser, tessim.Grant{Code: "TILLSYN", Minutes: 10, Slots: []tessim.Slot{tessim.Night}, DoubleStaffing: true})
		}
		p.Clients = append(p.Clients, c)
	}
	// The first two are a couple (both with the first provider: 0 and 2).
	p.Clients[0].Cohabitant = p.Clients[2].PersonID
	p.Clients[2].Cohabitant = p.Clients[0].PersonID
	return p
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *tessim.Plan)
		want   string // "" valid
	}{
		{"the test plan", func(*tessim.Plan) {}, ""},
		{"not a test number", func(p *tessim.Plan) { p.Clients[1].PersonID = "19121212-1212" }, "clients[1]: not one of Skatteverket's official test numbers"},
		{"not a number", func(p *tessim.Plan) { p.Clients[1].PersonID = "19400104-2384" }, "clients[1]: personnummer"},
		{"unknown provider", func(p *tessim.Plan) { p.Clients[3].Provider = "nobody" }, "clients[3]: unknown provider"},
		{"unknown slot", func(p *tessim.Plan) { p.Clients[3].Insatser[0].Slots = []tessim.Slot{"brunch"} }, `unknown slot "brunch"`},
		{"no minutes", func(p *tessim.Plan) { p.Clients[3].Insatser[0].Minutes = 0 }, "clients[3].insatser[0]: want a code"},
		{"bad tag", func(p *tessim.Plan) { p.Clients[4].Tags = []string{"zz"} }, "clients[4]: tag uid"},
		{"cohabitant without care", func(p *tessim.Plan) { p.Clients = p.Clients[1:] }, ""},
		{"cohabitant with another provider", func(p *tessim.Plan) { p.Clients[2].Provider = "hemtjanst-soder" }, ""},
		{"cohabitant is the client", func(p *tessim.Plan) { p.Clients[0].Cohabitant = p.Clients[0].PersonID }, "clients[0]: cohabitant is the client"},
		{"cohabitant lives with another", func(p *tessim.Plan) { p.Clients[5].Cohabitant = p.Clients[0].PersonID }, "clients[5]: cohabitant lives with a third client"},
		{"a tag at two clients", func(p *tessim.Plan) {
			p.Clients[4].Tags = []string{strings.ToUpper(strings.ReplaceAll(p.Clients[3].Tags[0], ":", ""))}
		}, "clients[4]: tag uid at another client too"},
		{"staff without id", func(p *tessim.Plan) { p.Providers[1].Staff[0] = tessim.Staff{} }, "providers[1].staff[0]: neither"},
		{"bad hsa id", func(p *tessim.Plan) { p.Providers[1].Staff[0].HSAID = "nope" }, "providers[1].staff[0]: hsa-id"},
		{"no phones", func(p *tessim.Plan) { p.Providers[0].Phones = nil }, "providers[0]: no phones"},
		{"phone twice", func(p *tessim.Plan) { p.Providers[1].Phones[0].DeviceID = "PHONE-0001" }, "providers[1].phones[0]: device id"},
		{"double staffing alone", func(p *tessim.Plan) {
			p.Providers[0].Staff = p.Providers[0].Staff[:1]
		}, "double staffing with fewer than two staff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlan(t)
			tt.change(&p)
			err := p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want it to contain %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "1212") {
				t.Errorf("the error names a person id: %v", err)
			}
		})
	}
}

func TestNewPhones(t *testing.T) {
	phones := tessim.NewPhones(17, 8)
	if phones[0].DeviceID != "PHONE-0017" || phones[7].DeviceID != "PHONE-0024" {
		t.Errorf("device ids %s … %s", phones[0].DeviceID, phones[7].DeviceID)
	}
	right, far := 0, 0
	for _, p := range phones {
		switch {
		case p.Skew == 0:
			right++
		case p.Skew > 30*time.Minute:
			far++
		}
	}
	if right < 5 || far != 1 {
		t.Errorf("%d phones right and %d far off, want most right and one far off", right, far)
	}
}
