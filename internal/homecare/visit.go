package homecare

import (
	"errors"
	"fmt"
	"slices"
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
	// ReceivedAt is when the source system got the record from the phone, which syncs
	// hours after a visit registered offline; zero when the source does not say. A
	// device time after it means the phone's clock is ahead (device_clock).
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// SharedVisitRef is, for cohabiting clients visited together (sammanboende), the
	// source's id of the visit registered at the same time for the other client: one
	// visit per client (each has their own order), linked, so that reconciliation can
	// split the time between them.
	SharedVisitRef string `json:"shared_visit_ref,omitempty"`
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

// visitFlags are the flags in the order a visit lists them.
var visitFlags = []VisitFlag{FlagTooLong, FlagInsatsOverrun, FlagAmbiguousTime, FlagDeviceClock, FlagLate,
	FlagForeignTag, FlagUnknownTag, FlagStaffOverlap, FlagNoOrder, FlagFutureTimestamps}

// The limits of Visit.Check and ValidateWith.
const (
	// MaxVisitHours is how long a visit may last before it is flagged too_long. Sixteen
	// hours is longer than any real visit, the night-long ones included (nattillsyn,
	// sleeping-over avlösning: 10-14 hours), and shorter than the stop staff forgot to
	// register the next morning: a flag here means "the end is wrong", not "long care".
	// The payment rule of DOMAIN.md §6.4 (max_visit_minutes, 240 by default: longer
	// needs approval) is the municipality's and belongs to reconciliation's ruleset, not
	// to the hub's intake: a four-hour ledsagning is doubtful for payment, not as data.
	MaxVisitHours = 16
	// MaxVisitDays bounds a visit's span: a longer one is refused (ValidateWith), not
	// flagged, since no registration error survives a week unnoticed and the minutes
	// would swamp the month's reconciliation.
	MaxVisitDays = 7
	// MaxVisitMinutes is MaxVisitDays in minutes, duration_minutes' upper bound.
	MaxVisitMinutes = MaxVisitDays * 24 * 60
	// InsatsOverrunTolerance is how far the insatser's minutes may add up beyond the
	// visit's duration before it is flagged insats_overrun: each is rounded to whole
	// minutes, and so is the duration.
	InsatsOverrunTolerance = 2 * time.Minute
	// DeviceClockTolerance is how far the phone's clock (device_start_at, device_end_at)
	// may be from start_at and end_at, or ahead of the time the hub received the visit,
	// before it is flagged device_clock (DOMAIN.md §2.4, Järfälla "Tidsförskjutning").
	DeviceClockTolerance = 15 * time.Minute
	// FutureTolerance is how far after its receipt a visit may start or end before it is
	// flagged future: clocks a few minutes apart are normal.
	FutureTolerance = 5 * time.Minute
	// LateAfter is how long after a visit's end its record may arrive before it is flagged
	// late (and its day reconciled again): a phone offline over a weekend syncs within it.
	LateAfter = 48 * time.Hour
)

// Check returns the flags the visit's own fields show, in visitFlags' order:
//   - too_long: end_at − start_at is more than MaxVisitHours;
//   - insats_overrun: the minutes of the insatser performed (declined ones are not
//     time spent; a double-staffed insats counts once, as two staff working together
//     for 20 minutes is 20 minutes of the visit) add up to more than end_at − start_at
//     plus InsatsOverrunTolerance;
//   - device_clock: device_start_at or device_end_at more than DeviceClockTolerance from
//     start_at or end_at, or ahead of received by more than that;
//   - future: start_at or end_at after received + FutureTolerance;
//   - late: received more than LateAfter after end_at.
//
// received is when the hub received the visit; the zero time skips the last two and the
// device clock's comparison with it (the canonical decoder runs without a clock; the store,
// which has one, checks again). Flags that need more than the visit (ambiguous_time,
// which only the source's local time shows, and the store's: foreign_tag, unknown_tag,
// staff_overlap, no_order) are not Check's. Check neither reads nor sets v.Flags.
func (v *Visit) Check(received time.Time) []VisitFlag {
	var fs []VisitFlag
	span := v.EndAt.Sub(v.StartAt)
	if span > MaxVisitHours*time.Hour {
		fs = append(fs, FlagTooLong)
	}
	var minutes time.Duration
	for _, in := range v.Insatser {
		if in.Minutes != nil && !in.Declined {
			minutes += time.Duration(*in.Minutes) * time.Minute
		}
	}
	if minutes > max(span, 0)+InsatsOverrunTolerance {
		fs = append(fs, FlagInsatsOverrun)
	}
	far := func(a, b time.Time) bool {
		return !a.IsZero() && !b.IsZero() && (a.Sub(b) > DeviceClockTolerance || b.Sub(a) > DeviceClockTolerance)
	}
	ahead := func(a time.Time) bool {
		return !a.IsZero() && (!received.IsZero() && a.Sub(received) > DeviceClockTolerance ||
			!v.ReceivedAt.IsZero() && a.Sub(v.ReceivedAt) > DeviceClockTolerance)
	}
	if far(v.DeviceStartAt, v.StartAt) || far(v.DeviceEndAt, v.EndAt) || ahead(v.DeviceStartAt) || ahead(v.DeviceEndAt) {
		fs = append(fs, FlagDeviceClock)
	}
	if !received.IsZero() {
		if received.Sub(v.EndAt) > LateAfter {
			fs = append(fs, FlagLate)
		}
		if v.StartAt.Sub(received) > FutureTolerance || v.EndAt.Sub(received) > FutureTolerance {
			fs = append(fs, FlagFutureTimestamps)
		}
	}
	sortFlags(fs)
	return fs
}

// RecomputeFlags replaces the flags a visit came with by the hub's, as the canonical
// decoder does for every visit it stores: Check(received), and ambiguous_time if the
// visit came with it and start_at or end_at is an instant whose local time repeats
// (RepeatedLocalTime). Only the mapping that read the source's zone-less local time can
// know that, so it writes the flag; anywhere else the claim cannot be true and is dropped,
// as is every other flag a sender wrote: the hub, not the sender, says what is doubtful.
func (v *Visit) RecomputeFlags(received time.Time) {
	ambiguous := slices.Contains(v.Flags, FlagAmbiguousTime) && (RepeatedLocalTime(v.StartAt) || RepeatedLocalTime(v.EndAt))
	v.Flags = v.Check(received)
	if ambiguous {
		v.AddFlags(FlagAmbiguousTime)
	}
}

// AddFlags adds the flags v does not have yet, keeping visitFlags' order.
func (v *Visit) AddFlags(fs ...VisitFlag) {
	for _, f := range fs {
		if !slices.Contains(v.Flags, f) {
			v.Flags = append(v.Flags, f)
		}
	}
	sortFlags(v.Flags)
}

// sortFlags orders fs as visitFlags lists them, unknown ones last by name.
func sortFlags(fs []VisitFlag) {
	rank := func(f VisitFlag) int {
		if i := slices.Index(visitFlags, f); i >= 0 {
			return i
		}
		return len(visitFlags)
	}
	slices.SortStableFunc(fs, func(a, b VisitFlag) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return strings.Compare(string(a), string(b))
	})
}

