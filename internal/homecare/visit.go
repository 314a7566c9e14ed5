package homecare

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// TagTech is the radio technology of a presence tag.
type TagTech string

// The tag technologies.
const (
	TagNFC  TagTech = "nfc"
	TagRFID TagTech = "rfid"
)

// UnmarshalText accepts only the known technologies.
func (t *TagTech) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "tag tech", TagNFC, TagRFID)
	*t = v
	return err
}

// Tag is an NFC/RFID label in a client's home; staff scan it at arrival and departure, which
// makes a visit's times verified rather than manual. A client normally has one active tag
// (two for double doors).
type Tag struct {
	ID           uuid.UUID `json:"id"`
	TenantID     uuid.UUID `json:"tenant_id"`
	UID          string    `json:"uid"` // upper-case hex, see NormalizeTagUID
	Tech         TagTech   `json:"tech"`
	ClientID     uuid.UUID `json:"client_id,omitzero"`
	LocationHint string    `json:"location_hint,omitempty"` // e.g. "inside door frame"
	InstalledAt  time.Time `json:"installed_at,omitzero"`
	RemovedAt    time.Time `json:"removed_at,omitzero"`
	Status       Status    `json:"status"`
}

// NormalizeTagUID turns a tag UID as vendors write it ("04:a2:24:b2", "04-A2-24-B2",
// "04a224b2") into the canonical upper-case hex without separators, 8-20 hex digits (4-10
// bytes, covering NFC's 4-, 7- and 10-byte UIDs), so that scans from different systems match.
func NormalizeTagUID(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':' || c == '-' || c == ' ':
		case '0' <= c && c <= '9', 'A' <= c && c <= 'F':
			b.WriteByte(c)
		case 'a' <= c && c <= 'f':
			b.WriteByte(c - 'a' + 'A')
		default:
			return "", errors.New("tag uid: want hex digits")
		}
	}
	if n := b.Len(); n < 8 || n > 20 || n%2 != 0 {
		return "", errors.New("tag uid: want 4 to 10 bytes of hex")
	}
	return b.String(), nil
}

// RegistrationMethod is how the start or end of a visit was registered; tag and lock count as
// verified presence, manual and outside_home do not (DOMAIN.md §6.4-6.5).
type RegistrationMethod string

// The registration methods.
const (
	MethodTag         RegistrationMethod = "tag"
	MethodLock        RegistrationMethod = "lock"
	MethodManual      RegistrationMethod = "manual"
	MethodOutsideHome RegistrationMethod = "outside_home"
)

var registrationMethods = []RegistrationMethod{MethodTag, MethodLock, MethodManual, MethodOutsideHome}

// UnmarshalText accepts only the known methods.
func (m *RegistrationMethod) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "registration method", registrationMethods...)
	*m = v
	return err
}

// Verified reports whether the method proves presence in the home (tag or lock).
func (m RegistrationMethod) Verified() bool { return m == MethodTag || m == MethodLock }

// VisitStatus is the outcome of a visit.
type VisitStatus string

// The visit statuses.
const (
	VisitCompleted         VisitStatus = "completed"
	VisitDeclined          VisitStatus = "declined" // the client declined the whole visit at the door
	VisitPartiallyDeclined VisitStatus = "partially_declined"
	VisitCancelled         VisitStatus = "cancelled"
	VisitInProgress        VisitStatus = "in_progress"
)

var visitStatuses = []VisitStatus{VisitCompleted, VisitDeclined, VisitPartiallyDeclined, VisitCancelled, VisitInProgress}

// UnmarshalText accepts only the known statuses.
func (s *VisitStatus) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "visit status", visitStatuses...)
	*s = v
	return err
}

// StaffRole tells the first from the second person on a double-staffed visit
// (dubbelbemanning), which is paid only when granted.
type StaffRole string

// The staff roles.
const (
	RolePrimary StaffRole = "primary"
	RoleSecond  StaffRole = "second"
)

// UnmarshalText accepts only the known roles.
func (r *StaffRole) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "staff role", RolePrimary, RoleSecond)
	*r = v
	return err
}

// VisitClient identifies the visited client by person id, as TES-like systems do; the store
// resolves it to a Client.
type VisitClient struct {
	PersonID     PersonID     `json:"person_id"`
	PersonIDType PersonIDType `json:"person_id_type"`
}

// VisitStaff is one staff member on a visit, identified by HSA-ID or, for providers outside
// HSA, by the source system's staff reference.
type VisitStaff struct {
	HSAID    HSAID     `json:"hsa_id,omitempty"`
	StaffRef string    `json:"staff_ref,omitempty"`
	Role     StaffRole `json:"role"`
}

