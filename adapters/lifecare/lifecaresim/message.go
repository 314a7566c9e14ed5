package lifecaresim

import (
	"encoding/xml"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// The XML namespaces and version of the contract (schemas/lifecare/). The
// simulator sends order messages as 1.1, with what a provider plans by;
// receipts stay 1.0.
const (
	OrderNamespace   = "urn:knutpunkt:lifecare:order:1"
	ReceiptNamespace = "urn:knutpunkt:lifecare:receipt:1"
	Version          = "1.1"
)

// OrderMessage is one message from the case system: *Bestallning,
// *Andring, *Paus, *Ateruptagande or *Avslut.
type OrderMessage interface {
	// EventID is the handelseId, the idempotency key.
	EventID() string
	// EventTime is the tidpunkt, when the event happened.
	EventTime() time.Time
	// OrderID is the bestallningsId the message is about.
	OrderID() string
	// Kind is the root element's name, e.g. "Paus".
	Kind() string
}

// Head is the start of every message: the version attribute, handelseId
// (the idempotency key) and tidpunkt (when it happened in the case system).
type Head struct {
	Version string    `xml:"version,attr"`
	ID      string    `xml:"handelseId"`
	Time    time.Time `xml:"tidpunkt"`
}

// Order is the content of Bestallning and Andring: the order as it stands.
type Order struct {
	Head
	DecisionID string         `xml:"beslutsId"`
	ID         string         `xml:"bestallningsId"`
	DecidedOn  homecare.Date  `xml:"beslutsdatum"`
	Provider   string         `xml:"utforare"`
	Client     Client         `xml:"kund"`
	ValidFrom  homecare.Date  `xml:"giltigFrom"`
	ValidTo    *homecare.Date `xml:"giltigTom,omitempty"`
	Text       string         `xml:"bestallningstext"`
	Insatser   []Insats       `xml:"insatser>insats"`
	// Contract 1.1: what the provider plans by; all optional.
	Key         *Key         `xml:"nyckel,omitempty"`
	Risks       string       `xml:"risker,omitempty"`
	Language    string       `xml:"sprak,omitempty"` // ISO 639-1: sv, fi, ar …
	Interpreter bool         `xml:"tolkbehov,omitempty"`
	CaseOfficer *CaseOfficer `xml:"handlaggare,omitempty"`
	Cohabitants []string     `xml:"sammanboende>bestallningsId,omitempty"` // the orders of those the client lives with
}

// Key is how staff get in (1.1): the lock's id at the lock vendor and/or
// where a physical key is kept.
type Key struct {
	LockID string `xml:"lasId,omitempty"`
	KeyBox string `xml:"nyckelgomma,omitempty"`
	Note   string `xml:"anteckning,omitempty"`
}

// CaseOfficer is the handläggare the provider calls about the order (1.1).
type CaseOfficer struct {
	Name  string `xml:"namn"`
	Phone string `xml:"telefon,omitempty"`
	Email string `xml:"epost,omitempty"`
}

// Client is the kund of an order. Exactly one of Personnummer and
// Samordningsnummer is set (NewClient picks by the id's type).
type Client struct {
	Personnummer      string    `xml:"personnummer,omitempty"`
	Samordningsnummer string    `xml:"samordningsnummer,omitempty"`
	Protected         bool      `xml:"skyddadIdentitet"`
	GivenName         string    `xml:"fornamn"`
	FamilyName        string    `xml:"efternamn"`
	Address           Address   `xml:"adress"`
	Phone             string    `xml:"telefon,omitempty"`
	Contacts          []Contact `xml:"kontakter>kontakt,omitempty"`
	// PreviousID is the id the case system knew the client by before (1.1).
	PreviousID *PreviousID `xml:"tidigareId,omitempty"`
}

// PreviousID is a client's earlier identity: exactly one of its fields is set.
type PreviousID struct {
	Personnummer      string `xml:"personnummer,omitempty"`
	Samordningsnummer string `xml:"samordningsnummer,omitempty"`
	Reservnummer      string `xml:"reservnummer,omitempty"` // e.g. 20000101T220
}

// Address is the client's address.
type Address struct {
	Street      string `xml:"gatuadress"`
	Postcode    string `xml:"postnummer"`
	City        string `xml:"postort"`
	ApartmentNo string `xml:"lagenhetsnummer,omitempty"`
}

// Contact is a relative or other contact person.
type Contact struct {
	Name     string `xml:"namn"`
	Relation string `xml:"relation"`
	Phone    string `xml:"telefon"`
}

// Insats is one granted service of an order.
type Insats struct {
	Code      string         `xml:"kod"`
	Text      string         `xml:"text"`
	Minutes   int            `xml:"beviljadTid"`
	Period    string         `xml:"period"` // dag, vecka or manad
	Times     int            `xml:"ggrPerPeriod,omitempty"`
	ValidFrom *homecare.Date `xml:"giltigFrom,omitempty"`
	ValidTo   *homecare.Date `xml:"giltigTom,omitempty"`
	// Contract 1.1: how the provider plans each occasion.
	DoubleStaffing     bool      `xml:"dubbelbemanning,omitempty"`
	MinutesPerOccasion int       `xml:"tidPerTillfalle,omitempty"`
	Schedule           *Schedule `xml:"schema,omitempty"`
}

// Schedule is when an insats's occasions fall (1.1): weekdays man … son
// (none: any day), times of day morgon, formiddag, lunch, eftermiddag,
// kvall, natt (none: any time), and whether every other week.
type Schedule struct {
	Weekdays       []string `xml:"veckodag,omitempty"`
	TimesOfDay     []string `xml:"tidpunkt,omitempty"`
	EveryOtherWeek bool     `xml:"varannanVecka,omitempty"`
}

// Bestallning is a new order.
type Bestallning struct {
	XMLName xml.Name `xml:"urn:knutpunkt:lifecare:order:1 Bestallning"`
	Order
}

// Andring is a changed order, whole, as it stands after the change.
type Andring struct {
	XMLName xml.Name `xml:"urn:knutpunkt:lifecare:order:1 Andring"`
	Order
}

// Paus pauses an order from From until To (nil: not yet known).
type Paus struct {
	XMLName xml.Name `xml:"urn:knutpunkt:lifecare:order:1 Paus"`
	Head
	Order    string         `xml:"bestallningsId"`
	Provider string         `xml:"utforare"`
	From     homecare.Date  `xml:"from"`
	To       *homecare.Date `xml:"tom,omitempty"`
	Reason   string         `xml:"orsak"` // sjukhus, korttidsboende, resa, annat
	Planned  bool           `xml:"planerad"`
}

// Ateruptagande resumes a paused order on Date.
type Ateruptagande struct {
	XMLName xml.Name `xml:"urn:knutpunkt:lifecare:order:1 Ateruptagande"`
	Head
	Order    string        `xml:"bestallningsId"`
	Provider string        `xml:"utforare"`
	Date     homecare.Date `xml:"datum"`
}

// Avslut ends an order; Date is the last day.
type Avslut struct {
	XMLName xml.Name `xml:"urn:knutpunkt:lifecare:order:1 Avslut"`
	Head
	Order    string        `xml:"bestallningsId"`
	Provider string        `xml:"utforare"`
	Date     homecare.Date `xml:"datum"`
	Reason   string        `xml:"orsak"` // avliden, flyttat, nytt_beslut, avbojt, byte_av_utforare, beslut_upphort, ovrigt
}

// Kvittens is a receipt from the hub, as the case system records it.
type Kvittens struct {
	XMLName   xml.Name      `xml:"urn:knutpunkt:lifecare:receipt:1 Kvittens"`
	Version   string        `xml:"version,attr"`
	ID        string        `xml:"handelseId"`
	Time      time.Time     `xml:"tidpunkt"`
	InReplyTo string        `xml:"avserHandelseId,omitempty"`
	Order     string        `xml:"bestallningsId"`
	Type      string        `xml:"typ"` // mottagen, verkstalld, avvisad, avbrott, avslut
	Date      homecare.Date `xml:"datum"`
	Provider  string        `xml:"utforare"`
	Reason    string        `xml:"orsak,omitempty"`
}

// EventID implements OrderMessage.
func (h Head) EventID() string { return h.ID }

// EventTime implements OrderMessage.
func (h Head) EventTime() time.Time { return h.Time }

// OrderID implements OrderMessage.
func (o Order) OrderID() string { return o.ID }

// Kind implements OrderMessage.
func (*Bestallning) Kind() string { return "Bestallning" }

// Kind implements OrderMessage.
func (*Andring) Kind() string { return "Andring" }

// OrderID implements OrderMessage.
func (p *Paus) OrderID() string { return p.Order }

// Kind implements OrderMessage.
func (*Paus) Kind() string { return "Paus" }

// OrderID implements OrderMessage.
func (a *Ateruptagande) OrderID() string { return a.Order }

// Kind implements OrderMessage.
func (*Ateruptagande) Kind() string { return "Ateruptagande" }

// OrderID implements OrderMessage.
func (a *Avslut) OrderID() string { return a.Order }

// Kind implements OrderMessage.
func (*Avslut) Kind() string { return "Avslut" }

// Encode returns msg as an XML document (declaration, UTF-8, indented),
// valid against schemas/lifecare/order.xsd when msg's fields are.
func Encode(msg OrderMessage) ([]byte, error) {
	b, err := xml.MarshalIndent(msg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