// LocalInstants returns the instants at which Europe/Stockholm's clocks show the wall
// time of wall (its date and clock fields; its location is ignored), earliest first:
// none in the hour skipped when summer time begins (02:00-02:59 on the last Sunday of
// March), two, an hour apart, in the hour repeated when it ends (02:00-02:59 on the last
// Sunday of October), and one otherwise. time.Date picks one of the two and moves a
// skipped time forward without a word; this says which case it is.
func LocalInstants(wall time.Time) []time.Time {
	loc := Stockholm()
	y, mo, d := wall.Date()
	h, mi, s := wall.Clock()
	want := time.Date(y, mo, d, h, mi, s, wall.Nanosecond(), time.UTC)
	var out []time.Time
	// Every offset Stockholm has used since 1900 is between +00:00 and +03:00.
	for _, off := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour, 0} {
		t := want.Add(-off)
		l := t.In(loc)
		if time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC).Equal(want) {
			out = append(out, t)
		}
	}
	return out
}

// RepeatedLocalTime reports whether t's wall time in Europe/Stockholm is shown at two
// instants (the hour repeated when summer time ends), so that without an offset it could
// have meant either.
func RepeatedLocalTime(t time.Time) bool {
	return !t.IsZero() && len(LocalInstants(t.In(Stockholm()))) > 1
}

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
//   - end_at is not before start_at, nor more than MaxVisitDays after it (a visit longer
//     than MaxVisitHours is valid and flagged too_long by Check instead), and
//     device_end_at not before device_start_at;
//   - duration_minutes is end_at − start_at rounded to the nearest minute (30 s rounds up);
//   - local_date is start_at's date in Europe/Stockholm: a visit that runs past midnight
//     counts for the day it started, as TES exports and payment do;
//   - client.person_id is set and of client.person_id_type;
//   - every staff member has hsa_id or staff_ref, a valid hsa_id, no HSA-ID or staff_ref
//     twice, and exactly one has role primary;
//   - tag UIDs are canonical, insats codes are set and declined_reason only comes with declined;
//   - version is not negative (0: the source does not number its versions), and flags are
//     known, each once.
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
	case v.EndAt.Sub(v.StartAt) > MaxVisitDays*24*time.Hour:
		bad("end_at", "more than %d days after start_at", MaxVisitDays)
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
	if (v.DurationMinutes < 0 || v.DurationMinutes > MaxVisitMinutes) && v.EndAt.Sub(v.StartAt) <= MaxVisitDays*24*time.Hour {
		bad("duration_minutes", "want 0-%d", MaxVisitMinutes)
	}
	if v.Version < 0 {
		bad("version", "negative")
	}
	for i, f := range v.Flags {
		if err := checkEnum(f, "visit flag", visitFlags...); err != nil {
			bad(fmt.Sprintf("flags[%d]", i), "%v", err)
		} else if slices.Contains(v.Flags[:i], f) {
			bad(fmt.Sprintf("flags[%d]", i), "listed twice")
		}
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
	seenRef := map[string]bool{}
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
		if s.StaffRef != "" {
			if seenRef[s.StaffRef] {
				bad(field+".staff_ref", "listed twice")
			}
			seenRef[s.StaffRef] = true
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