// VisitInsats is one insats performed (or declined) during a visit.
type VisitInsats struct {
	Code           string `json:"code"`              // the municipality's InsatsType.Code
	Minutes        *int   `json:"minutes,omitempty"` // set when the source splits time per insats; 0 is a value
	Declined       bool   `json:"declined"`
	DeclinedReason string `json:"declined_reason,omitempty"`
	DoubleStaffed  bool   `json:"double_staffed"`
}

// Visit is one executed home-care visit in canonical form; its JSON is exactly
// schemas/canonical/visit.schema.json. Times are instants (UTC in canonical JSON). Use
// Validate after decoding for the rules JSON Schema cannot express.
type Visit struct {
	SourceSystem    string             `json:"source_system"`
	ExternalID      string             `json:"external_id"`
	Client          VisitClient        `json:"client"`
	ProviderID      string             `json:"provider_id,omitempty"`
	UnitID          string             `json:"unit_id,omitempty"`
	PlannedVisitRef string             `json:"planned_visit_ref,omitempty"`
	StartAt         time.Time          `json:"start_at"`
	EndAt           time.Time          `json:"end_at"`
	DeviceStartAt   time.Time          `json:"device_start_at,omitzero"` // the phone's clock, which may be wrong
	DeviceEndAt     time.Time          `json:"device_end_at,omitzero"`
	LocalDate       Date               `json:"local_date"`
	DurationMinutes int                `json:"duration_minutes"`
	RecordedOffline bool               `json:"recorded_offline"`
	StartMethod     RegistrationMethod `json:"start_method"`
	EndMethod       RegistrationMethod `json:"end_method"`
	StartTagUID     string             `json:"start_tag_uid,omitempty"`
	EndTagUID       string             `json:"end_tag_uid,omitempty"`
	Status          VisitStatus        `json:"status"`
	OutsideHome     bool               `json:"outside_home"`
	IsExtra         bool               `json:"is_extra"` // performed outside the order
	Staff           []VisitStaff       `json:"staff"`
	Insatser        []VisitInsats      `json:"insatser,omitempty"`
	// Version is the source's version of the record (a supervisor's correction is a new
	// version); 0 when the source does not number them. The store is idempotent on
	// (source_system, external_id, version) and keeps every change as a correction.
	Version int `json:"version,omitempty"`
	// Flags say why the visit is doubtful. The hub sets them (Visit.Check, the store),
	// never the sender: a flagged visit is stored, counted apart and reviewed, not dropped.
	Flags []VisitFlag `json:"flags,omitempty"`
}

// VisitFlag names one reason a visit is doubtful.
type VisitFlag string

// The visit flags.
const (
	FlagTooLong          VisitFlag = "too_long"       // longer than MaxVisitHours
	FlagInsatsOverrun    VisitFlag = "insats_overrun" // its insatser's minutes add up to more than the visit
	FlagAmbiguousTime    VisitFlag = "ambiguous_time" // a local time in the repeated hour of the autumn DST night, without offset
	FlagDeviceClock      VisitFlag = "device_clock"   // the phone's clock far from the received time
	FlagLate             VisitFlag = "late"           // received days after the visit
	FlagForeignTag       VisitFlag = "foreign_tag"    // the tag belongs to another client
	FlagUnknownTag       VisitFlag = "unknown_tag"    // a tag the hub has not registered
	FlagStaffOverlap     VisitFlag = "staff_overlap"  // the same staff on another visit at the same time
	FlagNoOrder          VisitFlag = "no_order"       // no order in force for the client and provider that day
	FlagFutureTimestamps VisitFlag = "future"         // times after it was received
)

// ValidateOptions selects environment-dependent visit rules.
type ValidateOptions struct {
	// AllowTestHSAIDs accepts test-environment HSA-IDs such as "TSTNMT2321000156-1024"
	// (see ParseHSAID). Set it outside production.
	AllowTestHSAIDs bool
	// RequireTestPersonIDs refuses client person ids that are not official test numbers, so a
	// non-production hub never stores a real person's number (DOMAIN.md §5.2).
	RequireTestPersonIDs bool
}

// Validate checks v with production rules; see ValidateWith.
func (v *Visit) Validate() error { return v.ValidateWith(ValidateOptions{}) }

