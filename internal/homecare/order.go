package homecare

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// OrderEventType is what happened to an order (DOMAIN.md §1.5). The case system sends
// created, changed, paused, resumed and ended; the provider sends acknowledged (mottagen),
// executed (verkställd) and rejected.
type OrderEventType string

// The order event types.
const (
	OrderCreated      OrderEventType = "created"
	OrderChanged      OrderEventType = "changed"
	OrderPaused       OrderEventType = "paused"
	OrderResumed      OrderEventType = "resumed"
	OrderEnded        OrderEventType = "ended"
	OrderAcknowledged OrderEventType = "acknowledged"
	OrderExecuted     OrderEventType = "executed"
	OrderRejected     OrderEventType = "rejected"
)

var orderEventTypes = []OrderEventType{OrderCreated, OrderChanged, OrderPaused, OrderResumed, OrderEnded,
	OrderAcknowledged, OrderExecuted, OrderRejected}

// OrderEventTypes returns every order event type, in lifecycle order.
func OrderEventTypes() []OrderEventType { return append([]OrderEventType(nil), orderEventTypes...) }

// UnmarshalText accepts only the known types.
func (t *OrderEventType) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "order event type", orderEventTypes...)
	*t = v
	return err
}

// OrderStatus is where an order stands. Ended, superseded and rejected are final: an order in
// them takes no event but, for rejected, ended.
type OrderStatus string

// The order statuses.
const (
	OrderStatusSent         OrderStatus = "sent"         // beställd: sent to the provider
	OrderStatusAcknowledged OrderStatus = "acknowledged" // mottagen by the provider
	OrderStatusExecuted     OrderStatus = "executed"     // verkställd: care has started
	OrderStatusPaused       OrderStatus = "paused"       // avbrott: interrupted
	OrderStatusEnded        OrderStatus = "ended"        // avslutad
	// OrderStatusSuperseded is an order ended because another replaces it: a new decision
	// (nytt_beslut) or a change of provider (byte_av_utforare). Nothing is deleted.
	OrderStatusSuperseded OrderStatus = "superseded"
	OrderStatusRejected   OrderStatus = "rejected" // the provider declined the order
)

var orderStatuses = []OrderStatus{OrderStatusSent, OrderStatusAcknowledged, OrderStatusExecuted,
	OrderStatusPaused, OrderStatusEnded, OrderStatusSuperseded, OrderStatusRejected}

// OrderStatuses returns every order status, in lifecycle order.
func OrderStatuses() []OrderStatus { return append([]OrderStatus(nil), orderStatuses...) }

// UnmarshalText accepts only the known statuses.
func (s *OrderStatus) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "order status", orderStatuses...)
	*s = v
	return err
}

// Closed reports whether s is ended or superseded: the order is over and takes no event.
func (s OrderStatus) Closed() bool { return s == OrderStatusEnded || s == OrderStatusSuperseded }

// EndReason is why an order ended (avslutsorsak).
type EndReason string

// The end reasons.
const (
	EndDeceased        EndReason = "avliden"
	EndMoved           EndReason = "flyttat"
	EndNewDecision     EndReason = "nytt_beslut"
	EndDeclined        EndReason = "avbojt" // the client declined the care
	EndProviderChange  EndReason = "byte_av_utforare"
	EndDecisionExpired EndReason = "beslut_upphort"
	EndOther           EndReason = "ovrigt"
)

var endReasons = []EndReason{EndDeceased, EndMoved, EndNewDecision, EndDeclined, EndProviderChange,
	EndDecisionExpired, EndOther}

// UnmarshalText accepts only the known reasons.
func (r *EndReason) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "end reason", endReasons...)
	*r = v
	return err
}

// Supersedes reports whether an order ended for r is replaced by another order (a new
// decision or another provider), which makes its status superseded rather than ended.
func (r EndReason) Supersedes() bool { return r == EndNewDecision || r == EndProviderChange }

// PauseReason is why an order is interrupted (avbrott).
type PauseReason string

// The pause reasons.
const (
	PauseHospital    PauseReason = "sjukhus"
	PauseShortStay   PauseReason = "korttidsboende"
	PauseTravel      PauseReason = "resa"
	PauseOtherReason PauseReason = "annat"
)

var pauseReasons = []PauseReason{PauseHospital, PauseShortStay, PauseTravel, PauseOtherReason}

// UnmarshalText accepts only the known reasons.
func (r *PauseReason) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "pause reason", pauseReasons...)
	*r = v
	return err
}

