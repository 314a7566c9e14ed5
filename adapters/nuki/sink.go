package nuki

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// GrantChange is a canonical key grant change
// (schemas/canonical/key_grant.schema.json).
type GrantChange struct {
	ChangeID      string     `json:"change_id"`
	Seq           int64      `json:"seq"`
	Op            string     `json:"op"`
	LockRef       string     `json:"lock_ref"`
	Holder        string     `json:"holder"`
	ValidFrom     *time.Time `json:"valid_from,omitempty"`
	ValidUntil    *time.Time `json:"valid_until,omitempty"`
	Weekdays      *int       `json:"weekdays,omitempty"`
	DailyFromMin  *int       `json:"daily_from_min,omitempty"`
	DailyUntilMin *int       `json:"daily_until_min,omitempty"`
	RemoteAllowed bool       `json:"remote_allowed,omitempty"`
	Reason        string     `json:"reason"`
	ProviderID    string     `json:"provider_id,omitempty"`
}

// Reply is the body of the sink's reply to each applied change: what the
// vendor holds for the (lock, holder) now.
type Reply struct {
	// Vendor is "nuki": the hub keeps grants per vendor.
	Vendor   string `json:"vendor"`
	ChangeID string `json:"change_id"`
	Seq      int64  `json:"seq"`
	Op       string `json:"op"`
	LockRef  string `json:"lock_ref"`
	Holder   string `json:"holder"`
	// VendorGrantRef is the SmartlockAuth's id; empty once revoked.
	VendorGrantRef string `json:"vendor_grant_ref"`
	// State is "active" after a grant, "revoked" after a revoke.
	State     string    `json:"state"`
	AppliedAt time.Time `json:"applied_at"`
}

// The reply's states.
const (
	StateActive  = "active"
	StateRevoked = "revoked"
)

// Op values of a GrantChange.
const (
	OpGrant  = "grant"
	OpRevoke = "revoke"
)

// allDays is allowedWeekDays for every day: Mon=64 … Sun=1.
const allDays = 127

// hsaID is the holder's form in the canonical schema.
var hsaID = regexp.MustCompile(`^[A-Z0-9]{1,32}-[A-Za-z0-9]{1,31}$`)

