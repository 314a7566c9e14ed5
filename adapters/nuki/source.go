package nuki

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot"
)

// cursorKey is the key of the events cursor in env.Cursors.
const cursorKey = "log"

// Source reads the locks' events or grants; see the package doc.
type Source struct {
	cfg     SourceConfig
	client  *Client
	log     *zap.Logger
	cursors adapters.CursorStore
	now     func() time.Time
	closed  chan struct{}
	once    sync.Once
	poller  *snapshot.Poller // read: grants

	mu     sync.Mutex
	cursor *Cursor        // read: events; nil until loaded
	users  map[int]string // account user names by id
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns the source for a validated cfg, resolving the token;
// it makes no request.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	token, err := env.Secrets.Resolve(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	s := &Source{
		cfg: cfg, client: NewClient(cfg.BaseURL, token, cfg.Timeout, env.HTTPClient), cursors: env.Cursors,
		log: env.Logger.With(zap.String("read", cfg.Read)), now: time.Now, closed: make(chan struct{}), users: map[int]string{},
	}
	if cfg.Read == ReadGrants {
		s.poller = &snapshot.Poller{Source: cfg.SourceSystem, Prefix: "nuki-grants-", Interval: cfg.PollInterval, Log: s.log,
			Take: func(ctx context.Context) (snapshot.Snapshot, error) {
				body, n, err := s.Grants(ctx)
				if err != nil {
					return snapshot.Snapshot{}, err
				}
				sum := sha256.Sum256(body)
				return snapshot.Snapshot{Body: body, Count: n, Digest: hex.EncodeToString(sum[:])}, nil
			}}
	}
	return s, nil
}

