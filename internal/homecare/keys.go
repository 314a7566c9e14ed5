package homecare

import (
	"errors"
	"fmt"
	"time"
)

// Keyless locks (DOMAIN.md §3, §8a: KeyGrant, LockEvent). The hub decides who may open
// which door and when; a lock vendor's adapter makes its API match. These are the
// vendor-neutral messages between them (schemas/canonical/key_grant.schema.json,
// lock_event.schema.json).

// KeyOp is what a key grant change asks of the vendor.
type KeyOp string

// The key grant operations.
const (
	KeyGrantOp  KeyOp = "grant"  // create the grant, or bring it to this window
	KeyRevokeOp KeyOp = "revoke" // remove it; gone already is fine
)

// KeyWindow is when a grant opens the door: the dates it is valid between, the weekdays
// (Nuki's bitmask, Mon=64 … Sun=1; 0 every day) and a daily window in minutes from the
// lock's midnight (both nil: all day).
type KeyWindow struct {
	ValidFrom     time.Time  `json:"valid_from,omitzero"`
	ValidUntil    *time.Time `json:"valid_until,omitempty"`
	Weekdays      int        `json:"weekdays,omitempty"`
	DailyFromMin  *int       `json:"daily_from_min,omitempty"`
	DailyUntilMin *int       `json:"daily_until_min,omitempty"`
	RemoteAllowed bool       `json:"remote_allowed,omitempty"`
}

