package lifecaresim

import (
	"encoding/xml"
	"slices"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// ExecutedPath is where the case system receives executed time (utförd tid).
const ExecutedPath = "/utford-tid"

// UtfordTid is one client's executed day with a provider from the hub
// (schemas/lifecare/executed.xsd), as the case system records it.
type UtfordTid struct {
	XMLName           xml.Name         `xml:"urn:knutpunkt:lifecare:executed:1 UtfordTid"`
	Version           string           `xml:"version,attr"`
	ID                string           `xml:"handelseId"`
	Time              time.Time        `xml:"tidpunkt"`
	Date              homecare.Date    `xml:"datum"`
	Edition           int              `xml:"utgava"`
	Personnummer      string           `xml:"personnummer,omitempty"`
	Samordningsnummer string           `xml:"samordningsnummer,omitempty"`
	Provider          string           `xml:"utforare"`
	Order             string           `xml:"bestallningsId,omitempty"`
	Decision          string           `xml:"beslutsId,omitempty"`
	MidnightRule      string           `xml:"midnattsregel"` // startdag, delad
	Visits            int              `xml:"antalBesok"`
	Minutes           int              `xml:"minuter"`
	DoubleStaffed     int              `xml:"dubbelbemanningMinuter"`
	Insatser          []UtfordInsats   `xml:"insats"`
	Declined          int              `xml:"avbojdaBesok"`
	Cancelled         int              `xml:"installdaBesok"`
	InProgress        int              `xml:"pagaendeBesok"`
	OutsideOrder      *UtanBestallning `xml:"utanBestallning"`
}

// UtfordInsats is one insats code's share of an UtfordTid.
type UtfordInsats struct {
	Code    string `xml:"kod"`
	Visits  int    `xml:"antalBesok"`
	Minutes int    `xml:"minuter"`
}

// UtanBestallning are completed visits with no order in force.
type UtanBestallning struct {
	Visits  int `xml:"antalBesok"`
	Minutes int `xml:"minuter"`
}

// PersonID is the client's personnummer or samordningsnummer. Test code
// only: it is personal data.
func (u UtfordTid) PersonID() string { return u.Personnummer + u.Samordningsnummer }

// Executed is one executed-time message the case system accepted.
type Executed struct {
	// IdempotencyKey is the Idempotency-Key header: the message ID.
	IdempotencyKey string
	// Body is the request body, byte-exact.
	Body []byte
	// UtfordTid is Body decoded; zero when Options.AcceptAny let a body
	// through that is not one.
	UtfordTid UtfordTid
	// ReceivedAt is when it arrived.
	ReceivedAt time.Time
}

// ExecutedSchemaPath returns the repository's schemas/lifecare/executed.xsd.
func ExecutedSchemaPath() string { return repoSchema("executed.xsd") }

// ExecutedURL returns the URL the hub's lifecare sink posts executed time to.
func (cs *CaseSystem) ExecutedURL() string { return cs.URL() + ExecutedPath }

// Executed returns the executed-time messages accepted so far, in arrival
// order; one resent with the same Idempotency-Key is recorded once.
func (cs *CaseSystem) Executed() []Executed {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slices.Clone(cs.executed)
}

// ExecutedDays returns what the case system holds as executed: for each
// client, provider and day the message of the highest utgava (a later one
// replaces the earlier), ordered by day, provider and handelseId.
func (cs *CaseSystem) ExecutedDays() []UtfordTid {
	latest := map[string]UtfordTid{}
	for _, e := range cs.Executed() {
		u := e.UtfordTid
		k := u.PersonID() + "\x00" + u.Provider + "\x00" + u.Date.String()
		if cur, ok := latest[k]; !ok || u.Edition > cur.Edition {
			latest[k] = u
		}
	}
	out := make([]UtfordTid, 0, len(latest))
	for _, u := range latest {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b UtfordTid) int {
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		if c := strings.Compare(a.Provider, b.Provider); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
