package lifecaresim

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PaymentBasisPath is where the case system receives the monthly payment
// basis (månadsrapport).
const PaymentBasisPath = "/manadsrapport"

// Manadsrapport is one provider's month of payable time from the hub
// (schemas/lifecare/payment_basis.xsd), as the case system pays it.
type Manadsrapport struct {
	XMLName    xml.Name   `xml:"urn:knutpunkt:lifecare:payment-basis:1 Manadsrapport"`
	Version    string     `xml:"version,attr"`
	ID         string     `xml:"handelseId"`
	Time       time.Time  `xml:"tidpunkt"`
	Month      string     `xml:"manad"` // YYYY-MM
	Provider   string     `xml:"utforare"`
	RunID      string     `xml:"korningsId"`
	RuleSet    Regelverk  `xml:"regelverk"`
	Clients    int        `xml:"antalKunder"`
	Visits     int        `xml:"antalBesok"`
	Categories []Kategori `xml:"kategori"`
	Total      Summa      `xml:"summa"`
	// ManualSharePct is the share of the month's registered minutes
	// registered by hand, per cent; ManualReview is set when it is over
	// the rule set's threshold.
	ManualSharePct float64 `xml:"manuellAndelProcent"`
	ManualReview   bool    `xml:"manuellGranskning"`
}

// Regelverk names the rule set a Manadsrapport was paid under.
type Regelverk struct {
	Name string `xml:"namn"`
	Hash string `xml:"hash"`
}

// Kategori is one insats category's month in a Manadsrapport.
type Kategori struct {
	Name              string `xml:"namn"`
	GrantedMinutes    int    `xml:"beviljadeMinuter"`
	RegisteredMinutes int    `xml:"registreradeMinuter"`
	PayableMinutes    int    `xml:"ersattningsbaraMinuter"`
	SchablonMinutes   int    `xml:"schablonMinuter"`
	DeclinedMinutes   int    `xml:"avbojdaMinuter"`
	UnitPriceOre      int64  `xml:"prisOre"`
	AmountOre         int64  `xml:"beloppOre"`
}

// Summa is a Manadsrapport's month over all categories.
type Summa struct {
	GrantedMinutes int   `xml:"beviljadeMinuter"`
	PayableMinutes int   `xml:"ersattningsbaraMinuter"`
	AmountOre      int64 `xml:"beloppOre"`
}

// PaymentBasis is one payment-basis message the case system accepted.
type PaymentBasis struct {
	// IdempotencyKey is the Idempotency-Key header: the message ID.
	IdempotencyKey string
	// Body is the request body, byte-exact.
	Body []byte
	// Manadsrapport is Body decoded; zero when Options.AcceptAny let a
	// body through that is not one.
	Manadsrapport Manadsrapport
	// ReceivedAt is when it arrived.
	ReceivedAt time.Time
}

// PaymentBasisSchemaPath returns the repository's schemas/lifecare/payment_basis.xsd.
func PaymentBasisSchemaPath() string { return repoSchema("payment_basis.xsd") }

// PaymentBasisURL returns the URL the hub's lifecare sink posts the
// monthly payment basis to.
func (cs *CaseSystem) PaymentBasisURL() string { return cs.URL() + PaymentBasisPath }

// PaymentBases returns the payment-basis messages accepted so far, in
// arrival order; one resent with the same Idempotency-Key or handelseId is
// recorded once.
func (cs *CaseSystem) PaymentBases() []PaymentBasis {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slices.Clone(cs.paymentBases)
}

// PaymentMonths returns what the case system pays from: for each provider
// and month the latest report (by tidpunkt, then arrival; a later run
// replaces an earlier one), ordered by month and provider.
func (cs *CaseSystem) PaymentMonths() []Manadsrapport {
	latest := map[string]Manadsrapport{}
	for _, p := range cs.PaymentBases() {
		m := p.Manadsrapport
		k := m.Provider + "\x00" + m.Month
		if cur, ok := latest[k]; !ok || !m.Time.Before(cur.Time) {
			latest[k] = m
		}
	}
	out := make([]Manadsrapport, 0, len(latest))
	for _, m := range latest {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Manadsrapport) int {
		if c := strings.Compare(a.Month, b.Month); c != 0 {
			return c
		}
		return strings.Compare(a.Provider, b.Provider)
	})
	return out
}

// recordPaymentBasis validates, decodes and records a payment basis; false
// when it answered 400.
func (cs *CaseSystem) recordPaymentBasis(w http.ResponseWriter, key string, body []byte) bool {
	rec := PaymentBasis{IdempotencyKey: key, Body: body, ReceivedAt: time.Now()}
	if cs.paymentBasisSchema != nil {
		if err := cs.paymentBasisSchema.Validate(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
	}
	if err := xml.Unmarshal(body, &rec.Manadsrapport); err != nil && cs.paymentBasisSchema != nil {
		http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
		return false
	}
	// The hub's message id is both the key and, prefixed, the handelseId;
	// either one seen before makes this a resend.
	byKey, byID := PaymentBasisPath+key, PaymentBasisPath+"#"+rec.Manadsrapport.ID
	cs.mu.Lock()
	if !cs.seen[byKey] && (rec.Manadsrapport.ID == "" || !cs.seen[byID]) {
		cs.seen[byKey] = true
		if rec.Manadsrapport.ID != "" {
			cs.seen[byID] = true
		}
		cs.paymentBases = append(cs.paymentBases, rec)
	}
	cs.mu.Unlock()
	return true
}