// Period is what an insats's granted minutes are counted per.
type Period string

// The periods.
const (
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
)

var periods = []Period{PeriodDay, PeriodWeek, PeriodMonth}

// UnmarshalText accepts only the known periods.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "period", periods...)
	*p = v
	return err
}

// OrderContact is a contact person of the client (anhörig, god man).
type OrderContact struct {
	Name     string `json:"name"`
	Relation string `json:"relation,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// OrderClient is the client as an order carries it to the provider (DOMAIN.md §1.6). All of it
// is personal data: the store keeps the person id hashed and encrypted and the rest encrypted,
// and with ProtectedIdentity set, name and address go to the chosen provider only.
type OrderClient struct {
	PersonID          PersonID       `json:"person_id"`
	PersonIDType      PersonIDType   `json:"person_id_type"`
	ProtectedIdentity bool           `json:"protected_identity"` // skyddad identitet
	GivenName         string         `json:"given_name,omitempty"`
	FamilyName        string         `json:"family_name,omitempty"`
	Address           Address        `json:"address,omitzero"`
	Phone             string         `json:"phone,omitempty"`
	Contacts          []OrderContact `json:"contacts,omitempty"`
	// PreviousPersonID is the identity the case system knew the client by
	// before this one: a reserve number or samordningsnummer now replaced by
	// a personnummer. The store links the two, so the client keeps one history.
	PreviousPersonID PersonID `json:"previous_person_id,omitzero"`
}

// OrderInsats is one granted insats of an order: the municipality's insats code and the
// minutes granted per period.
type OrderInsats struct {
	Code           string `json:"code"` // the municipality's InsatsType.Code
	Text           string `json:"text,omitempty"`
	GrantedMinutes int    `json:"granted_minutes"`
	Period         Period `json:"period"`
	TimesPerPeriod int    `json:"times_per_period,omitempty"` // 0: not given
	ValidFrom      Date   `json:"valid_from,omitzero"`
	ValidTo        Date   `json:"valid_to,omitzero"`
	// DoubleStaffing is set when two staff must be present (dubbelbemanning):
	// the provider plans two and the time counts twice.
	DoubleStaffing bool `json:"double_staffing,omitempty"`
	// MinutesPerOccasion is the time planned for each occasion, when the
	// decision says; 0: not given.
	MinutesPerOccasion int `json:"minutes_per_occasion,omitempty"`
	// Schedule is when the occasions fall, when the decision says.
	Schedule *InsatsSchedule `json:"schedule,omitempty"`
}

// Weekday names in canonical order JSON: mon … sun.
var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// Times of day in canonical order JSON, the words a case officer uses for
// when a visit should be: morgon, förmiddag, lunch, eftermiddag, kväll, natt.
var timesOfDay = []string{"morning", "forenoon", "midday", "afternoon", "evening", "night"}

// InsatsSchedule is when an insats's occasions fall: on which weekdays, at
// which times of day, and every week or every other week.
type InsatsSchedule struct {
	Weekdays       []string `json:"weekdays,omitempty"`     // mon … sun; empty: any day
	TimesOfDay     []string `json:"times_of_day,omitempty"` // morning … night; empty: any time
	EveryOtherWeek bool     `json:"every_other_week,omitempty"`
}

// OrderKey is how staff get in: the lock the client's door has (the lock
// vendor's reference) and where a physical key is kept, if any.
type OrderKey struct {
	LockRef string `json:"lock_ref,omitempty"` // e.g. the lock's id at the vendor
	KeyBox  string `json:"key_box,omitempty"`  // nyckelgömma: where and how to open it
	Note    string `json:"note,omitempty"`
}

// CaseOfficer is the handläggare who made the decision: whom the provider
// calls about the order.
type CaseOfficer struct {
	Name  string `json:"name"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// OrderSnapshot is the order an event carries: all of it, as it stands after the event, from
// the case system (created, changed, …); only ExternalID from the provider (acknowledged,
// executed, rejected).
type OrderSnapshot struct {
	ExternalID string        `json:"external_id"`
	DecisionID string        `json:"decision_id,omitempty"`
	DecidedAt  Date          `json:"decided_at,omitzero"` // beslutsdatum: the EVB clock starts here
	ProviderID string        `json:"provider_id,omitempty"`
	Client     *OrderClient  `json:"client,omitempty"`
	ValidFrom  Date          `json:"valid_from,omitzero"`
	ValidTo    Date          `json:"valid_to,omitzero"`
	OrderText  string        `json:"order_text,omitempty"` // beställningstext
	Insatser   []OrderInsats `json:"insatser,omitempty"`
	// What a provider needs to plan (contract 1.1); all optional.
	Key                *OrderKey    `json:"key,omitempty"`
	RiskNotes          string       `json:"risk_notes,omitempty"` // e.g. a dog, oxygen in the home
	Language           string       `json:"language,omitempty"`   // the client's language, ISO 639-1 (sv, fi, ar …)
	InterpreterNeeded  bool         `json:"interpreter_needed,omitempty"`
	CaseOfficer        *CaseOfficer `json:"case_officer,omitempty"`
	CohabitantOrderIDs []string     `json:"cohabitant_order_ids,omitempty"` // the orders of those the client lives with
}

// OrderPause is an interruption (avbrott) of an order as the case system
// sends it: from a date, with its planned last day when known.
type OrderPause struct {
	From    Date        `json:"from"`
	To      Date        `json:"to,omitzero"` // planned last day; zero while open-ended
	Reason  PauseReason `json:"reason"`
	Planned bool        `json:"planned"`
}

// Interruption is one pause in an order's history. Nothing is erased: a
// resume sets ResumedOn, an end while paused sets EndedOn. A planned last
// day (PlannedTo) that passes without a resume does not end it, for care
// has not started again until the case system says so.
type Interruption struct {
	From      Date        `json:"from"`
	PlannedTo Date        `json:"planned_to,omitzero"`
	ResumedOn Date        `json:"resumed_on,omitzero"` // the first day of care again
	EndedOn   Date        `json:"ended_on,omitzero"`   // the order ended during it: its last day
	Reason    PauseReason `json:"reason"`
	Planned   bool        `json:"planned"`
}

// Open reports whether the interruption still runs on day d (both ends
// known as of the date the order was folded to).
func (i Interruption) Open(d Date) bool {
	return !d.Before(i.From) && (i.ResumedOn.IsZero() || d.Before(i.ResumedOn)) &&
		(i.EndedOn.IsZero() || !i.EndedOn.Before(d))
}

// OrderEnd is when and why an order ends.
type OrderEnd struct {
	Date   Date      `json:"date"` // the order's last day
	Reason EndReason `json:"reason"`
}

// OrderEvent is one event in the life of an order in canonical form; its JSON is exactly
// schemas/canonical/order_event.schema.json. EventID is the idempotency key within
// SourceSystem, and (SourceSystem, Order.ExternalID) names the order: events the provider
// sends are mapped onto the case system's source system and order id. Use Validate after
// decoding, and Order.Apply to move an order along.
type OrderEvent struct {
	SourceSystem string         `json:"source_system"`
	EventID      string         `json:"event_id"`
	Type         OrderEventType `json:"type"`
	OccurredAt   time.Time      `json:"occurred_at"`
	Order        OrderSnapshot  `json:"order"`
	Pause        *OrderPause    `json:"pause,omitempty"`        // paused
	End          *OrderEnd      `json:"end,omitempty"`          // ended
	ExecutedDate Date           `json:"executed_date,omitzero"` // executed: verkställighetsdatum
	ResumedDate  Date           `json:"resumed_date,omitzero"`  // resumed: the first day of care again
	Reason       string         `json:"reason,omitempty"`       // rejected
	// By is who sent the event when it is not the case system:
	// "provider:<name>" for a provider's acknowledgement or report. The
	// mapping sets it from the transport that vouched for the sender (the
	// callback's signature, the webhook the answer came back on), never
	// from the body, and Apply refuses it on another provider's order.
	By string `json:"by,omitempty"`
}

// ByPrefix starts OrderEvent.By for an event a provider sent.
const ByPrefix = "provider:"

// ByProvider returns the provider that sent e, if a provider did.
func (e *OrderEvent) ByProvider() (string, bool) {
	return strings.CutPrefix(e.By, ByPrefix)
}

// Validate checks the rules that order_event.schema.json cannot express, and those it can but
// a Go-built event could break (enums, what each type requires), so that an event built in Go
// is held to the same contract as a decoded one:
//   - source_system, event_id, occurred_at and order.external_id are set;
//   - created carries decision_id, decided_at, provider_id, client, valid_from and at least
//     one insats; paused carries pause, ended end, executed executed_date, rejected reason;
//   - order.valid_to is not before order.valid_from, likewise for each insats, and pause.to
//     not before pause.from;
//   - the client's person id is set, of person_id_type, and with o.RequireTestPersonIDs an
//     official test number;
//   - insats codes are set, granted_minutes is 0-44640, times_per_period 0 (absent) or 1-100.
//
// Rules that need the order's state (an end not before the order's valid_from, which
// transitions are allowed) are Order.Apply's. All problems are returned together
// (errors.Join), each as "order_event <event_id>: <field>: <problem>", and never contain the
// person id.
func (e *OrderEvent) Validate(o ValidateOptions) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("order_event %s: %s: %s", e.EventID, field, fmt.Sprintf(format, args...)))
	}
	if e.SourceSystem == "" {
		bad("source_system", "empty")
	}
	if e.EventID == "" {
		bad("event_id", "empty")
	}
	if err := checkEnum(e.Type, "order event type", orderEventTypes...); err != nil {
		bad("type", "%v", err)
	}
	if e.OccurredAt.IsZero() {
		bad("occurred_at", "empty")
	}
	ord := &e.Order
	if ord.ExternalID == "" {
		bad("order.external_id", "empty")
	}
	if p, ok := e.ByProvider(); e.By == ByVisits && e.Type != OrderExecuted {
		bad("by", "%s only infers an execution", ByVisits)
	} else if e.By != "" && e.By != ByVisits && (!ok || p == "") {
		bad("by", "must be %q followed by the provider's id", ByPrefix)
	} else if ok && e.Type == OrderCreated {
		bad("by", "a provider cannot create an order")
	}

	switch e.Type {
	case OrderCreated:
		if ord.DecisionID == "" {
			bad("order.decision_id", "required for created")
		}
		if ord.DecidedAt.IsZero() {
			bad("order.decided_at", "required for created")
		}
		if ord.ProviderID == "" {
			bad("order.provider_id", "required for created")
		}
		if ord.Client == nil {
			bad("order.client", "required for created")
		}
		if ord.ValidFrom.IsZero() {
			bad("order.valid_from", "required for created")
		}
		if ord.Insatser == nil {
			bad("order.insatser", "required for created")
		}
	case OrderPaused:
		if e.Pause == nil {
			bad("pause", "required for paused")
		}
	case OrderEnded:
		if e.End == nil {
			bad("end", "required for ended")
		}
	case OrderExecuted:
		if e.ExecutedDate.IsZero() {
			bad("executed_date", "required for executed")
		}
	case OrderResumed:
		if e.ResumedDate.IsZero() {
			bad("resumed_date", "required for resumed")
		}
	case OrderRejected:
		if e.Reason == "" {
			bad("reason", "required for rejected")
		}
	}

	if c := ord.Client; c != nil {
		switch {
		case c.PersonID.IsZero():
			bad("order.client.person_id", "empty")
		case c.PersonID.Type() != c.PersonIDType:
			bad("order.client.person_id_type", "is %q but person_id is a %s", c.PersonIDType, c.PersonID.Type())
		case o.RequireTestPersonIDs && !IsOfficialTestNumber(c.PersonID):
			bad("order.client.person_id", "not an official test number (refused outside production)")
		}
		switch p := c.PreviousPersonID; {
		case p.IsZero():
		case p == c.PersonID:
			bad("order.client.previous_person_id", "is the client's person_id")
		case o.RequireTestPersonIDs && p.Type() != Reservnummer && !IsOfficialTestNumber(p):
			bad("order.client.previous_person_id", "not an official test number (refused outside production)")
		}
		if pc := c.Address.Postcode; pc != "" && !validPostcode(pc) {
			bad("order.client.address.postcode", "want 5 digits, optionally as NNN NN")
		}
		for i, ct := range c.Contacts {
			if ct.Name == "" {
				bad(fmt.Sprintf("order.client.contacts[%d].name", i), "empty")
			}
		}
	}
	if !ord.ValidTo.IsZero() && ord.ValidTo.Before(ord.ValidFrom) {
		bad("order.valid_to", "before valid_from")
	}
	if ord.Insatser != nil && len(ord.Insatser) == 0 {
		bad("order.insatser", "empty")
	}
	for i, in := range ord.Insatser {
		field := fmt.Sprintf("order.insatser[%d]", i)
		if in.Code == "" {
			bad(field+".code", "empty")
		}
		if in.GrantedMinutes < 0 || in.GrantedMinutes > 44640 {
			bad(field+".granted_minutes", "want 0-44640")
		}
		if err := checkEnum(in.Period, "period", periods...); err != nil {
			bad(field+".period", "%v", err)
		}
		if in.TimesPerPeriod < 0 || in.TimesPerPeriod > 100 {
			bad(field+".times_per_period", "want 1-100")
		}
		if !in.ValidTo.IsZero() && in.ValidTo.Before(in.ValidFrom) {
			bad(field+".valid_to", "before valid_from")
		}
	}

	ord.validatePlanning(bad)

	if p := e.Pause; p != nil {
		if p.From.IsZero() {
			bad("pause.from", "empty")
		}
		if !p.To.IsZero() && p.To.Before(p.From) {
			bad("pause.to", "before pause.from")
		}
		if err := checkEnum(p.Reason, "pause reason", pauseReasons...); err != nil {
			bad("pause.reason", "%v", err)
		}
	}
	if end := e.End; end != nil {
		if end.Date.IsZero() {
			bad("end.date", "empty")
		}
		if err := checkEnum(end.Reason, "end reason", endReasons...); err != nil {
			bad("end.reason", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// validPostcode matches the schema's ^[0-9]{3} ?[0-9]{2}$.
func validPostcode(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits++
		case c == ' ' && i == 3 && len(s) == 6:
		default:
			return false
		}
	}
	return digits == 5
}

// Order is an order (beställning, uppdrag) as it stands on one date after
// the events that took effect by then: a fold of its Timeline. The zero
// Order is an order not seen yet; Apply is the only way to move one along.
// Dates are calendar dates in Europe/Stockholm; times are instants.
type Order struct {
	ID           uuid.UUID     `json:"id,omitzero"` // the store's id; Apply leaves it alone
	SourceSystem string        `json:"source_system"`
	ExternalID   string        `json:"external_id"`
	DecisionID   string        `json:"decision_id"`
	DecidedAt    Date          `json:"decided_at"` // beslutsdatum: the earliest the case system gave
	ProviderID   string        `json:"provider_id"`
	Client       OrderClient   `json:"client"`
	ValidFrom    Date          `json:"valid_from"`
	ValidTo      Date          `json:"valid_to,omitzero"`
	OrderText    string        `json:"order_text,omitempty"`
	Insatser     []OrderInsats `json:"insatser"`
	Planning     Planning      `json:"planning,omitzero"`

	Status         OrderStatus    `json:"status"`
	OrderedAt      time.Time      `json:"ordered_at"`               // when created occurred
	AcknowledgedAt time.Time      `json:"acknowledged_at,omitzero"` // when the provider acknowledged
	ExecutedAt     Date           `json:"executed_at,omitzero"`     // verkställighetsdatum
	ExecutedBy     string         `json:"executed_by,omitempty"`    // who said so: provider:…, or ByVisits
	Pause          *OrderPause    `json:"pause,omitempty"`          // the pause in force, while paused
	Interruptions  []Interruption `json:"interruptions,omitempty"`  // every pause, oldest first
	EndedAt        Date           `json:"ended_at,omitzero"`        // the last day, once ended
	EndReason      EndReason      `json:"end_reason,omitempty"`
	RejectReason   string         `json:"reject_reason,omitempty"` // the provider's, once rejected
	ContentAt      time.Time      `json:"content_at"`              // occurred_at of the created or changed event in force
	LastEventAt    time.Time      `json:"last_event_at"`           // the latest occurred_at applied
	Version        int            `json:"version"`                 // events applied; 1 after created
}

// Planning is what an order carries for the provider's planning beside its
// insatser (contract 1.1): how to get in, risks, language, whom to call,
// and whose orders go with it.
type Planning struct {
	Key                *OrderKey    `json:"key,omitempty"`
	RiskNotes          string       `json:"risk_notes,omitempty"`
	Language           string       `json:"language,omitempty"`
	InterpreterNeeded  bool         `json:"interpreter_needed,omitempty"`
	CaseOfficer        *CaseOfficer `json:"case_officer,omitempty"`
	CohabitantOrderIDs []string     `json:"cohabitant_order_ids,omitempty"`
}

// IsZero reports whether p carries nothing.
func (p Planning) IsZero() bool {
	return p.Key == nil && p.RiskNotes == "" && p.Language == "" && !p.InterpreterNeeded &&
		p.CaseOfficer == nil && len(p.CohabitantOrderIDs) == 0
}

// ByVisits is OrderEvent.By for an execution the hub inferred from the
// visits staff registered (a municipality's setting), not one a provider
// reported.
const ByVisits = "hub:visits"

// IsZero reports whether o is an order not seen yet.
func (o Order) IsZero() bool { return o.Status == "" }

// ErrUnknownOrder is returned by Apply for an event other than created on an order not seen
// yet. It is not necessarily permanent: events for one client apply in order, but the create
// may still be on its way, so the caller may wait a bounded time for it before dead-lettering.
var ErrUnknownOrder = errors.New("unknown order")

// ErrNoPauseYet is returned by Apply for a resumption of an order that is not paused (and
// not closed). Like ErrUnknownOrder it may not be permanent: the pause it ends may be on its
// way, so the caller may wait a bounded time for it.
var ErrNoPauseYet = errors.New("no pause to resume (yet)")

// TransitionError is returned by Apply when an event may not be applied to the order as it
// stands: a transition the lifecycle does not have (acknowledging an executed order, any event
// for an ended one), or an event that contradicts the order (an end before the order's start).
// It is permanent: the same event will never apply.
type TransitionError struct {
	OrderID string         // the order's external id
	From    OrderStatus    // the order's status
	Event   OrderEventType // the event refused
	Reason  string         // what contradicts the order; empty for a transition not allowed
}

func (e *TransitionError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("order %s: %s refused in state %s: %s", e.OrderID, e.Event, e.From, e.Reason)
	}
	return fmt.Sprintf("order %s: %s not allowed in state %s", e.OrderID, e.Event, e.From)
}