// Receive implements adapters.Source. read: events polls the log at once
// and every poll_interval, delivering each new event, oldest first, one
// at a time; read: grants delivers a snapshot per poll when it changed.
// A failed poll or delivery is logged once per outage and tried again at
// the next poll, from the last saved cursor.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	defer s.client.CloseIdle()
	if s.poller != nil {
		return s.poller.Run(ctx, s.closed, deliver)
	}
	select {
	case <-s.closed:
		return adapters.ErrClosed
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close ends a running poll
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	var failing bool
	for {
		n, err := s.Poll(ctx, deliver)
		select {
		case <-s.closed:
			return adapters.ErrClosed
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err != nil && !failing:
			s.log.Warn("log poll failed, will retry at the next poll", zap.Error(err), zap.Int("delivered", n))
		case err != nil:
			s.log.Debug("log poll failed again", zap.Error(err))
		case failing:
			s.log.Info("log poll recovered", zap.Int("delivered", n))
		case n > 0:
			s.log.Debug("events delivered", zap.Int("delivered", n))
		}
		failing = err != nil
		select {
		case <-s.closed:
			return adapters.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// Cursor is where the events source stands in the log, saved as JSON
// under the key "log": the date of the newest event delivered and the ids
// delivered from Overlap before it on, which the next poll reads again
// and skips.
type Cursor struct {
	Date time.Time            `json:"date"`
	Seen map[string]time.Time `json:"seen,omitempty"` // event id → its date
}

// loadCursor returns the saved cursor, or one since before now.
func (s *Source) loadCursor(ctx context.Context) (*Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor != nil {
		return s.cursor, nil
	}
	c := &Cursor{Date: s.now().Add(-s.cfg.Since).UTC().Truncate(time.Second)}
	if s.cursors != nil {
		v, ok, err := s.cursors.Cursor(ctx, cursorKey)
		if err != nil {
			return nil, fmt.Errorf("load cursor: %w", err)
		}
		if ok {
			if err := json.Unmarshal([]byte(v), c); err != nil {
				return nil, fmt.Errorf("load cursor: saved value is no nuki cursor: %w", err)
			}
		}
	}
	s.cursor = c
	return c, nil
}

// Poll reads every event newer than the cursor (page by page, backwards,
// MaxLogLimit at a time), delivers them oldest first and saves the cursor
// after each delivery. It returns how many it delivered.
func (s *Source) Poll(ctx context.Context, deliver adapters.DeliverFunc) (int, error) {
	cur, err := s.loadCursor(ctx)
	if err != nil {
		return 0, err
	}
	from := cur.Date.Add(-s.cfg.Overlap)
	s.mu.Lock()
	seen := make(map[string]bool, len(cur.Seen))
	for id := range cur.Seen {
		seen[id] = true
	}
	s.mu.Unlock()
	var events []LogEntry
	var newest time.Time // of every entry read, the unwanted locks' too
	for before := ""; ; {
		page, err := s.client.Logs(ctx, LogQuery{From: from, Before: before, Limit: MaxLogLimit})
		if err != nil {
			return 0, err
		}
		for _, e := range page {
			if e.Date.After(newest) {
				newest = e.Date
			}
			if !seen[e.ID] && s.wanted(e.SmartlockID) {
				seen[e.ID] = true // pages that overlap repeat entries
				events = append(events, e)
			}
		}
		if len(page) < MaxLogLimit {
			break
		}
		before = page[len(page)-1].ID
	}
	// Oldest first; ids are the vendor's ObjectIds, increasing in time, so
	// they order events logged in the same second.
	slices.SortFunc(events, func(a, b LogEntry) int {
		return cmp.Or(a.Date.Compare(b.Date), cmp.Compare(a.ID, b.ID))
	})
	for i, e := range events {
		m := knutpunkt.Message{Body: e.Raw, Headers: map[string]string{
			knutpunkt.HeaderContentType:  "application/json",
			knutpunkt.HeaderSourceSystem: s.cfg.SourceSystem,
			knutpunkt.HeaderExternalID:   "nuki-log-" + e.ID,
			HeaderLock:                   strconv.FormatInt(e.SmartlockID, 10),
		}}
		if h := s.holder(ctx, e); h != "" {
			m.Headers[HeaderHolder] = h
		}
		if _, err := deliver(ctx, m); err != nil {
			return i, fmt.Errorf("deliver event %s: %w", e.ID, err)
		}
		if err := s.advance(ctx, cur, e.ID, e.Date); err != nil {
			return i + 1, err
		}
	}
	// Past the other locks' events too, so that a quiet listed lock does
	// not make every poll read the busy ones again from long ago.
	if newest.After(cur.Date) {
		if err := s.advance(ctx, cur, "", newest); err != nil {
			return len(events), err
		}
	}
	return len(events), nil
}

func (s *Source) wanted(lock int64) bool {
	return len(s.cfg.Locks) == 0 || slices.Contains(s.cfg.Locks, lock)
}

// advance moves the cursor past the event id (none: only to date) and
// saves it.
func (s *Source) advance(ctx context.Context, cur *Cursor, id string, date time.Time) error {
	s.mu.Lock()
	if date.After(cur.Date) {
		cur.Date = date.UTC()
	}
	if cur.Seen == nil {
		cur.Seen = map[string]time.Time{}
	}
	if id != "" {
		cur.Seen[id] = date.UTC()
	}
	// Keep only the ids the next poll reads again: those within Overlap
	// of the newest date.
	for id, d := range cur.Seen {
		if d.Before(cur.Date.Add(-s.cfg.Overlap)) {
			delete(cur.Seen, id)
		}
	}
	v, err := json.Marshal(cur)
	s.mu.Unlock()
	if err != nil || s.cursors == nil {
		return err
	}
	if err := s.cursors.SaveCursor(ctx, cursorKey, string(v)); err != nil {
		return fmt.Errorf("save cursor at %s: %w", date.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// holder is the HSA-ID behind e: its account user's name, or without an
// account user its own name, when that is an HSA-ID; "" otherwise.
func (s *Source) holder(ctx context.Context, e LogEntry) string {
	if e.AccountUserID == 0 {
		if hsaID.MatchString(e.Name) {
			return e.Name
		}
		return ""
	}
	s.mu.Lock()
	name, ok := s.users[e.AccountUserID]
	s.mu.Unlock()
	if !ok {
		users, err := s.client.AccountUsers(ctx)
		if err != nil {
			s.log.Debug("account users unreadable, event delivered without holder", zap.String("event", e.ID), zap.Error(err))
			return ""
		}
		s.mu.Lock()
		for _, u := range users {
			s.users[u.AccountUserID] = u.Name
		}
		if _, ok := s.users[e.AccountUserID]; !ok {
			s.users[e.AccountUserID] = "" // unknown: not asked again
		}
		name = s.users[e.AccountUserID]
		s.mu.Unlock()
	}
	if hsaID.MatchString(name) {
		return name
	}
	return ""
}

// GrantRecord is one line of a grants snapshot, its window in the
// canonical key grant's terms (schemas/canonical/key_grant.schema.json),
// so that the hub compares it with the window it wants as it is: every
// day (allowedWeekDays 0 or 127) has no weekdays, all day
// (allowedFromTime = allowedUntilTime = 0) no daily minutes.
type GrantRecord struct {
	LockRef        string     `json:"lock_ref"`
	VendorGrantRef string     `json:"vendor_grant_ref"`
	Holder         string     `json:"holder"`
	ValidFrom      *time.Time `json:"valid_from,omitempty"`
	ValidUntil     *time.Time `json:"valid_until,omitempty"`
	Weekdays       int        `json:"weekdays,omitempty"`
	DailyFromMin   *int       `json:"daily_from_min,omitempty"`
	DailyUntilMin  *int       `json:"daily_until_min,omitempty"`
	RemoteAllowed  bool       `json:"remote_allowed"`
	Enabled        bool       `json:"enabled"`
}

// record is a's line in a grants snapshot.
func record(lock int64, a Auth) GrantRecord {
	r := GrantRecord{LockRef: strconv.FormatInt(lock, 10), VendorGrantRef: a.ID, Holder: a.Name,
		ValidFrom: utc(a.AllowedFromDate), ValidUntil: utc(a.AllowedUntilDate), RemoteAllowed: a.RemoteAllowed, Enabled: a.Enabled}
	if a.AllowedWeekDays != allDays {
		r.Weekdays = a.AllowedWeekDays
	}
	if a.AllowedFromTime != 0 || a.AllowedUntilTime != 0 {
		from, until := a.AllowedFromTime, a.AllowedUntilTime
		r.DailyFromMin, r.DailyUntilMin = &from, &until
	}
	return r
}

// GrantList is a grants snapshot: one object (schemas/canonical/key_grants.schema.json),
// so that a vendor holding no grant says so.
type GrantList struct {
	Vendor string        `json:"vendor"`
	Grants []GrantRecord `json:"grants"`
}

// Grants reads every auth of the configured locks (every lock of the
// account when none is configured) and returns them as one GrantList line,
// sorted by lock and auth id, and their number.
func (s *Source) Grants(ctx context.Context) ([]byte, int, error) {
	locks := s.cfg.Locks
	if len(locks) == 0 {
		all, err := s.client.Locks(ctx)
		if err != nil {
			return nil, 0, err
		}
		for _, l := range all {
			locks = append(locks, l.SmartlockID)
		}
	}
	locks = slices.Clone(locks)
	slices.Sort(locks)
	var recs []GrantRecord
	for _, id := range locks {
		auths, err := s.client.Auths(ctx, id)
		if err != nil {
			return nil, 0, fmt.Errorf("grants of lock %d: %w", id, err)
		}
		for _, a := range auths {
			recs = append(recs, record(id, a))
		}
	}
	slices.SortFunc(recs, func(a, b GrantRecord) int {
		ai, _ := strconv.ParseInt(a.LockRef, 10, 64)
		bi, _ := strconv.ParseInt(b.LockRef, 10, 64)
		return cmp.Or(cmp.Compare(ai, bi), cmp.Compare(a.VendorGrantRef, b.VendorGrantRef))
	})
	if recs == nil {
		recs = []GrantRecord{}
	}
	out, err := json.Marshal(GrantList{Vendor: Vendor, Grants: recs})
	if err != nil {
		return nil, 0, err
	}
	return append(out, '\n'), len(recs), nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Check implements adapters.Checker: the API answers GET /smartlock with
// the token.
func (s *Source) Check(ctx context.Context) error {
	_, err := s.client.Locks(ctx)
	return err
}

// Close stops a running Receive with ErrClosed. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.client.CloseIdle()
	return nil
}