// ValidateWith checks the rules that visit.schema.json cannot express, and the enums, so that
// a Visit built in Go is held to the same contract as a decoded one:
//   - end_at is not before start_at, and device_end_at not before device_start_at;
//   - duration_minutes is end_at − start_at rounded to the nearest minute (30 s rounds up);
//   - local_date is start_at's date in Europe/Stockholm: a visit that runs past midnight
//     counts for the day it started, as TES exports and payment do;
//   - client.person_id is set and of client.person_id_type;
//   - every staff member has hsa_id or staff_ref, a valid hsa_id, no HSA-ID twice, and
//     exactly one has role primary;
//   - tag UIDs are canonical, insats codes are set and declined_reason only comes with declined.
//
// All problems are returned together (errors.Join), each as "visit <external_id>: <field>:
// <problem>", and never contain the person id.
func (v *Visit) ValidateWith(o ValidateOptions) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("visit %s: %s: %s", v.ExternalID, field, fmt.Sprintf(format, args...)))
	}
	if v.SourceSystem == "" {
		bad("source_system", "empty")
	}
	if v.ExternalID == "" {
		bad("external_id", "empty")
	}

	switch {
	case v.Client.PersonID.IsZero():
		bad("client.person_id", "empty")
	case v.Client.PersonID.Type() != v.Client.PersonIDType:
		bad("client.person_id_type", "is %q but person_id is a %s", v.Client.PersonIDType, v.Client.PersonID.Type())
	case o.RequireTestPersonIDs && !IsOfficialTestNumber(v.Client.PersonID):
		bad("client.person_id", "not an official test number (refused outside production)")
	}

	switch {
	case v.StartAt.IsZero():
		bad("start_at", "empty")
	case v.EndAt.IsZero():
		bad("end_at", "empty")
	case v.EndAt.Before(v.StartAt):
		bad("end_at", "before start_at")
	default:
		if want := int(v.EndAt.Sub(v.StartAt).Round(time.Minute) / time.Minute); v.DurationMinutes != want {
			bad("duration_minutes", "is %d, want %d (end_at − start_at)", v.DurationMinutes, want)
		}
	}
	if !v.StartAt.IsZero() {
		if want := LocalDate(v.StartAt); v.LocalDate != want {
			bad("local_date", "is %s, want %s (start_at in Europe/Stockholm)", v.LocalDate, want)
		}
	}
	if !v.DeviceStartAt.IsZero() && !v.DeviceEndAt.IsZero() && v.DeviceEndAt.Before(v.DeviceStartAt) {
		bad("device_end_at", "before device_start_at")
	}
	if v.DurationMinutes < 0 || v.DurationMinutes > 1440 {
		bad("duration_minutes", "want 0-1440")
	}

	if err := checkEnum(v.StartMethod, "registration method", registrationMethods...); err != nil {
		bad("start_method", "%v", err)
	}
	if err := checkEnum(v.EndMethod, "registration method", registrationMethods...); err != nil {
		bad("end_method", "%v", err)
	}
	if err := checkEnum(v.Status, "visit status", visitStatuses...); err != nil {
		bad("status", "%v", err)
	}
	for _, f := range [...]struct{ field, uid string }{{"start_tag_uid", v.StartTagUID}, {"end_tag_uid", v.EndTagUID}} {
		field, uid := f.field, f.uid
		if uid == "" {
			continue
		}
		if n, err := NormalizeTagUID(uid); err != nil {
			bad(field, "%v", err)
		} else if n != uid {
			bad(field, "not canonical (want upper-case hex without separators)")
		}
	}

	if len(v.Staff) == 0 {
		bad("staff", "empty")
	}
	primaries := 0
	seen := map[HSAID]bool{}
	for i, s := range v.Staff {
		field := fmt.Sprintf("staff[%d]", i)
		if err := checkEnum(s.Role, "staff role", RolePrimary, RoleSecond); err != nil {
			bad(field+".role", "%v", err)
		}
		if s.Role == RolePrimary {
			primaries++
		}
		if s.HSAID == "" && s.StaffRef == "" {
			bad(field, "want hsa_id or staff_ref")
		}
		if s.HSAID != "" {
			if _, err := ParseHSAID(string(s.HSAID), o.AllowTestHSAIDs); err != nil {
				bad(field+".hsa_id", "%v", err)
			} else if seen[s.HSAID] {
				bad(field+".hsa_id", "listed twice")
			}
			seen[s.HSAID] = true
		}
	}
	if len(v.Staff) > 0 && primaries != 1 {
		bad("staff", "want exactly one primary, have %d", primaries)
	}

	for i, in := range v.Insatser {
		field := fmt.Sprintf("insatser[%d]", i)
		if in.Code == "" {
			bad(field+".code", "empty")
		}
		if in.Minutes != nil && (*in.Minutes < 0 || *in.Minutes > 1440) {
			bad(field+".minutes", "want 0-1440")
		}
		if in.DeclinedReason != "" && !in.Declined {
			bad(field+".declined_reason", "set but declined is false")
		}
	}
	return errors.Join(errs...)
}