// ForeignOrderError is returned by Apply for an event a provider sent
// (OrderEvent.By) about an order of another provider: an acknowledgement,
// a rejection or a report that only the order's own provider may give. It
// is permanent, and the refusal belongs in the audit trail.
type ForeignOrderError struct {
	SourceSystem string         // the order's case system
	OrderID      string         // the order's external id
	Provider     string         // who sent the event
	Owner        string         // the order's provider
	Event        OrderEventType // the event refused
}

func (e *ForeignOrderError) Error() string {
	return fmt.Sprintf("order %s: provider %s may not report %s on an order of another provider",
		e.OrderID, e.Provider, e.Event)
}

// transitions lists, per event type, the statuses it may be applied in. Created applies only
// to an order not seen yet, and ended to every status that is not closed.
var transitions = map[OrderEventType][]OrderStatus{
	OrderChanged: {OrderStatusSent, OrderStatusAcknowledged, OrderStatusExecuted, OrderStatusPaused},
	// A provider acknowledges every message it receives: after the first,
	// an acknowledgement (of a change, a pause, an end) is recorded and
	// leaves the status as it is.
	OrderAcknowledged: {OrderStatusSent, OrderStatusAcknowledged, OrderStatusExecuted, OrderStatusPaused,
		OrderStatusEnded, OrderStatusSuperseded, OrderStatusRejected},
	OrderExecuted: {OrderStatusSent, OrderStatusAcknowledged, OrderStatusExecuted, OrderStatusPaused},
	OrderRejected: {OrderStatusSent, OrderStatusAcknowledged},
	OrderPaused:   {OrderStatusSent, OrderStatusAcknowledged, OrderStatusExecuted, OrderStatusPaused},
	OrderResumed:  {OrderStatusPaused},
	OrderEnded: {OrderStatusSent, OrderStatusAcknowledged, OrderStatusExecuted, OrderStatusPaused,
		OrderStatusRejected},
}