// Sink makes the vendor hold the key grant changes it is sent. Send and
// SendWithReply are safe for concurrent use; changes to one lock are
// applied one at a time, since the vendor answers 423 to a second
// operation on a lock while one runs.
type Sink struct {
	cfg    SinkConfig
	client *Client
	log    *zap.Logger
	now    func() time.Time
	closed atomic.Bool

	mu          sync.Mutex
	users       map[string]int          // account user id by name (HSA-ID)
	usersLoaded bool                    // users holds every account user read at the first miss
	locks       map[int64]chan struct{} // one change at a time per lock (a token of 1)
	applied     map[string]int64        // highest seq applied per lock/holder
	userMu      sync.Mutex              // one account user creation at a time
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Replier = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink returns the sink for a validated cfg, resolving the token; it
// makes no request.
func NewSink(cfg SinkConfig, env adapters.Env) (*Sink, error) {
	env = env.WithDefaults()
	token, err := env.Secrets.Resolve(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return &Sink{
		cfg: cfg, client: NewClient(cfg.BaseURL, token, cfg.Timeout, env.HTTPClient), now: time.Now,
		log:   env.Logger.With(zap.String("base_url", cfg.BaseURL)),
		users: map[string]int{}, locks: map[int64]chan struct{}{}, applied: map[string]int64{},
	}, nil
}

// Send implements adapters.Sink.
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	_, err := s.SendWithReply(ctx, m)
	return err
}

// SendWithReply implements adapters.Replier: it applies the change in m
// and returns the reply (application/json, a Reply; external-id
// "<change_id>:applied", correlation-id m's). A change older (lower seq)
// than one this sink applied for the same lock and holder is skipped with
// no reply.
//
// Errors: a body that is no valid change, and the vendor's 400, 402, 403,
// 404, 405 and 426, are permanent; 401 (token rejected), 423 (lock busy),
// 429, 5xx, a network failure and a created auth that does not appear
// within create_timeout are transient. A 409, or a 404 to a write of an
// auth someone removed meanwhile, re-reads the lock and converges once
// more before it is transient; a 400 to a write does so after forgetting
// the holder's cached account user (removed at the vendor?) before it is
// permanent.
func (s *Sink) SendWithReply(ctx context.Context, m knutpunkt.Message) (*knutpunkt.Message, error) {
	if s.closed.Load() {
		return nil, adapters.ErrClosed
	}
	c, lockID, err := parseChange(m)
	if err != nil {
		return nil, adapters.Permanent(err)
	}
	turn := s.lockTurn(lockID)
	select { // wait for the lock's turn, not past ctx
	case turn <- struct{}{}:
		defer func() { <-turn }()
	case <-ctx.Done():
		return nil, fmt.Errorf("change %s: waiting for another change of lock %s: %w", c.ChangeID, c.LockRef, ctx.Err())
	}
	pair := c.LockRef + "/" + c.Holder
	s.mu.Lock()
	last := s.applied[pair]
	s.mu.Unlock()
	if c.Seq < last {
		s.log.Debug("older key grant change skipped", zap.String("change_id", c.ChangeID), zap.Int64("applied_seq", last))
		return nil, nil
	}
	var ref string
	for attempt := 0; ; attempt++ {
		ref, err = s.converge(ctx, c, lockID)
		if (StatusOf(err) == http.StatusConflict || errors.Is(err, errAuthGone) || errors.Is(err, errUserStale)) && attempt == 0 {
			continue // someone else changed the lock or the users: read them again, once
		}
		break
	}
	if err != nil {
		return nil, s.classify(c, err)
	}
	s.mu.Lock()
	if c.Seq > s.applied[pair] {
		s.applied[pair] = c.Seq
	}
	s.mu.Unlock()
	return s.reply(m, c, ref)
}

func (s *Sink) lockTurn(id int64) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	turn := s.locks[id]
	if turn == nil {
		turn = make(chan struct{}, 1)
		s.locks[id] = turn
	}
	return turn
}

