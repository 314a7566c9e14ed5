package homecare

import (
	"slices"
	"strings"
	"time"
)

// StatusCode says why a reconciliation line is what it is (DOMAIN.md §8a). A line carries
// every code that applies, in the order of statusCodes; OK only when none other does.
// docs/reconciliation.md explains each one to a municipality's controller.
type StatusCode string

// The status codes.
const (
	StatusOK                    StatusCode = "OK"
	StatusNoOrder               StatusCode = "NO_ORDER"                 // visits with no order in force: paid nothing
	StatusOrderNotExecuted      StatusCode = "ORDER_NOT_EXECUTED"       // granted time with no visit
	StatusOverGranted           StatusCode = "OVER_GRANTED"             // the month paid more than granted + max_deviation_pct
	StatusUnderGranted          StatusCode = "UNDER_GRANTED"            // the month paid less than granted − max_deviation_pct
	StatusVisitTooShort         StatusCode = "VISIT_TOO_SHORT"          // shorter than min_visit_minutes: paid nothing
	StatusVisitTooLong          StatusCode = "VISIT_TOO_LONG"           // longer than max_visit_minutes: paid when approved
	StatusUnverifiedStart       StatusCode = "UNVERIFIED_START"         // no tag or lock at the start
	StatusUnverifiedEnd         StatusCode = "UNVERIFIED_END"           // no tag or lock at the end
	StatusManualEntry           StatusCode = "MANUAL_ENTRY"             // a time registered by hand
	StatusLateRecord            StatusCode = "LATE_RECORD"              // received days after the visit
	StatusLockConflict          StatusCode = "LOCK_CONFLICT"            // the door opened by someone not on the visit
	StatusDoubleStaffNotGranted StatusCode = "DOUBLE_STAFF_NOT_GRANTED" // a second person the order does not grant
	StatusDeclined              StatusCode = "DECLINED"                 // the client declined at the door
	StatusClientAbsent          StatusCode = "CLIENT_ABSENT"            // the order paused (hospital, travel)
	StatusOverlappingVisits     StatusCode = "OVERLAPPING_VISITS"       // the same staff on two visits at once
)

var statusCodes = []StatusCode{StatusOK, StatusNoOrder, StatusOrderNotExecuted, StatusOverGranted, StatusUnderGranted,
	StatusVisitTooShort, StatusVisitTooLong, StatusUnverifiedStart, StatusUnverifiedEnd, StatusManualEntry,
	StatusLateRecord, StatusLockConflict, StatusDoubleStaffNotGranted, StatusDeclined, StatusClientAbsent,
	StatusOverlappingVisits}

// StatusCodes returns every status code, in the order lines list them.
func StatusCodes() []StatusCode { return slices.Clone(statusCodes) }

// UnmarshalText accepts only the known codes.
func (c *StatusCode) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "status code", statusCodes...)
	*c = v
	return err
}

// SortStatusCodes orders cs as StatusCodes lists them, drops repeats, and drops OK when
// another code is there; an empty list becomes [OK].
func SortStatusCodes(cs []StatusCode) []StatusCode {
	slices.SortFunc(cs, func(a, b StatusCode) int { return slices.Index(statusCodes, a) - slices.Index(statusCodes, b) })
	cs = slices.Compact(cs)
	if len(cs) > 1 && cs[0] == StatusOK {
		cs = cs[1:]
	}
	if len(cs) == 0 {
		cs = []StatusCode{StatusOK}
	}
	return cs
}

// LineKind tells a day's line from a period's roll-up.
type LineKind string

// The line kinds.
const (
	LineDay    LineKind = "day"    // one client × provider × category × local day
	LinePeriod LineKind = "period" // the same summed over the run's period (a month)
)

