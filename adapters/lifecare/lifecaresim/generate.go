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
// DemoLockBase numbers the keyless locks of the generated orders: client i's door is
// DemoLockBase+1+i (a Nuki smartlockId), for the ones that have such a lock.
const DemoLockBase = 17000

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
//
// Messages are contract 1.1: each order carries what the provider plans
// by (planning): a schedule and the time per occasion for each insats,
// double staffing for some, how staff get in, risks, the client's
// language, the case officer; the first two clients are a couple living
// together (the same provider and address, each order naming the other's
// as sammanboende).
func Orders(seed uint64, clients []homecare.PersonID, providers []string, decidedOn time.Time) []OrderMessage {
	if len(providers) == 0 {
		providers = []string{"omsorg-norr"}
	}
	r := rand.New(rand.NewPCG(seed, 0x6c696665))
	// The 1.1 planning elements draw from a generator of their own, so that
	// a seed gives the same 1.0 content (providers, names, insatser) as
	// before them.
	rp := rand.New(rand.NewPCG(seed, 0x706c616e))
	var first Order // the couple's first order
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
		planning(rp, i, &o)
		switch {
		case i == 0 && len(clients) > 1:
			o.Cohabitants = []string{fmt.Sprintf("BEST-%d-%04d", year, 2)}
			first = o
		case i == 1:
			// The first client's partner: the same home and provider.
			o.Provider = first.Provider
			o.Client.FamilyName = first.Client.FamilyName
			o.Client.Address = first.Client.Address
			o.Cohabitants = []string{first.ID}
		}
		out = append(out, &Bestallning{Order: o})

		switch i % 5 {
		case 1: // a change: one more insats, the whole order resent
			c := o
			c.Head = head(at.Add(14 * 24 * time.Hour))
			c.Insatser = append(slices.Clone(o.Insatser), Insats{Code: "TILLSYN", Text: "Tillsyn", Minutes: 10, Period: "dag", Times: 1,
				MinutesPerOccasion: 10, Schedule: &Schedule{TimesOfDay: []string{"kvall"}}})
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
		case 4: // a planned trip with a known end, resumed the day after; the first client
			// on such a trip is not: its planned end passes without a word from the case
			// officer, an interruption the IVO report must show.
			from, to := addDays(day, 40), addDays(day, 47)
			out = append(out, &Paus{Head: head(at.Add(35 * 24 * time.Hour)), Order: o.ID, Provider: o.Provider, From: from, To: &to, Reason: "resa", Planned: true})
			if i != 4 {
				out = append(out, &Ateruptagande{Head: head(at.Add(48 * 24 * time.Hour)), Order: o.ID, Provider: o.Provider, Date: addDays(day, 48)})
			}
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
	if prev, ok := previousIDs[pid.Reveal()]; ok {
		c.PreviousID = &PreviousID{Samordningsnummer: prev}
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

// previousIDs are clients who had a samordningsnummer before their
// personnummer: both official test numbers, born the same day.
var previousIDs = map[string]string{"193404216958": "193404812384"}

// Words of the 1.1 contract for when an insats's occasions fall.
var weekdays = []string{"man", "tis", "ons", "tor", "fre", "lor", "son"}

// dayOrder is the times of day in the order they come.
var dayOrder = []string{"morgon", "formiddag", "lunch", "eftermiddag", "kvall", "natt"}

// timesOfDay are the times of day an insats fits, by code: one is drawn,
// or, for an insats several times a day, as many as it is given.
var timesOfDay = map[string][]string{
	"FRUKOST": {"morgon"}, "LUNCH": {"lunch"}, "MIDDAG": {"eftermiddag", "kvall"}, "KVALL": {"kvall"},
	"DUSCH": {"formiddag"}, "STAD": {"formiddag"}, "INKOP": {"formiddag", "eftermiddag"},
	"PROMENAD": {"eftermiddag", "formiddag"}, "TILLSYN": {"kvall", "morgon", "lunch", "natt"},
	"MEDICIN": {"morgon", "kvall", "lunch"},
}

// The case officers of the demo municipality: fictitious names, numbers
// from the series PTS reserves for fiction (08-465 004 00 to 08-465 004 99).
var caseOfficers = []CaseOfficer{
	{Name: "Handläggare Exempelsson", Phone: "08-465 004 10", Email: "handlaggare.exempelsson@demostad.invalid"},
	{Name: "Bistånd Provsson", Phone: "08-465 004 11", Email: "bistand.provsson@demostad.invalid"},
	{Name: "Beslut Testsson", Phone: "08-465 004 12"},
}

var (
	keyBoxes = []string{"Nyckelgömma vid ytterdörren; koden finns hos utföraren.",
		"Nyckel hos grannen i lägenheten mittemot.", "Nyckelgömma i förrådet på gården."}
	risks = []string{"Hund i hemmet; stängs in vid besök.", "Syrgas i hemmet: ingen öppen eld.",
		"Kunden röker inomhus; vädra vid besök.", "Brant trappa till entrén, halt vintertid."}
)

// planning fills what contract 1.1 adds to order o of client i: per insats
// the time per occasion, a schedule fitting its code and double staffing
// for some; then how staff get in, risks, language and the case officer.
func planning(r *rand.Rand, i int, o *Order) {
	for j := range o.Insatser {
		in := &o.Insatser[j]
		for _, c := range catalogue {
			if c.code == in.Code {
				in.MinutesPerOccasion = c.minutes
			}
		}
		in.Schedule = schedule(r, *in)
		switch in.Code {
		case "DUSCH":
			in.DoubleStaffing = r.IntN(3) == 0
		case "KVALL":
			in.DoubleStaffing = r.IntN(4) == 0
		}
	}
	switch r.IntN(3) {
	case 0: // a keyless lock
		// The lock's id at its vendor, as the municipality registers it in the
		// case system: a Nuki smartlockId in the demo (internal/demo's locks).
		o.Key = &Key{LockID: fmt.Sprintf("%d", DemoLockBase+1+i)}
		if r.IntN(2) == 0 {
			o.Key.Note = "Porten har kodlås; koden finns hos utföraren."
		}
	case 1: // a physical key
		o.Key = &Key{KeyBox: keyBoxes[r.IntN(len(keyBoxes))]}
	} // else the client lets staff in
	if r.IntN(3) == 0 {
		o.Risks = risks[r.IntN(len(risks))]
	}
	switch r.IntN(10) {
	case 0:
		o.Language, o.Interpreter = "fi", r.IntN(2) == 0
	case 1:
		o.Language, o.Interpreter = "ar", true
	default:
		o.Language = "sv"
	}
	co := caseOfficers[r.IntN(len(caseOfficers))]
	o.CaseOfficer = &co
}

// schedule draws when in's occasions fall: times of day fitting its code;
// weekdays for a weekly insats (on weekdays, spread over the week), one
// weekday every week or every other week for a monthly one; any day for a
// daily one.
func schedule(r *rand.Rand, in Insats) *Schedule {
	s := &Schedule{}
	fits := timesOfDay[in.Code]
	switch {
	case len(fits) == 0:
	case in.Period == "dag" && in.Times > 1 && (in.Code == "TILLSYN" || in.Code == "MEDICIN"):
		s.TimesOfDay = slices.Clone(fits[:min(in.Times, len(fits))])
		slices.SortFunc(s.TimesOfDay, func(a, b string) int {
			return slices.Index(dayOrder, a) - slices.Index(dayOrder, b)
		})
	default:
		s.TimesOfDay = []string{fits[r.IntN(len(fits))]}
	}
	switch in.Period {
	case "vecka":
		switch in.Times {
		case 1:
			s.Weekdays = []string{weekdays[r.IntN(5)]}
		case 2:
			d := r.IntN(2) // man+tor or tis+fre
			s.Weekdays = []string{weekdays[d], weekdays[d+3]}
		default:
			s.Weekdays = []string{"man", "ons", "fre"}
		}
	case "manad":
		switch in.Times {
		case 2:
			s.Weekdays, s.EveryOtherWeek = []string{weekdays[r.IntN(5)]}, true
		case 4:
			s.Weekdays = []string{weekdays[r.IntN(5)]}
		}
	}
	if len(s.TimesOfDay) == 0 && len(s.Weekdays) == 0 {
		return nil
	}
	return s
}