// parseChange decodes and checks m's body; errors name the message and
// the field.
func parseChange(m knutpunkt.Message) (GrantChange, int64, error) {
	var c GrantChange
	dec := json.NewDecoder(bytes.NewReader(m.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, 0, fmt.Errorf("message %s: body is no key grant change: %w", m.ID, err)
	}
	bad := func(field, format string, args ...any) (GrantChange, int64, error) {
		return c, 0, fmt.Errorf("message %s: field %s: %s", m.ID, field, fmt.Sprintf(format, args...))
	}
	switch {
	case !strings.HasPrefix(c.ChangeID, "key/"):
		return bad("change_id", "must be key/<lock_ref>/<holder>/<seq>, got %q", c.ChangeID)
	case c.Seq < 1:
		return bad("seq", "must be at least 1, got %d", c.Seq)
	case c.Op != OpGrant && c.Op != OpRevoke:
		return bad("op", "must be grant or revoke, got %q", c.Op)
	case !hsaID.MatchString(c.Holder):
		return bad("holder", "is no HSA-ID: %q", c.Holder)
	case len(c.Holder) > 32:
		// The auth is named by the holder and Nuki names have at most 32 characters.
		return bad("holder", "%s is longer than the 32 characters of a Nuki auth name", c.Holder)
	case c.Reason == "":
		return bad("reason", "is required")
	case c.Weekdays != nil && (*c.Weekdays < 0 || *c.Weekdays > allDays):
		return bad("weekdays", "must be 0-127 (Mon=64 … Sun=1), got %d", *c.Weekdays)
	case c.DailyFromMin != nil && (*c.DailyFromMin < 0 || *c.DailyFromMin > 1439):
		return bad("daily_from_min", "must be 0-1439, got %d", *c.DailyFromMin)
	case c.DailyUntilMin != nil && (*c.DailyUntilMin < 0 || *c.DailyUntilMin > 1439):
		return bad("daily_until_min", "must be 0-1439, got %d", *c.DailyUntilMin)
	case c.ValidFrom != nil && c.ValidUntil != nil && c.ValidUntil.Before(*c.ValidFrom):
		return bad("valid_until", "is before valid_from")
	}
	id, err := strconv.ParseInt(c.LockRef, 10, 64)
	if err != nil || id <= 0 {
		return bad("lock_ref", "is no Nuki smartlockId (a positive integer): %q", c.LockRef)
	}
	return c, id, nil
}

// want is the auth the change asks for, as SmartlockAuthUpdate fields.
func want(c GrantChange, userID int) AuthUpdate {
	a := AuthUpdate{Name: c.Holder, AccountUserID: userID, Enabled: true, RemoteAllowed: c.RemoteAllowed,
		AllowedWeekDays: allDays}
	if c.ValidFrom != nil {
		t := c.ValidFrom.UTC()
		a.AllowedFromDate = &t
	}
	if c.ValidUntil != nil {
		t := c.ValidUntil.UTC()
		a.AllowedUntilDate = &t
	}
	// 0 or absent means every day in the canonical change; Nuki is told
	// so explicitly (127), since its own reading of 0 is not documented.
	if c.Weekdays != nil && *c.Weekdays != 0 {
		a.AllowedWeekDays = *c.Weekdays
	}
	// All day is 0-0 at Nuki; a window with one end given runs from
	// midnight or to 23:59.
	switch {
	case c.DailyFromMin == nil && c.DailyUntilMin == nil:
	case c.DailyUntilMin == nil:
		a.AllowedFromTime, a.AllowedUntilTime = *c.DailyFromMin, 1439
	case c.DailyFromMin == nil:
		a.AllowedUntilTime = *c.DailyUntilMin
	default:
		a.AllowedFromTime, a.AllowedUntilTime = *c.DailyFromMin, *c.DailyUntilMin
	}
	return a
}

// same reports whether the vendor's auth already is w.
func same(have Auth, w AuthUpdate) bool {
	days := func(d int) int {
		if d == 0 {
			return allDays
		}
		return d
	}
	return have.Enabled == w.Enabled && have.RemoteAllowed == w.RemoteAllowed && have.AccountUserID == w.AccountUserID &&
		sameTime(have.AllowedFromDate, w.AllowedFromDate) && sameTime(have.AllowedUntilDate, w.AllowedUntilDate) &&
		days(have.AllowedWeekDays) == days(w.AllowedWeekDays) &&
		have.AllowedFromTime == w.AllowedFromTime && have.AllowedUntilTime == w.AllowedUntilTime
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// clears reports whether w drops a date have has: SmartlockAuthUpdate
// leaves an absent field as it is, so only a new auth can be open-ended
// again.
func clears(have Auth, w AuthUpdate) bool {
	return (have.AllowedFromDate != nil && w.AllowedFromDate == nil) || (have.AllowedUntilDate != nil && w.AllowedUntilDate == nil)
}

// find returns the auth named name, nil when there is none.
func find(auths []Auth, name string) *Auth {
	for i := range auths {
		if auths[i].Name == name {
			return &auths[i]
		}
	}
	return nil
}

// converge makes lock hold what c asks and returns the auth's id ("" once
// revoked). The vendor carries out every write asynchronously (204 at
// once, the change later), so each write is followed by reading the lock
// until it shows the result: the reply then says what the vendor holds,
// not what it was asked.
func (s *Sink) converge(ctx context.Context, c GrantChange, lock int64) (string, error) {
	auths, err := s.client.Auths(ctx, lock)
	if err != nil {
		return "", err
	}
	have := find(auths, c.Holder)
	if c.Op == OpRevoke {
		if have == nil {
			return "", nil
		}
		if err := s.client.DeleteAuth(ctx, lock, have.ID); err != nil {
			return "", gone(err)
		}
		_, err := s.await(ctx, lock, c.Holder, "deleted", func(a *Auth) bool { return a == nil })
		if errors.Is(err, errAuthGone) {
			return "", nil // removed meanwhile: what a revoke wants
		}
		return "", err
	}
	userID, err := s.accountUser(ctx, c.Holder)
	if err != nil {
		return "", err
	}
	w := want(c, userID)
	isWanted := func(a *Auth) bool { return a != nil && same(*a, w) }
	switch {
	case have != nil && same(*have, w):
		return have.ID, nil
	case have != nil && !clears(*have, w):
		if err := s.client.UpdateAuth(ctx, lock, have.ID, w); err != nil {
			return "", s.stale(c.Holder, gone(err))
		}
		return s.await(ctx, lock, c.Holder, "updated", isWanted)
	case have != nil:
		if err := s.client.DeleteAuth(ctx, lock, have.ID); err != nil && !errors.Is(gone(err), errAuthGone) {
			return "", err
		}
		if _, err := s.await(ctx, lock, c.Holder, "deleted", func(a *Auth) bool { return a == nil }); err != nil {
			return "", err
		}
	}
	err = s.client.CreateAuth(ctx, lock, AuthCreate{
		Name: w.Name, AccountUserID: w.AccountUserID, RemoteAllowed: w.RemoteAllowed, Type: 0,
		AllowedFromDate: w.AllowedFromDate, AllowedUntilDate: w.AllowedUntilDate,
		AllowedWeekDays: w.AllowedWeekDays, AllowedFromTime: w.AllowedFromTime, AllowedUntilTime: w.AllowedUntilTime,
	})
	if err != nil {
		return "", s.stale(c.Holder, err)
	}
	return s.await(ctx, lock, c.Holder, "created", isWanted)
}

// errUserStale is a 400 to a write naming an account user the sink had
// cached: the user may have been removed at the vendor.
var errUserStale = errors.New("the cached account user may be gone")

// stale forgets holder's cached account user after a 400, so that the one
// more try SendWithReply makes looks it up (or creates it) again; a second
// 400 is the vendor's final answer.
func (s *Sink) stale(holder string, err error) error {
	if StatusOf(err) != http.StatusBadRequest {
		return err
	}
	s.mu.Lock()
	delete(s.users, holder)
	s.mu.Unlock()
	return fmt.Errorf("%w: %w", errUserStale, err)
}

// errAuthGone is a write to an auth the vendor no longer has (404):
// someone removed it between the sink's read and its write.
var errAuthGone = errors.New("the auth was removed at the vendor meanwhile")

// gone turns a 404 to a write of an auth into errAuthGone, so that it is
// not taken for a missing lock.
func gone(err error) error {
	if StatusOf(err) == http.StatusNotFound {
		return fmt.Errorf("%w: %w", errAuthGone, err)
	}
	return err
}

// await reads the lock's auths, at most every create_poll, until holder's satisfies
// done (nil: absent), at most create_timeout, and returns its id. Past
// the timeout the change fails transiently: the vendor accepted the write
// (204) and the retry finds it done, or the lock still busy (423).
func (s *Sink) await(ctx context.Context, lock int64, holder, what string, done func(*Auth) bool) (string, error) {
	// The deadline bounds the polling, not a request: a read cut short by
	// it would hide why the change failed.
	deadline := time.Now().Add(s.cfg.CreateTimeout)
	// Most writes are done within moments; the pause doubles from a
	// sixteenth of create_poll up to it, so those cost little wait and a
	// slow one few reads.
	pause := max(s.cfg.CreatePoll/16, time.Millisecond)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
		auths, err := s.client.Auths(ctx, lock)
		if err != nil {
			return "", err
		}
		if a := find(auths, holder); done(a) {
			if a == nil {
				return "", nil
			}
			return a.ID, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the vendor accepted the auth to be %s (204) but did not list it so within create_timeout %v", what, s.cfg.CreateTimeout)
		}
		t.Reset(pause)
		pause = min(2*pause, s.cfg.CreatePoll)
	}
}

// accountUser returns the id of the account user named holder, creating
// it when the vendor has none. The first miss reads every account user
// (users the hub named before this sink started); later misses ask for
// the one email the sink would give the holder, so a new holder costs one
// request, not a read of every user.
func (s *Sink) accountUser(ctx context.Context, holder string) (int, error) {
	s.mu.Lock()
	id, ok := s.users[holder]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	s.userMu.Lock() // two changes for a new holder create one user
	defer s.userMu.Unlock()
	s.mu.Lock()
	id, ok = s.users[holder]
	loaded := s.usersLoaded
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	email := strings.ToLower(holder) + "@" + s.cfg.UserEmailDomain
	var found []AccountUser
	var err error
	if !loaded {
		found, err = s.client.AccountUsers(ctx)
	} else {
		found, err = s.client.AccountUsersByEmail(ctx, email)
	}
	if err != nil {
		return 0, fmt.Errorf("account users: %w", err)
	}
	if id, ok := s.remember(found, holder, !loaded); ok {
		return id, nil
	}
	u, err := s.client.CreateAccountUser(ctx, AccountUserCreate{Name: holder, Email: email})
	if StatusOf(err) == http.StatusConflict { // the email is taken: by our user, made meanwhile elsewhere
		if found, err2 := s.client.AccountUsersByEmail(ctx, email); err2 == nil {
			if id, ok := s.remember(found, holder, false); ok {
				return id, nil
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("account user %s: %w", holder, err)
	}
	s.log.Info("account user created", zap.String("holder", holder), zap.Int("account_user_id", u.AccountUserID))
	s.remember([]AccountUser{u}, holder, false)
	return u.AccountUserID, nil
}

// remember caches users by name and returns holder's id if among them;
// all marks the list as every user the vendor has.
func (s *Sink) remember(users []AccountUser, holder string, all bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if hsaID.MatchString(u.Name) { // only names the hub gives; others are people's names
			s.users[u.Name] = u.AccountUserID
		}
	}
	if all {
		s.usersLoaded = true
	}
	id, ok := s.users[holder]
	return id, ok
}

// classify turns a failed change into the hub's terms: permanent for what
// a retry cannot fix, transient otherwise; the error names the message,
// the change and the vendor's answer.
func (s *Sink) classify(c GrantChange, err error) error {
	wrapped := fmt.Errorf("change %s (%s of lock %s): %w", c.ChangeID, c.Op, c.LockRef, err)
	switch st := StatusOf(err); {
	case errors.Is(err, errAuthGone):
		return wrapped
	case st == 0, st == http.StatusLocked, st == http.StatusTooManyRequests, st == http.StatusConflict,
		st == http.StatusRequestTimeout, st >= 500:
		return wrapped
	case st == http.StatusUnauthorized:
		// A fixed token lets the retries through; no message is lost to it.
		return fmt.Errorf("change %s: token rejected by the vendor (401), check the token secret %s: %w", c.ChangeID, s.cfg.Token, err)
	case st == http.StatusNotFound:
		return adapters.Permanent(fmt.Errorf("change %s: field lock_ref: the vendor has no lock %s: %w", c.ChangeID, c.LockRef, err))
	default: // 400, 402 account not paid, 403, 405, 426 upgrade required, …
		return adapters.Permanent(wrapped)
	}
}

func (s *Sink) reply(m knutpunkt.Message, c GrantChange, ref string) (*knutpunkt.Message, error) {
	state := StateActive
	if c.Op == OpRevoke {
		state = StateRevoked
	}
	body, err := json.Marshal(Reply{Vendor: Vendor, ChangeID: c.ChangeID, Seq: c.Seq, Op: c.Op, LockRef: c.LockRef, Holder: c.Holder,
		VendorGrantRef: ref, State: state, AppliedAt: s.now().UTC().Truncate(time.Second)})
	if err != nil {
		return nil, err
	}
	corr := m.Headers[knutpunkt.HeaderCorrelationID]
	if corr == "" {
		corr = m.ID
	}
	return &knutpunkt.Message{Body: body, Headers: map[string]string{
		knutpunkt.HeaderContentType:   "application/json",
		knutpunkt.HeaderSourceSystem:  Name,
		knutpunkt.HeaderExternalID:    c.ChangeID + ":applied",
		knutpunkt.HeaderCorrelationID: corr,
	}}, nil
}

// Check implements adapters.Checker: the API answers GET /smartlock with
// the token.
func (s *Sink) Check(ctx context.Context) error {
	_, err := s.client.Locks(ctx)
	return err
}

// Close makes later sends fail with ErrClosed. It is idempotent.
func (s *Sink) Close() error {
	s.closed.Store(true)
	s.client.CloseIdle()
	return nil
}