// Equal reports whether w and o open the door at the same times: every day is 0 or 127
// (Nuki's all seven bits), all day no daily minutes or 0–0, as the vendor reads them.
func (w KeyWindow) Equal(o KeyWindow) bool {
	w, o = w.normal(), o.normal()
	eqT := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	eqI := func(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return w.ValidFrom.Equal(o.ValidFrom) && eqT(w.ValidUntil, o.ValidUntil) && w.Weekdays == o.Weekdays &&
		eqI(w.DailyFromMin, o.DailyFromMin) && eqI(w.DailyUntilMin, o.DailyUntilMin) && w.RemoteAllowed == o.RemoteAllowed
}

// normal writes every day as 0 and all day as no daily minutes.
func (w KeyWindow) normal() KeyWindow {
	if w.Weekdays == 127 {
		w.Weekdays = 0
	}
	if w.DailyFromMin != nil && w.DailyUntilMin != nil && *w.DailyFromMin == 0 && *w.DailyUntilMin == 0 {
		w.DailyFromMin, w.DailyUntilMin = nil, nil
	}
	return w
}

// Weekday bits as Nuki numbers them (allowedWeekDays): Monday is the highest bit.
var weekdayBits = map[time.Weekday]int{
	time.Monday: 64, time.Tuesday: 32, time.Wednesday: 16, time.Thursday: 8, time.Friday: 4, time.Saturday: 2, time.Sunday: 1,
}

// WeekdayBit returns d's bit in a KeyWindow's Weekdays.
func WeekdayBit(d time.Weekday) int { return weekdayBits[d] }

// Opens reports whether the window lets the door open at t (in loc, the lock's zone).
func (w KeyWindow) Opens(t time.Time, loc *time.Location) bool {
	if t.Before(w.ValidFrom) || (w.ValidUntil != nil && t.After(*w.ValidUntil)) {
		return false
	}
	lt := t.In(loc)
	if w.Weekdays != 0 && w.Weekdays&WeekdayBit(lt.Weekday()) == 0 {
		return false
	}
	if w.DailyFromMin == nil || w.DailyUntilMin == nil {
		return true
	}
	// Both minutes inclusive; a window whose start is after its end spans midnight
	// (a night shift), as Nuki reads allowedFromTime and allowedUntilTime.
	from, until, m := *w.DailyFromMin, *w.DailyUntilMin, lt.Hour()*60+lt.Minute()
	if from <= until {
		return from <= m && m <= until
	}
	return m >= from || m <= until
}

// Validate checks the window's fields.
func (w KeyWindow) Validate() error {
	var errs []error
	if w.ValidFrom.IsZero() {
		errs = append(errs, errors.New("valid_from: is required"))
	}
	if w.ValidUntil != nil && w.ValidUntil.Before(w.ValidFrom) {
		errs = append(errs, errors.New("valid_until: before valid_from"))
	}
	if w.Weekdays < 0 || w.Weekdays > 127 {
		errs = append(errs, errors.New("weekdays: want a bitmask 0-127 (Mon=64 … Sun=1)"))
	}
	if (w.DailyFromMin == nil) != (w.DailyUntilMin == nil) {
		errs = append(errs, errors.New("daily_from_min: and daily_until_min go together"))
	}
	for name, m := range map[string]*int{"daily_from_min": w.DailyFromMin, "daily_until_min": w.DailyUntilMin} {
		if m != nil && (*m < 0 || *m > 1439) {
			errs = append(errs, fmt.Errorf("%s: want minutes from midnight, 0-1439", name))
		}
	}
	return errors.Join(errs...)
}

// KeyGrantChange is one change of one person's access to one lock, numbered per
// (lock, holder) by Seq, which the lock vendor's sink applies in order.
type KeyGrantChange struct {
	ChangeID   string `json:"change_id"`
	Seq        int64  `json:"seq"`
	Op         KeyOp  `json:"op"`
	LockRef    string `json:"lock_ref"`
	Holder     HSAID  `json:"holder"`
	ProviderID string `json:"provider_id,omitempty"`
	Reason     string `json:"reason"`
	KeyWindow
}

// KeyChangeID is the change id of (lock, holder)'s change seq: the same for a resend.
func KeyChangeID(lockRef string, holder HSAID, seq int64) string {
	return fmt.Sprintf("key/%s/%s/%d", lockRef, holder, seq)
}

// KeyGrantResult is what the vendor holds after applying a change: the sink's answer.
type KeyGrantResult struct {
	ChangeID       string    `json:"change_id"`
	Seq            int64     `json:"seq"`
	Op             KeyOp     `json:"op"`
	LockRef        string    `json:"lock_ref"`
	Holder         HSAID     `json:"holder"`
	VendorGrantRef string    `json:"vendor_grant_ref,omitempty"`
	State          string    `json:"state"` // active or revoked
	AppliedAt      time.Time `json:"applied_at"`
}

// Validate checks r.
func (r KeyGrantResult) Validate(opts ValidateOptions) error {
	var errs []error
	if r.Seq < 1 {
		errs = append(errs, errors.New("seq: want 1 or more"))
	}
	if r.LockRef == "" {
		errs = append(errs, errors.New("lock_ref: is required"))
	}
	if _, err := ParseHSAID(string(r.Holder), opts.AllowTestHSAIDs); err != nil {
		errs = append(errs, fmt.Errorf("holder: %w", err))
	}
	if r.State != "active" && r.State != "revoked" {
		errs = append(errs, errors.New("state: want active or revoked"))
	}
	if (r.State == "active") != (r.Op == KeyGrantOp) {
		errs = append(errs, errors.New("state: does not follow op (a grant is active, a revoke revoked)"))
	}
	return errors.Join(errs...)
}

// VendorGrant is a grant as the vendor's list shows it: what drift repair compares with
// what the hub wants. Holder is the grant's name, an HSA-ID when the hub made it.
type VendorGrant struct {
	LockRef        string `json:"lock_ref"`
	VendorGrantRef string `json:"vendor_grant_ref"`
	Holder         string `json:"holder"`
	Enabled        bool   `json:"enabled"`
	KeyWindow
}

// LockEvent is one thing a lock logged.
type LockEvent struct {
	Vendor         string    `json:"vendor"`
	EventRef       string    `json:"event_ref"`
	LockRef        string    `json:"lock_ref"`
	OccurredAt     time.Time `json:"occurred_at"`
	Action         string    `json:"action"`
	VendorAction   int       `json:"vendor_action"`
	Trigger        string    `json:"trigger,omitempty"`
	Result         string    `json:"result"`
	VendorState    int       `json:"vendor_state,omitempty"`
	Holder         string    `json:"holder,omitempty"`
	VendorActorRef string    `json:"vendor_actor_ref,omitempty"`
	VendorGrantRef string    `json:"vendor_grant_ref,omitempty"`
	Source         string    `json:"source,omitempty"`
}

// Opened reports whether e let someone in: an unlock or unlatch that succeeded.
func (e LockEvent) Opened() bool {
	return (e.Action == "unlock" || e.Action == "unlatch") && e.Result == "success"
}

// Validate checks e.
func (e LockEvent) Validate() error {
	var errs []error
	for name, v := range map[string]string{"vendor": e.Vendor, "event_ref": e.EventRef, "lock_ref": e.LockRef, "action": e.Action, "result": e.Result} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: is required", name))
		}
	}
	if e.OccurredAt.IsZero() {
		errs = append(errs, errors.New("occurred_at: is required"))
	}
	return errors.Join(errs...)
}
