package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// TESVisit is one visit in the TES-style JSON export the demo's TES system
// sends (mappings/tes/visit_json_to_visit.yaml maps it to the canonical
// visit). Times are local wall-clock times without zone, as the vendor
// exports them.
type TESVisit struct {
	VisitID    string      `json:"visitId"`
	ClientPnr  string      `json:"clientPnr"`
	TagUID     string      `json:"tagUid"`
	Start      string      `json:"start"`
	End        string      `json:"end"`
	StaffHSAID string      `json:"staffHsaId"`
	Provider   string      `json:"provider"`
	Unit       string      `json:"unit"`
	Method     string      `json:"method"`
	Offline    bool        `json:"offline"`
	Status     string      `json:"status"`
	Insatser   []TESInsats `json:"insatser"`
	// Version is the record's version: a supervisor's correction sends it again, higher.
	Version int `json:"version,omitempty"`
}

// TESInsats is one performed insats within a TESVisit.
type TESInsats struct {
	Code    string `json:"kod"`
	Minutes int    `json:"min"`
}

// Visits generates the visits of one day, deterministically from seed, in
// time order. seq numbers the visit ids.
func (m *Municipality) Visits(day time.Time, seed uint64, seq *int) []TESVisit {
	r := rand.New(rand.NewPCG(seed, uint64(day.Unix())))
	var out []TESVisit
	loc := Stockholm()
	base := time.Date(day.Year(), day.Month(), day.Day(), 7, 0, 0, 0, loc)
	for _, c := range m.Clients {
		p := m.Providers[c.Provider]
		for v := range c.VisitsPerDay {
			*seq++
			start := base.Add(time.Duration(v*4)*time.Hour + time.Duration(r.IntN(90))*time.Minute)
			var ins []TESInsats
			total := 0
			slot := bySlot[v%len(bySlot)]
			for k := range 1 + r.IntN(2) {
				code := slot[0] // what the visit is for, then perhaps one more of its time of day
				if k > 0 {
					code = slot[1+r.IntN(len(slot)-1)]
				}
				minutes := max(3, m.minutes(code)+r.IntN(11)-5)
				ins = append(ins, TESInsats{Code: code, Minutes: minutes})
				total += minutes
			}
			method := "NFC"
			if r.IntN(20) == 0 {
				method = "MAN"
			}
			out = append(out, TESVisit{
				VisitID:    fmt.Sprintf("TES-%s-%06d", day.Format("20060102"), *seq),
				ClientPnr:  separated(c.PersonID.Reveal()),
				TagUID:     colonHex(c.TagUID),
				Start:      start.Format("2006-01-02 15:04:05"),
				End:        start.Add(time.Duration(total) * time.Minute).Format("2006-01-02 15:04:05"),
				StaffHSAID: string(p.Staff[r.IntN(len(p.Staff))]),
				Provider:   p.ID,
				Unit:       p.Unit,
				Method:     method,
				Offline:    r.IntN(10) == 0,
				Status:     "UTFORD",
				Insatser:   ins,
			})
		}
	}
	return out
}

// bySlot is what a visit at each time of day is for, the first code its main errand: the
// morning visit (07-08:30) breakfast, the midday one lunch, the afternoon one dinner, the
// evening one the evening round. A shower comes in the morning, cleaning and shopping in
// the daytime, never a breakfast at seven in the evening.
var bySlot = [][]string{
	{"FRUKOST", "DUSCH", "MEDICIN", "TILLSYN"},
	{"LUNCH", "MEDICIN", "PROMENAD", "INKOP", "STAD"},
	{"MIDDAG", "TILLSYN", "INKOP", "STAD"},
	{"KVALL", "MEDICIN", "TILLSYN"},
}

// minutes is the catalogue's usual time for code.
func (m *Municipality) minutes(code string) int {
	for _, i := range m.Insatser {
		if i.Code == code {
			return i.Minutes
		}
	}
	return 15
}

// separated writes a 12-digit person id as the vendor does: YYYYMMDD-NNNC.
func separated(digits string) string { return digits[:8] + "-" + digits[8:] }

// colonHex writes a tag UID as reader apps often do: lower-case bytes with colons.
func colonHex(uid string) string {
	var parts []string
	for i := 0; i+2 <= len(uid); i += 2 {
		parts = append(parts, strings.ToLower(uid[i:i+2]))
	}
	return strings.Join(parts, ":")
}

// WriteVisitLines writes n visits as JSON lines, cycling through days from
// start: the input of `knut import` and of the ingest benchmark.
func (m *Municipality) WriteVisitLines(w io.Writer, n int, start time.Time, seed uint64) error {
	enc := json.NewEncoder(w)
	seq, written := 0, 0
	for day := start; ; day = day.AddDate(0, 0, 1) {
		for _, v := range m.Visits(day, seed, &seq) {
			if written == n {
				return nil
			}
			if err := enc.Encode(v); err != nil {
				return err
			}
			written++
		}
	}
}