// ReconciliationLine is one line of a reconciliation run (DOMAIN.md §8a): what was granted,
// registered, verified and is payable for one client with one provider in one insats
// category, on one local day (Europe/Stockholm) or summed over the period. Times are
// seconds, so that no per-visit rounding biases the month (rule set rounding: none); a
// report rounds each sum once. No personal data: the client is the store's key.
type ReconciliationLine struct {
	Kind       LineKind `json:"kind"`
	ClientKey  string   `json:"client_key"`
	ProviderID string   `json:"provider_id"`
	Category   string   `json:"category"`
	// LocalDate is the day; for a period line, its first day.
	LocalDate Date `json:"local_date"`
	// OrderRef names the order in force ("source/external id"); empty with NO_ORDER.
	OrderRef string `json:"order_ref,omitempty"`
	// Codes are the line's insats codes, sorted.
	Codes []string `json:"codes,omitempty"`

	Granted      int64        `json:"granted_s"`            // granted by the order(s) in force
	Registered   int64        `json:"registered_s"`         // the visits' clock time, raw
	Verified     int64        `json:"verified_s"`           // of Registered, with tag or lock at start and end
	Payable      int64        `json:"payable_s"`            // after the rules
	Schablon     int64        `json:"schablon_s"`           // of Payable, paid per occasion (schablon, fixed)
	Declined     int64        `json:"declined_s"`           // of Payable, the share paid for declined visits
	DoubleStaff  int64        `json:"double_staff_s"`       // the second person's time (paid or not)
	Manual       int64        `json:"manual_s"`             // of Registered, with a time registered by hand
	Deviation    int64        `json:"deviation_s"`          // Payable − Granted
	DeviationPct int64        `json:"deviation_pct"`        // Deviation / Granted, in whole per cent (0 when nothing granted)
	UnitPrice    int64        `json:"unit_price_ore"`       // the category's rate per hour, in öre
	Amount       int64        `json:"amount_ore"`           // Payable × UnitPrice, in öre
	Visits       int          `json:"visits"`               // how many visits the line counts
	VisitRefs    []string     `json:"visit_refs,omitempty"` // "source/external id" of each
	Status       []StatusCode `json:"status"`
	// Explanation is the rule trace, one sentence per visit and rule applied.
	Explanation string `json:"explanation"`
}

// Key is what a line is one of: kind, client, provider, category and day.
func (l *ReconciliationLine) Key() string {
	return strings.Join([]string{string(l.Kind), l.ClientKey, l.ProviderID, l.Category, l.LocalDate.String()}, "|")
}

// Has reports whether the line carries code.
func (l *ReconciliationLine) Has(code StatusCode) bool { return slices.Contains(l.Status, code) }

// ReconciliationRun is one run of the reconciliation over a period of local days.
type ReconciliationRun struct {
	ID          string    `json:"id"`
	From        Date      `json:"from"`
	To          Date      `json:"to"`
	RuleSetName string    `json:"ruleset_name"`
	RuleSetHash string    `json:"ruleset_hash"`
	Trigger     string    `json:"trigger"` // cli, nightly, demo
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// Watermark is the latest time an input was received that the run read.
	Watermark time.Time `json:"watermark,omitzero"`
	// SupersededBy is the later run for a period that holds this one's, once there is one;
	// the run and its lines are kept for audit.
	SupersededBy string `json:"superseded_by,omitempty"`
	Lines        int    `json:"lines"`
	Summary      string `json:"summary,omitempty"`
}

// PaymentBasis is one provider's month as the municipality pays it (månadsrapportering
// of executed hours, the canonical message the case system receives): payable time and
// amounts by insats category under the named rules.
type PaymentBasis struct {
	MessageID   string    `json:"message_id"` // "payment-basis/<provider>/<month>/<run id>"
	Month       string    `json:"month"`      // YYYY-MM
	ProviderID  string    `json:"provider_id"`
	ProducedAt  time.Time `json:"produced_at"`
	RunID       string    `json:"run_id"`
	RuleSetName string    `json:"ruleset_name"`
	RuleSetHash string    `json:"ruleset_hash"`
	Clients     int       `json:"clients"`
	Visits      int       `json:"visits"`
	// Categories are the month's sums, in minutes (rounded once) and öre.
	Categories     []PaymentCategory `json:"categories"`
	GrantedMinutes int               `json:"granted_minutes"`
	PayableMinutes int               `json:"payable_minutes"`
	AmountOre      int64             `json:"amount_ore"`
	// ManualSharePct is the share of the month's registered minutes registered by hand;
	// ManualReview is set when it is over the rule set's threshold.
	ManualSharePct float64 `json:"manual_share_pct"`
	ManualReview   bool    `json:"manual_review"`
}

// PaymentCategory is one insats category's sums in a PaymentBasis.
type PaymentCategory struct {
	Category          string `json:"category"`
	GrantedMinutes    int    `json:"granted_minutes"`
	RegisteredMinutes int    `json:"registered_minutes"`
	PayableMinutes    int    `json:"payable_minutes"`
	SchablonMinutes   int    `json:"schablon_minutes"`
	DeclinedMinutes   int    `json:"declined_minutes"`
	UnitPriceOre      int64  `json:"unit_price_ore"`
	AmountOre         int64  `json:"amount_ore"`
}

// Minutes rounds seconds to whole minutes, half up: the one rounding a sum gets.
func Minutes(seconds int64) int {
	if seconds < 0 {
		return -int((-seconds + 30) / 60)
	}
	return int((seconds + 30) / 60)
}
