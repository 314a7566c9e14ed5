package homecare

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// ExecutedDay is the executed time (utförd tid) of one client with one provider on one day,
// as the hub reports it back to the case system: what counts (completed and partly declined
// visits under an order in force, their minutes per insats and double-staffed) and, apart,
// what does not (declined, cancelled and unfinished visits, care outside any order). Its
// JSON is exactly schemas/canonical/executed_day.schema.json.
//
// A day is sent again, one Version higher, when a correction or a late record changes it;
// MessageID (client, provider, day and version) makes a resend of the same version a
// duplicate the hub and the case system recognise.
type ExecutedDay struct {
	// MessageID is "executed/<client key>/<provider>/<date>/v<version>"; the client key is
	// the store's client id (derived from a keyed hash: it reveals nothing).
	MessageID  string      `json:"message_id"`
	LocalDate  Date        `json:"local_date"`
	Version    int         `json:"version"`
	ProducedAt time.Time   `json:"produced_at"`
	Client     VisitClient `json:"client"`
	ProviderID string      `json:"provider_id"`
	// Order is the order in force for the client with the provider that day; nil when
	// there was none (the visits are then care outside any order: NoOrder).
	Order *ExecutedOrder `json:"order,omitempty"`
	// AcrossMidnight is the rule the day was counted by (knut.yaml visits.across_midnight).
	AcrossMidnight MidnightRule `json:"across_midnight"`
	// Visits and Minutes are what counts. Under Split a visit across midnight is counted
	// on the day it started and its minutes on the days they fell on.
	Visits  int `json:"visits"`
	Minutes int `json:"minutes"`
	// DoubleStaffedMinutes are the minutes of Minutes worked by two staff together.
	DoubleStaffedMinutes int `json:"double_staffed_minutes"`
	// Insatser are the counted visits' insatser performed (not declined), by code.
	Insatser []ExecutedInsats `json:"insatser,omitempty"`
	// Declined, Cancelled and InProgress count the visits of those statuses: not executed
	// time, reported so the case system sees them.
	Declined   int `json:"declined"`
	Cancelled  int `json:"cancelled"`
	InProgress int `json:"in_progress"`
	// NoOrder and NoOrderMinutes are completed visits without an order in force.
	NoOrder        int `json:"no_order"`
	NoOrderMinutes int `json:"no_order_minutes"`
}

// ExecutedOrder names the order an ExecutedDay is reported under.
type ExecutedOrder struct {
	SourceSystem string `json:"source_system"`
	ExternalID   string `json:"external_id"`
	DecisionID   string `json:"decision_id,omitempty"`
}

// ExecutedInsats is one insats code's share of an ExecutedDay.
type ExecutedInsats struct {
	Code string `json:"code"`
	// Visits counts the counted visits that performed it.
	Visits int `json:"visits"`
	// Minutes are the minutes the visits registered for it; 0 where the source does not
	// split a visit's time per insats.
	Minutes int `json:"minutes"`
}

// Digest is a hash of what the day says, leaving out its identity in time (MessageID,
// Version, ProducedAt): two runs that find the same visits give the same digest, so the
// day is sent again only when it changed. The client is left out too (the store keys the
// digest by client): a hash over a personnummer and a few small numbers could be reversed
// by trying them all.
func (d ExecutedDay) Digest() string {
	// The outer fields hide the embedded ones of the same JSON name and are left empty.
	content := struct {
		ExecutedDay
		MessageID  string       `json:"message_id,omitempty"`
		Version    int          `json:"version,omitempty"`
		ProducedAt *time.Time   `json:"produced_at,omitempty"`
		Client     *VisitClient `json:"client,omitempty"`
	}{ExecutedDay: d}
	b, _ := json.Marshal(content) // dates, strings and numbers: it cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Empty reports whether the day has no visits at all: a day sent before whose visits a
// correction moved away, sent again as zero.
func (d ExecutedDay) Empty() bool {
	return d.Visits == 0 && d.Minutes == 0 && d.Declined == 0 && d.Cancelled == 0 && d.InProgress == 0 &&
		d.NoOrder == 0 && d.NoOrderMinutes == 0
}