// EffectiveDate is the day ev takes effect (Europe/Stockholm): a pause on
// its first day, a resumption on the first day of care again, an end the
// day after the order's last day, an execution on the verkställighetsdatum;
// everything else the day it occurred.
func (e *OrderEvent) EffectiveDate() Date {
	switch {
	case e.Type == OrderPaused && e.Pause != nil:
		return e.Pause.From
	case e.Type == OrderResumed && !e.ResumedDate.IsZero():
		return e.ResumedDate
	case e.Type == OrderEnded && e.End != nil:
		return e.End.Date.AddDays(1)
	case e.Type == OrderExecuted && !e.ExecutedDate.IsZero():
		return e.ExecutedDate
	}
	return LocalDate(e.OccurredAt)
}

// Apply returns the order after ev, or an error and o unchanged. It is a pure function, the
// step of a Timeline's fold: events reach it in the order they take effect, not the order
// they arrived in, so Timeline, not the caller, decides when ev applies.
//
// The lifecycle (DOMAIN.md §1.5):
//
//	created       order not seen yet          → sent
//	acknowledged  sent                        → acknowledged (acknowledged_at = occurred_at)
//	              any later status            → unchanged (the receipt of a later message)
//	executed      sent, acknowledged, paused  → executed (executed_at = executed_date); a
//	                                            repeat with the same date changes nothing
//	rejected      sent, acknowledged          → rejected
//	changed       sent … paused               → same status; the order replaced by ev's (an
//	                                            absent optional field clears it), unless ev
//	                                            occurred before the change in force (stale:
//	                                            recorded, no effect)
//	paused        sent … executed             → paused; paused again updates the pause in
//	                                            force, which keeps its first day
//	resumed       paused                      → executed, or acknowledged/sent if not yet
//	ended         any status but closed       → ended, or superseded when the reason is
//	                                            nytt_beslut or byte_av_utforare
//
// Errors: Validate's for an invalid event; ErrUnknownOrder (wrapped) for an event other than
// created on the zero Order; ErrNoPauseYet (wrapped) for a resumption of an order not paused; *TransitionError for any other event the order cannot take,
// including a second created, an execution before the decision date or after the order
// ended, a resumption before its pause's first day, an end before the execution or before
// the order's valid_from, a change
// that occurred before the order was created, and a change of provider or decision (end the
// order with byte_av_utforare or nytt_beslut and create a new one instead).
func (o Order) Apply(ev OrderEvent) (Order, error) {
	if err := ev.Validate(ValidateOptions{}); err != nil {
		return o, err
	}
	return o.apply(ev)
}

