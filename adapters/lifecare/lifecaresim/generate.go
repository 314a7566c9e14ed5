package lifecaresim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// catalogue is the demo municipality's insats catalogue (internal/demo):
// code, text, minutes per visit.
var catalogue = []struct {
	code, text string
	minutes    int
}{
	{"DUSCH", "Dusch", 20}, {"FRUKOST", "Frukost", 15}, {"LUNCH", "Lunch", 20}, {"MIDDAG", "Middag", 20},
	{"TILLSYN", "Tillsyn", 10}, {"STAD", "Städning", 45}, {"INKOP", "Inköp", 30},
	{"PROMENAD", "Promenad", 30}, {"MEDICIN", "Läkemedelspåminnelse", 5}, {"KVALL", "Kvällshjälp", 25},
}

// Obviously fictitious names; phone numbers are from the series PTS
// reserves for fiction (070-174 06 05 to 070-174 06 99).
var (
	givenNames  = []string{"Testa", "Prova", "Demo", "Exempla", "Fiktiv", "Påhitta"}
	familyNames = []string{"Testsson", "Provsson", "Demosson", "Exempelsson", "Fiktivsson"}
	relations   = []string{"dotter", "son", "make", "maka", "god man", "granne"}
)

// Orders generates the case system's messages for one municipality,
// deterministically from seed: a Bestallning for each client, decided on
// decidedOn and sent to one of providers; then, for some clients, an
// Andring, a Paus with its Ateruptagande, an open-ended Paus, or an
// Avslut, each after the messages it depends on. Messages are sorted by
// tidpunkt (ties keep generation order), so pushing or dropping them in
// slice order keeps every client's messages in a valid order. Clients
// should be official test numbers (homecare.OfficialTestPersonIDs).
func Orders(seed uint64, clients []homecare.PersonID, providers []string, decidedOn time.Time) []OrderMessage {
	if len(providers) == 0 {
		providers = []string{"omsorg-norr"}
	}
	r := rand.New(rand.NewPCG(seed, 0x6c696665))
	day := homecare.DateOf(decidedOn)
	year := decidedOn.Year()
	var out []OrderMessage
	n := 0
	head := func(at time.Time) Head {
		n++
		return Head{Version: Version, ID: fmt.Sprintf("LC-EV-%d-%06d-%x", year, n, seed&0xffff), Time: at.UTC().Truncate(time.Second)}
	}
	for i, pid := range clients {
		at := decidedOn.Add(time.Duration(i)*time.Minute + time.Duration(r.IntN(60))*time.Second)
		o := Order{
			Head:       head(at),
			DecisionID: fmt.Sprintf("BESL-%d-%04d", year, i+1),
			ID:         fmt.Sprintf("BEST-%d-%04d", year, i+1),
			DecidedOn:  day,
			Provider:   providers[r.IntN(len(providers))],
			Client:     newClient(r, i, pid),
			ValidFrom:  addDays(day, 7),
			Text:       orderText(r),
			Insatser:   insatser(r),
		}
		if r.IntN(3) > 0 {
			to := addDays(day, 7+182)
			o.ValidTo = &to
		}
		out = append(out, &Bestallning{Order: o})

		switch i % 5 {
		case 1: // a change: one more insats, the whole order resent
			c := o
			c.Head = head(at.Add(14 * 24 * time.Hour))
			c.Insatser = append(slices.Clone(o.Insatser), Insats{Code: "TILLSYN", Text: "Tillsyn", Minutes: 10, Period: "dag", Times: 1})
			c.Text = o.Text + " Tillsyn tillkommer efter uppföljning."
			out = append(out, &Andring{Order: c})
		case 2: // a hospital stay, then resumed
			from, to := addDays(day, 21), addDays(day, 30)
			out = append(out,
				&Paus{Head: head(at.Add(21 * 24 * time.Hour)), Order: o.ID, Provider: o.Provider, From: from, Reason: "sjukhus"},
				&Ateruptagande{Head: head(at.Add(30 * 24 * time.Hour)), Order: o.ID, Provider: o.Provider, Date: to})
		case 3: // an end
			reasons := []string{"flyttat", "avliden", "byte_av_utforare", "nytt_beslut", "avbojt", "beslut_upphort", "ovrigt"}
			out = append(out, &Avslut{Head: head(at.Add(60 * 24 * time.Hour)), Order: o.ID, Provider: o.Provider, Date: addDays(day, 60), Reason: reasons[r.IntN(len(reasons))]})
		case 4: // a planned trip with a known end
			from, to := addDays(day, 40), addDays(day, 47)
			out = append(out, &Paus{Head: head(at.Add(35 * 24 * time.Hour)), Order: o.ID, Provider: o.Provider, From: from, To: &to, Reason: "resa", Planned: true})
		}
	}
	slices.SortStableFunc(out, func(a, b OrderMessage) int { return a.EventTime().Compare(b.EventTime()) })
	return out
}

func newClient(r *rand.Rand, i int, pid homecare.PersonID) Client {
	c := Client{
		Protected:  i%7 == 6,
		GivenName:  givenNames[r.IntN(len(givenNames))],
		FamilyName: familyNames[r.IntN(len(familyNames))],
		Address: Address{
			Street:   fmt.Sprintf("Provgatan %d", 1+i),
			Postcode: "123 45",
			City:     "Demostad",
		},
		Phone: fmt.Sprintf("070-174 06 %02d", 5+i%95),
	}
	if pid.Type() == homecare.Samordningsnummer {
		c.Samordningsnummer = pid.Reveal()
	} else {
		c.Personnummer = pid.Reveal()
	}
	if r.IntN(2) == 0 {
		c.Address.ApartmentNo = fmt.Sprintf("1%d0%d", 1+r.IntN(5), 1+r.IntN(4))
	}
	if r.IntN(3) > 0 {
		c.Contacts = []Contact{{
			Name:     "Anhörig " + c.FamilyName,
			Relation: relations[r.IntN(len(relations))],
			Phone:    fmt.Sprintf("070-174 06 %02d", 5+(i+50)%95),
		}}
	}
	return c
}

func insatser(r *rand.Rand) []Insats {
	k := 1 + r.IntN(3)
	var out []Insats
	for _, j := range r.Perm(len(catalogue))[:k] {
		c := catalogue[j]
		in := Insats{Code: c.code, Text: c.text}
		switch r.IntN(3) {
		case 0:
			in.Period, in.Times = "dag", 1+r.IntN(3)
		case 1:
			in.Period, in.Times = "vecka", 1+r.IntN(3)
		default:
			in.Period, in.Times = "manad", 2+r.IntN(3)
		}
		in.Minutes = c.minutes * in.Times
		out = append(out, in)
	}
	return out
}

func orderText(r *rand.Rand) string {
	texts := []string{
		"Kunden vill ha hjälp på förmiddagen.",
		"Ska mötas upp i porten. Nyckelfritt lås finns.",
		"Dottern sköter inköp. Kunden har hörapparat, knacka tydligt.",
		"",
	}
	return texts[r.IntN(len(texts))]
}

func addDays(d homecare.Date, n int) homecare.Date {
	return homecare.DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}
