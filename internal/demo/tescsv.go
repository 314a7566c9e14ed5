package demo

import (
	"encoding/csv"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VisitCSVColumns are the columns of the TES nightly CSV export
// (schemas/tes/README.md, "XML and CSV"), in the order WriteVisitCSV writes them.
var VisitCSVColumns = []string{
	"besok_id", "version", "personnummer", "tagg", "start", "slut", "hsa_id", "personal_id",
	"hsa_id_2", "personal_id_2", "utforare", "enhet", "metod", "offline", "status", "insatser",
}

// lovProvider is the provider whose staff some rows name by its own staff
// id (LOV-NNNN) instead of the HSA-ID, as providers outside HSA do.
const lovProvider = "omsorg-norr"

// WriteVisitCSV writes n visits as the TES nightly CSV export, the input of
// `knut import --pipeline tes_visits_csv` and of its benchmark: the same
// visits as WriteVisitLines for the same start and seed, with what the JSON
// lines leave out drawn from seed. About one visit in eight is
// double-staffed (a second staff member, its first insats dubbel), about
// one in three of the LOV provider's names its staff by the provider's
// staff id instead of the HSA-ID, about one in ten has one more insats the
// client declined (status DELVIS_AVBOJD), and one in twenty is a
// correction (version 2).
func (m *Municipality) WriteVisitCSV(w io.Writer, n int, start time.Time, seed uint64) error {
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	if err := cw.Write(VisitCSVColumns); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 0x7465732d637376)) // "tes-csv"
	rec := make([]string, len(VisitCSVColumns))
	seq, written := 0, 0
	for day := start; written < n; day = day.AddDate(0, 0, 1) {
		for _, v := range m.Visits(day, seed, &seq) {
			if written == n {
				break
			}
			m.visitRecord(rec, v, r)
			if err := cw.Write(rec); err != nil {
				return err
			}
			written++
		}
	}
	cw.Flush()
	return cw.Error()
}

// visitRecord fills rec, one cell per VisitCSVColumns, with v and the
// variations drawn from r.
func (m *Municipality) visitRecord(rec []string, v TESVisit, r *rand.Rand) {
	version := "1"
	if r.IntN(20) == 0 {
		version = "2"
	}
	offline := "nej"
	if v.Offline {
		offline = "ja"
	}
	hsa, ref := v.StaffHSAID, ""
	byRef := v.Provider == lovProvider && r.IntN(3) == 0
	if byRef {
		hsa, ref = "", staffRef(v.StaffHSAID)
	}
	hsa2, ref2 := "", ""
	double := r.IntN(8) == 0
	if double {
		second := m.secondStaff(v, r)
		if byRef {
			ref2 = staffRef(second)
		} else {
			hsa2 = second
		}
	}
	status := v.Status
	ins := make([]string, 0, len(v.Insatser)+1)
	for i, in := range v.Insatser {
		s := in.Code + ":" + strconv.Itoa(in.Minutes)
		if double && i == 0 {
			s += ":dubbel"
		}
		ins = append(ins, s)
	}
	if r.IntN(10) == 0 {
		ins = append(ins, m.declined(v, r))
		status = "DELVIS_AVBOJD"
	}
	copy(rec, []string{
		v.VisitID, version, v.ClientPnr, v.TagUID, v.Start, v.End, hsa, ref,
		hsa2, ref2, v.Provider, v.Unit, v.Method, offline, status, strings.Join(ins, "|"),
	})
}

// secondStaff picks another of the provider's staff than v's.
func (m *Municipality) secondStaff(v TESVisit, r *rand.Rand) string {
	for _, p := range m.Providers {
		if p.ID != v.Provider {
			continue
		}
		i := r.IntN(len(p.Staff) - 1)
		if string(p.Staff[i]) == v.StaffHSAID {
			i = len(p.Staff) - 1
		}
		return string(p.Staff[i])
	}
	return ""
}

// declinedReasons are what a client declining an insats is recorded with.
var declinedReasons = []string{"SOV", "EJ_ONSKAT", "ANHORIG", ""}

// declined is a declined insats of the catalogue that v does not already
// have, packed as KOD:avbojd[=ORSAK].
func (m *Municipality) declined(v TESVisit, r *rand.Rand) string {
	off := r.IntN(len(m.Insatser))
	code := ""
	for i := range m.Insatser {
		code = m.Insatser[(off+i)%len(m.Insatser)].Code
		if !slices.ContainsFunc(v.Insatser, func(in TESInsats) bool { return in.Code == code }) {
			break
		}
	}
	s := code + ":avbojd"
	if reason := declinedReasons[r.IntN(len(declinedReasons))]; reason != "" {
		s += "=" + reason
	}
	return s
}

// staffRef is the LOV provider's own id for a staff member: LOV and the
// HSA-ID's serial.
func staffRef(hsaID string) string {
	return "LOV-" + hsaID[strings.LastIndexByte(hsaID, '-')+1:]
}