// apply is Apply for an event validated before: a Timeline's, whose events were checked
// when they were added, folds without validating each again on every date it is asked.
func (o Order) apply(ev OrderEvent) (Order, error) {
	if o.IsZero() {
		if ev.Type != OrderCreated {
			return o, fmt.Errorf("order %s: %s: %w", ev.Order.ExternalID, ev.Type, ErrUnknownOrder)
		}
		return created(ev), nil
	}
	if o.SourceSystem != ev.SourceSystem || o.ExternalID != ev.Order.ExternalID {
		return o, fmt.Errorf("order %s/%s: event %s is for order %s/%s", o.SourceSystem, o.ExternalID,
			ev.EventID, ev.SourceSystem, ev.Order.ExternalID)
	}
	if p, ok := ev.ByProvider(); ok && p != o.ProviderID {
		return o, &ForeignOrderError{SourceSystem: o.SourceSystem, OrderID: o.ExternalID, Provider: p,
			Owner: o.ProviderID, Event: ev.Type}
	}
	refuse := func(reason string, args ...any) (Order, error) {
		return o, &TransitionError{OrderID: o.ExternalID, From: o.Status, Event: ev.Type, Reason: fmt.Sprintf(reason, args...)}
	}
	if ev.Type == OrderResumed && o.Status != OrderStatusPaused && !o.Status.Closed() && o.Status != OrderStatusRejected {
		return o, fmt.Errorf("order %s: %s: %w", o.ExternalID, ev.Type, ErrNoPauseYet)
	}
	if !slices.Contains(transitions[ev.Type], o.Status) {
		return refuse("")
	}

	n := o
	n.Interruptions = slices.Clone(o.Interruptions)
	n.Version++
	if ev.OccurredAt.After(n.LastEventAt) {
		n.LastEventAt = ev.OccurredAt
	}
	switch ev.Type {
	case OrderAcknowledged:
		if o.Status == OrderStatusSent {
			n.Status, n.AcknowledgedAt = OrderStatusAcknowledged, ev.OccurredAt
		}
	case OrderExecuted:
		switch d := ev.ExecutedDate; {
		case d.Before(o.DecidedAt):
			return refuse("executed_date %s before the decision date %s", d, o.DecidedAt)
		case !o.ExecutedAt.IsZero() && o.ExecutedAt != d:
			return refuse("executed on %s already; executed_date %s differs", o.ExecutedAt, d)
		case !o.ExecutedAt.IsZero():
			return n, nil // the same report again
		}
		n.ExecutedAt, n.ExecutedBy = ev.ExecutedDate, ev.By
		if o.Status != OrderStatusPaused {
			n.Status = OrderStatusExecuted
		}
	case OrderRejected:
		n.Status, n.RejectReason = OrderStatusRejected, ev.Reason
	case OrderChanged:
		if ev.OccurredAt.Before(o.OrderedAt) {
			return refuse("occurred at %s, before the order was created at %s",
				ev.OccurredAt.UTC().Format(time.RFC3339), o.OrderedAt.UTC().Format(time.RFC3339))
		}
		if p := ev.Order.ProviderID; p != "" && p != o.ProviderID {
			return refuse("provider_id changes from %s to %s: end the order (byte_av_utforare) and create a new one",
				o.ProviderID, p)
		}
		if d := ev.Order.DecisionID; d != "" && d != o.DecisionID {
			return refuse("decision_id changes from %s to %s: end the order (nytt_beslut) and create a new one",
				o.DecisionID, d)
		}
		if ev.OccurredAt.Before(o.ContentAt) {
			return n, nil // stale: a newer change is in force
		}
		n.replace(ev)
		if !n.ValidTo.IsZero() && n.ValidTo.Before(n.ValidFrom) {
			return refuse("valid_to %s before valid_from %s", n.ValidTo, n.ValidFrom)
		}
	case OrderPaused:
		if ev.Pause.From.Before(o.DecidedAt) {
			return refuse("pause from %s before the decision date %s", ev.Pause.From, o.DecidedAt)
		}
		p := *ev.Pause
		if cur := o.Pause; cur != nil {
			// The interruption goes on: its first day stays, what is
			// known about its end is the latest word.
			p.From = cur.From
			last := &n.Interruptions[len(n.Interruptions)-1]
			last.PlannedTo, last.Reason, last.Planned = p.To, p.Reason, p.Planned
		} else {
			n.Interruptions = append(n.Interruptions, Interruption{From: p.From, PlannedTo: p.To,
				Reason: p.Reason, Planned: p.Planned})
		}
		n.Status, n.Pause = OrderStatusPaused, &p
	case OrderResumed:
		if ev.ResumedDate.Before(o.Pause.From) {
			return refuse("resumed_date %s before the pause's first day %s", ev.ResumedDate, o.Pause.From)
		}
		n.Interruptions[len(n.Interruptions)-1].ResumedOn = ev.ResumedDate
		n.Pause, n.Status = nil, o.unpausedStatus()
	case OrderEnded:
		if !o.ExecutedAt.IsZero() && ev.End.Date.Before(o.ExecutedAt) {
			return refuse("end date %s before the order was executed on %s", ev.End.Date, o.ExecutedAt)
		}
		if ev.End.Date.Before(o.ValidFrom) {
			return refuse("end date %s before valid_from %s", ev.End.Date, o.ValidFrom)
		}
		n.Status, n.EndedAt, n.EndReason = OrderStatusEnded, ev.End.Date, ev.End.Reason
		if ev.End.Reason.Supersedes() {
			n.Status = OrderStatusSuperseded
		}
		if o.Pause != nil {
			n.Interruptions[len(n.Interruptions)-1].EndedOn = ev.End.Date
		}
		n.Pause = nil
	}
	return n, nil
}

// unpausedStatus is the status o goes back to when its pause ends.
func (o Order) unpausedStatus() OrderStatus {
	switch {
	case !o.ExecutedAt.IsZero():
		return OrderStatusExecuted
	case !o.AcknowledgedAt.IsZero():
		return OrderStatusAcknowledged
	}
	return OrderStatusSent
}

// created builds a new order from a valid created event.
func created(ev OrderEvent) Order {
	o := Order{SourceSystem: ev.SourceSystem, Status: OrderStatusSent, OrderedAt: ev.OccurredAt,
		LastEventAt: ev.OccurredAt, Version: 1}
	o.replace(ev)
	return o
}

// replace makes o the order ev carries: an event from the case system carries the whole
// order, so an optional field it leaves out is cleared. The decision date only moves
// earlier, for the IVO clock runs from the first date the decision was given.
func (o *Order) replace(ev OrderEvent) {
	s := ev.Order
	o.ContentAt = ev.OccurredAt
	o.ExternalID = s.ExternalID
	if s.DecisionID != "" {
		o.DecisionID = s.DecisionID
	}
	if d := s.DecidedAt; !d.IsZero() && (o.DecidedAt.IsZero() || d.Before(o.DecidedAt)) {
		o.DecidedAt = d
	}
	if s.ProviderID != "" {
		o.ProviderID = s.ProviderID
	}
	if s.Client != nil {
		o.Client = *s.Client
		o.Client.Contacts = slices.Clone(s.Client.Contacts)
	}
	if !s.ValidFrom.IsZero() {
		o.ValidFrom = s.ValidFrom
	}
	o.ValidTo = s.ValidTo
	o.OrderText = s.OrderText
	if s.Insatser != nil {
		o.Insatser = slices.Clone(s.Insatser)
	}
	o.Planning = Planning{Key: s.Key, RiskNotes: s.RiskNotes, Language: s.Language,
		InterpreterNeeded: s.InterpreterNeeded, CaseOfficer: s.CaseOfficer,
		CohabitantOrderIDs: slices.Clone(s.CohabitantOrderIDs)}
}
