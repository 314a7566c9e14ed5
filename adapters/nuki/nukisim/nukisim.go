// Package nukisim is a Nuki Web API on loopback for tests and the demo: the
// subset of the Swagger 2.0 contract (../shared/ext/nuki/nuki_swagger.json)
// the nuki adapter speaks, with the vendor's quirks kept.
//
//   - Every request needs "Authorization: Bearer <Options.Token>"; anything
//     else answers 401.
//   - PUT /smartlock/{id}/auth answers 204 without the new auth's id; the
//     auth appears in GET /smartlock/{id}/auth only after
//     Options.CreateDelay. Updates (POST …/auth/{id}) and deletes are
//     asynchronous the same way. While an operation runs on a lock, every
//     other write to that lock answers 423 Locked.
//   - GET /smartlock/log and /smartlock/{id}/log answer newest first, at
//     most limit entries (default 20; above 50 is a 400), older than the
//     entry named by id, between fromDate and toDate (RFC 3339, inclusive).
//   - PUT /account/user creates an account user (name and email required,
//     email unique: 409 otherwise) and answers it; GET lists them with
//     offset and limit.
//
// Everything runs by Options.Now: the dates the simulator writes and the
// end of an operation, CreateDelay after it was accepted (with a delay of
// 0 every operation is done before its answer). A test with a fake clock
// moves it to finish operations; nothing runs in the background, pending
// operations settle when the next request looks at their lock.
package nukisim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a simulator.
type Options struct {
	// Token is the API token every request must bear. Required.
	Token string
	// CreateDelay is how long a create, update or delete of an auth takes
	// (by Now); the lock answers 423 to other writes meanwhile.
	CreateDelay time.Duration
	// Now is the simulator's clock for the dates it writes; default
	// time.Now.
	Now func() time.Time
	// Location is the locks' time zone, in which allowedWeekDays and the
	// allowed minutes apply; default Europe/Stockholm.
	Location *time.Location
	// AccountID is the account everything belongs to; default 4711.
	AccountID int
}

// Auth is a SmartlockAuth as the simulator holds and answers it.
type Auth struct {
	ID               string     `json:"id"`
	SmartlockID      int64      `json:"smartlockId"`
	AccountUserID    int        `json:"accountUserId,omitempty"`
	AuthID           int        `json:"authId"`
	Type             int        `json:"type"`
	Name             string     `json:"name"`
	Enabled          bool       `json:"enabled"`
	RemoteAllowed    bool       `json:"remoteAllowed"`
	LockCount        int        `json:"lockCount"`
	AllowedFromDate  *time.Time `json:"allowedFromDate,omitempty"`
	AllowedUntilDate *time.Time `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int        `json:"allowedWeekDays"`
	AllowedFromTime  int        `json:"allowedFromTime"`
	AllowedUntilTime int        `json:"allowedUntilTime"`
	CreationDate     time.Time  `json:"creationDate"`
	UpdateDate       time.Time  `json:"updateDate"`
}

// Log is a SmartlockLog.
type Log struct {
	ID            string    `json:"id"`
	SmartlockID   int64     `json:"smartlockId"`
	DeviceType    int       `json:"deviceType"`
	AccountUserID int       `json:"accountUserId,omitempty"`
	AuthID        string    `json:"authId,omitempty"`
	Name          string    `json:"name"`
	Action        int       `json:"action"`
	Trigger       int       `json:"trigger"`
	State         int       `json:"state"`
	AutoUnlock    bool      `json:"autoUnlock"`
	Date          time.Time `json:"date"`
	Source        int       `json:"source"`
}

// AccountUser is an account user.
type AccountUser struct {
	AccountUserID int       `json:"accountUserId"`
	AccountID     int       `json:"accountId"`
	Type          int       `json:"type"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	Language      string    `json:"language,omitempty"`
	CreationDate  time.Time `json:"creationDate"`
	UpdateDate    time.Time `json:"updateDate"`
}

// Server is a running simulator.
type Server struct {
	// URL is the API's base URL, http://127.0.0.1:port.
	URL string

	opts Options
	addr string

	mu       sync.Mutex
	srv      *http.Server
	down     bool
	slow     time.Duration
	fail     int // status of the next failN requests
	failN    int
	failOn   map[string][2]int // by route: status, count
	bodies   map[string][]byte // the last request body by route
	locks    map[int64]*lock
	users    []AccountUser
	logs     []Log
	nextID   int
	requests map[string]int
}

type lock struct {
	id        int64
	name      string
	auths     []*Auth
	pending   []op
	busyUntil time.Time // by Options.Now
	nextAuth  int
}

// op is an auth operation the lock has accepted and not yet finished.
type op struct {
	due   time.Time // by Options.Now
	apply func(l *lock)
}

// Start listens on 127.0.0.1:0 and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Token == "" {
		return nil, errors.New("nukisim: Options.Token is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("Europe/Stockholm")
		if err != nil {
			return nil, fmt.Errorf("nukisim: %w", err)
		}
		opts.Location = loc
	}
	if opts.AccountID == 0 {
		opts.AccountID = 4711
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, addr: ln.Addr().String(), locks: map[int64]*lock{}, requests: map[string]int{},
		failOn: map[string][2]int{}, bodies: map[string][]byte{}}
	s.URL = "http://" + s.addr
	s.mu.Lock()
	s.serve(ln)
	s.mu.Unlock()
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	mux := http.NewServeMux()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, int)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, pattern, h) })
	}
	route("GET /smartlock", s.listLocks)
	route("GET /smartlock/log", s.listLogs)
	route("GET /smartlock/{smartlockId}/log", s.listLogs)
	route("GET /smartlock/{smartlockId}/auth", s.listAuths)
	route("PUT /smartlock/{smartlockId}/auth", s.createAuth)
	route("GET /smartlock/{smartlockId}/auth/{id}", s.getAuth)
	route("POST /smartlock/{smartlockId}/auth/{id}", s.updateAuth)
	route("DELETE /smartlock/{smartlockId}/auth/{id}", s.deleteAuth)
	route("GET /account/user", s.listUsers)
	route("PUT /account/user", s.createUser)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
}

// handle applies the faults and the token check, then h under the lock;
// h returns the JSON answer (nil for none) and the status.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, pattern string, h func(http.ResponseWriter, *http.Request) (any, int)) {
	s.mu.Lock()
	s.requests[pattern]++
	slow := s.slow
	var fail int
	if s.failN > 0 {
		s.failN--
		fail = s.fail
	} else if f := s.failOn[pattern]; f[1] > 0 {
		s.failOn[pattern] = [2]int{f[0], f[1] - 1}
		fail = f[0]
	}
	s.mu.Unlock()
	if r.Body != nil && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		s.mu.Lock()
		s.bodies[pattern] = b
		s.mu.Unlock()
	}
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		if fail == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, fail, map[string]any{"detailMessage": fmt.Sprintf("nukisim: injected %d", fail)})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detailMessage": "Your request requires authentication"})
		return
	}
	s.mu.Lock()
	body, status := h(w, r)
	s.mu.Unlock()
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func problem(status int, format string, args ...any) (any, int) {
	return map[string]any{"detailMessage": fmt.Sprintf(format, args...)}, status
}

// lockOf settles the path's lock and returns it, or a 404 answer.
func (s *Server) lockOf(r *http.Request) (*lock, any, int) {
	id, err := strconv.ParseInt(r.PathValue("smartlockId"), 10, 64)
	if err != nil {
		b, st := problem(http.StatusBadRequest, "smartlockId: not an integer")
		return nil, b, st
	}
	l := s.locks[id]
	if l == nil {
		b, st := problem(http.StatusNotFound, "smartlock %d not found", id)
		return nil, b, st
	}
	s.settle(l)
	return l, nil, 0
}

// settle finishes the lock's operations that are due.
func (s *Server) settle(l *lock) {
	now := s.opts.Now()
	for len(l.pending) > 0 && !l.pending[0].due.After(now) {
		l.pending[0].apply(l)
		l.pending = l.pending[1:]
	}
}

// accept queues an operation on l, or answers 423 while one runs.
func (s *Server) accept(l *lock, apply func(l *lock)) (any, int) {
	now := s.opts.Now()
	if now.Before(l.busyUntil) {
		return problem(http.StatusLocked, "smartlock %d: another operation is in progress", l.id)
	}
	l.busyUntil = now.Add(s.opts.CreateDelay)
	l.pending = append(l.pending, op{due: l.busyUntil, apply: apply})
	s.settle(l)
	return nil, http.StatusNoContent
}

func (s *Server) listLocks(_ http.ResponseWriter, _ *http.Request) (any, int) {
	type smartlock struct {
		SmartlockID   int64  `json:"smartlockId"`
		AccountID     int    `json:"accountId"`
		Type          int    `json:"type"`
		AuthID        int    `json:"authId"`
		Name          string `json:"name"`
		Favorite      bool   `json:"favorite"`
		ServerState   int    `json:"serverState"`
		AdminPinState int    `json:"adminPinState"`
	}
	out := []smartlock{}
	for _, id := range s.lockIDs() {
		out = append(out, smartlock{SmartlockID: id, AccountID: s.opts.AccountID, Type: 4, Name: s.locks[id].name})
	}
	return out, http.StatusOK
}

func (s *Server) lockIDs() []int64 {
	ids := make([]int64, 0, len(s.locks))
	for id := range s.locks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) listAuths(_ http.ResponseWriter, r *http.Request) (any, int) {
	l, b, st := s.lockOf(r)
	if l == nil {
		return b, st
	}
	out := make([]Auth, 0, len(l.auths))
	for _, a := range l.auths {
		out = append(out, *a)
	}
	return out, http.StatusOK
}

func (s *Server) getAuth(_ http.ResponseWriter, r *http.Request) (any, int) {
	l, b, st := s.lockOf(r)
	if l == nil {
		return b, st
	}
	if a := l.auth(r.PathValue("id")); a != nil {
		return *a, http.StatusOK
	}
	return problem(http.StatusNotFound, "auth not found")
}

func (l *lock) auth(id string) *Auth {
	for _, a := range l.auths {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// authBody is SmartlockAuthCreate and SmartlockAuthUpdate in one.
type authBody struct {
	Name             *string    `json:"name"`
	AllowedFromDate  *time.Time `json:"allowedFromDate"`
	AllowedUntilDate *time.Time `json:"allowedUntilDate"`
	AllowedWeekDays  *int       `json:"allowedWeekDays"`
	AllowedFromTime  *int       `json:"allowedFromTime"`
	AllowedUntilTime *int       `json:"allowedUntilTime"`
	AccountUserID    *int       `json:"accountUserId"`
	RemoteAllowed    *bool      `json:"remoteAllowed"`
	Enabled          *bool      `json:"enabled"`
	Type             *int       `json:"type"`
	Code             *int       `json:"code"`
	SmartActions     *bool      `json:"smartActionsEnabled"`
}

// check applies the contract's constraints; create also needs
// remoteAllowed and an account user (type 0).
func (s *Server) check(b authBody, create bool) error {
	switch {
	case b.Name == nil || *b.Name == "":
		return errors.New("name: is required")
	case len(*b.Name) > 32:
		return errors.New("name: max 32 chars")
	case create && b.RemoteAllowed == nil:
		return errors.New("remoteAllowed: is required")
	case b.AllowedWeekDays != nil && (*b.AllowedWeekDays < 0 || *b.AllowedWeekDays > 127):
		return errors.New("allowedWeekDays: must be 0-127")
	case b.AllowedFromTime != nil && (*b.AllowedFromTime < 0 || *b.AllowedFromTime > 1439):
		return errors.New("allowedFromTime: must be 0-1439")
	case b.AllowedUntilTime != nil && (*b.AllowedUntilTime < 0 || *b.AllowedUntilTime > 1439):
		return errors.New("allowedUntilTime: must be 0-1439")
	case b.Type != nil && *b.Type != 0 && *b.Type != 2 && *b.Type != 13:
		return errors.New("type: must be 0, 2 or 13")
	case create && (b.Type == nil || *b.Type != 13) && b.AccountUserID == nil:
		return errors.New("accountUserId: is required unless type is 13")
	}
	if b.AccountUserID != nil && s.user(*b.AccountUserID) == nil {
		return fmt.Errorf("accountUserId: no account user %d", *b.AccountUserID)
	}
	return nil
}

func (s *Server) user(id int) *AccountUser {
	for i := range s.users {
		if s.users[i].AccountUserID == id {
			return &s.users[i]
		}
	}
	return nil
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (s *Server) createAuth(_ http.ResponseWriter, r *http.Request) (any, int) {
	l, b, st := s.lockOf(r)
	if l == nil {
		return b, st
	}
	var body authBody
	if err := decode(r, &body); err != nil {
		return problem(http.StatusBadRequest, "body: %v", err)
	}
	if err := s.check(body, true); err != nil {
		return problem(http.StatusBadRequest, "%v", err)
	}
	for _, a := range l.auths {
		if a.Name == *body.Name && body.AccountUserID != nil && a.AccountUserID == *body.AccountUserID {
			return problem(http.StatusConflict, "an authorization for this account user exists")
		}
	}
	now := s.opts.Now().UTC()
	return s.accept(l, func(l *lock) {
		l.nextAuth++
		s.nextID++
		a := &Auth{ID: objectID(s.nextID), SmartlockID: l.id, AuthID: l.nextAuth, Enabled: true, CreationDate: now, UpdateDate: now}
		if body.Type != nil {
			a.Type = *body.Type
		}
		body.applyTo(a)
		l.auths = append(l.auths, a)
	})
}

func (b authBody) applyTo(a *Auth) {
	if b.Name != nil {
		a.Name = *b.Name
	}
	if b.AccountUserID != nil {
		a.AccountUserID = *b.AccountUserID
	}
	if b.RemoteAllowed != nil {
		a.RemoteAllowed = *b.RemoteAllowed
	}
	if b.Enabled != nil {
		a.Enabled = *b.Enabled
	}
	if b.AllowedFromDate != nil {
		t := b.AllowedFromDate.UTC()
		a.AllowedFromDate = &t
	}
	if b.AllowedUntilDate != nil {
		t := b.AllowedUntilDate.UTC()
		a.AllowedUntilDate = &t
	}
	if b.AllowedWeekDays != nil {
		a.AllowedWeekDays = *b.AllowedWeekDays
	}
	if b.AllowedFromTime != nil {
		a.AllowedFromTime = *b.AllowedFromTime
	}
	if b.AllowedUntilTime != nil {
		a.AllowedUntilTime = *b.AllowedUntilTime
	}
}

func (s *Server) updateAuth(_ http.ResponseWriter, r *http.Request) (any, int) {
	l, b, st := s.lockOf(r)
	if l == nil {
		return b, st
	}
	id := r.PathValue("id")
	if l.auth(id) == nil {
		return problem(http.StatusNotFound, "auth not found")
	}
	var body authBody
	if err := decode(r, &body); err != nil {
		return problem(http.StatusBadRequest, "body: %v", err)
	}
	if err := s.check(body, false); err != nil {
		return problem(http.StatusBadRequest, "%v", err)
	}
	now := s.opts.Now().UTC()
	return s.accept(l, func(l *lock) {
		if a := l.auth(id); a != nil {
			body.applyTo(a)
			a.UpdateDate = now
		}
	})
}

func (s *Server) deleteAuth(_ http.ResponseWriter, r *http.Request) (any, int) {
	l, b, st := s.lockOf(r)
	if l == nil {
		return b, st
	}
	id := r.PathValue("id")
	if l.auth(id) == nil {
		return problem(http.StatusNotFound, "auth not found")
	}
	return s.accept(l, func(l *lock) {
		l.auths = slices.DeleteFunc(l.auths, func(a *Auth) bool { return a.ID == id })
	})
}

func (s *Server) listUsers(_ http.ResponseWriter, r *http.Request) (any, int) {
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > 100 {
		limit = 100 // the contract: above the maximum, the maximum
	}
	out := []AccountUser{}
	for _, u := range s.users {
		if e := q.Get("email"); e != "" && !strings.EqualFold(u.Email, e) {
			continue
		}
		out = append(out, u)
	}
	if offset > len(out) {
		offset = len(out)
	}
	out = out[offset:]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, http.StatusOK
}

func (s *Server) createUser(_ http.ResponseWriter, r *http.Request) (any, int) {
	var body struct {
		Type     *int   `json:"type"`
		Email    string `json:"email"`
		Name     string `json:"name"`
		Language string `json:"language"`
	}
	if err := decode(r, &body); err != nil {
		return problem(http.StatusBadRequest, "body: %v", err)
	}
	if body.Email == "" || body.Name == "" || !strings.Contains(body.Email, "@") {
		return problem(http.StatusBadRequest, "email and name are required")
	}
	for _, u := range s.users {
		if strings.EqualFold(u.Email, body.Email) {
			return problem(http.StatusConflict, "email already in use")
		}
	}
	now := s.opts.Now().UTC()
	s.nextID++
	u := AccountUser{AccountUserID: 1000 + s.nextID, AccountID: s.opts.AccountID, Email: body.Email, Name: body.Name,
		Language: body.Language, CreationDate: now, UpdateDate: now}
	s.users = append(s.users, u)
	return u, http.StatusOK
}

func (s *Server) listLogs(_ http.ResponseWriter, r *http.Request) (any, int) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			return problem(http.StatusBadRequest, "limit: must be 1-50")
		}
		limit = n
	}
	var lockID int64
	if v := r.PathValue("smartlockId"); v != "" {
		l, b, st := s.lockOf(r)
		if l == nil {
			return b, st
		}
		lockID = l.id
	}
	var from, to time.Time
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"fromDate", &from}, {"toDate", &to}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return problem(http.StatusBadRequest, "%s: not RFC3339", p.key)
			}
			*p.t = t
		}
	}
	// s.logs is kept newest first; id names the entry to read past.
	start := 0
	if id := q.Get("id"); id != "" {
		i := slices.IndexFunc(s.logs, func(l Log) bool { return l.ID == id })
		if i < 0 {
			return []Log{}, http.StatusOK
		}
		start = i + 1
	}
	out := []Log{}
	for _, l := range s.logs[start:] {
		if len(out) == limit {
			break
		}
		switch {
		case lockID != 0 && l.SmartlockID != lockID,
			!from.IsZero() && l.Date.Before(from),
			!to.IsZero() && l.Date.After(to),
			q.Get("accountUserId") != "" && strconv.Itoa(l.AccountUserID) != q.Get("accountUserId"),
			q.Get("authId") != "" && l.AuthID != q.Get("authId"),
			q.Get("action") != "" && strconv.Itoa(l.Action) != q.Get("action"):
			continue
		}
		out = append(out, l)
	}
	return out, http.StatusOK
}

// objectID makes an id shaped like the vendor's (24 hex digits, a MongoDB
// ObjectId) that sorts in creation order.
func objectID(n int) string { return fmt.Sprintf("5e%022x", n) }

// AddLock adds a smart lock.
func (s *Server) AddLock(id int64, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[id] == nil {
		s.locks[id] = &lock{id: id, name: name}
	}
}

// Grants returns the auths lockID holds now (operations due are finished
// first), in creation order.
func (s *Server) Grants(lockID int64) []Auth {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[lockID]
	if l == nil {
		return nil
	}
	s.settle(l)
	out := make([]Auth, len(l.auths))
	for i, a := range l.auths {
		out[i] = *a
	}
	return out
}

// AccountUsers returns the account users.
func (s *Server) AccountUsers() []AccountUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.users)
}

// RemoveAccountUser deletes an account user, as someone in the vendor's
// web app would; its auths stay.
func (s *Server) RemoveAccountUser(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = slices.DeleteFunc(s.users, func(u AccountUser) bool { return u.AccountUserID == id })
}

// AddLog logs l as it is (its id assigned if empty) and returns its id,
// for events the other helpers do not make.
func (s *Server) AddLog(l Log) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLog(l)
}

func (s *Server) addLog(l Log) string {
	if l.ID == "" {
		s.nextID++
		l.ID = objectID(s.nextID)
	}
	l.Date = l.Date.UTC().Truncate(time.Second)
	if l.DeviceType == 0 {
		l.DeviceType = 4
	}
	// Keep newest first by (date, id), the order the API pages in.
	i, _ := slices.BinarySearchFunc(s.logs, l, func(a, b Log) int {
		if c := b.Date.Compare(a.Date); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	s.logs = slices.Insert(s.logs, i, l)
	return l.ID
}

// Unlock logs holder's attempt to unlock lockID with the app at at: state
// 0 (success) when holder (an account user's name) has an enabled auth on
// the lock valid at at (dates, weekdays and daily minutes in the locks'
// time zone), else 9 (rejected). It returns the log id.
func (s *Server) Unlock(lockID int64, holderHSAID string, at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Log{SmartlockID: lockID, Name: holderHSAID, Action: 1, Trigger: 5, State: 9, Date: at}
	for _, u := range s.users {
		if u.Name == holderHSAID {
			l.AccountUserID = u.AccountUserID
		}
	}
	if lk := s.locks[lockID]; lk != nil {
		s.settle(lk)
		for _, a := range lk.auths {
			if a.Name == holderHSAID || (l.AccountUserID != 0 && a.AccountUserID == l.AccountUserID) {
				l.AuthID = a.ID
				if a.Enabled && s.validAt(a, at) {
					l.State = 0
				}
			}
		}
	}
	return s.addLog(l)
}

// validAt reports whether a lets its holder in at at. allowedWeekDays 0
// means every day; allowedFromTime = allowedUntilTime = 0 means all day;
// both minutes are inclusive, and from > until spans midnight.
func (s *Server) validAt(a *Auth, at time.Time) bool {
	if a.AllowedFromDate != nil && at.Before(*a.AllowedFromDate) {
		return false
	}
	if a.AllowedUntilDate != nil && at.After(*a.AllowedUntilDate) {
		return false
	}
	local := at.In(s.opts.Location)
	// Mon=64 … Sat=2, Sun=1: bit 6-(weekday-1) with Sunday wrapped to 0.
	bit := 1 << ((7 - int(local.Weekday())) % 7)
	if a.AllowedWeekDays != 0 && a.AllowedWeekDays&bit == 0 {
		return false
	}
	from, until := a.AllowedFromTime, a.AllowedUntilTime
	if from == 0 && until == 0 {
		return true
	}
	m := local.Hour()*60 + local.Minute()
	if from <= until {
		return from <= m && m <= until
	}
	return m >= from || m <= until
}

// Door logs the door sensor: action 240 (opened) or 241 (closed), trigger
// 0 (system), state 0. It returns the log id.
func (s *Server) Door(lockID int64, opened bool, at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	action := 241
	if opened {
		action = 240
	}
	return s.addLog(Log{SmartlockID: lockID, Name: "Door sensor", Action: action, Trigger: 0, State: 0, Date: at})
}

// Down closes the socket (connections refused) until Up.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
	s.down = true
}

// Close stops the simulator.
func (s *Server) Close() { s.Down() }

// Up listens again on the same address and ends every fault (Slow, Fail).
func (s *Server) Up() {
	s.mu.Lock()
	s.slow, s.fail, s.failN = 0, 0, 0
	clear(s.failOn)
	down := s.down
	s.mu.Unlock()
	if !down {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after Close
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		panic(fmt.Sprintf("nukisim: listen again on %s: %v", s.addr, err))
	}
	s.mu.Lock()
	s.down = false
	s.serve(ln)
	s.mu.Unlock()
}

// Slow delays every answer by d (until the client gives up) until Up.
func (s *Server) Slow(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// Fail makes the next n requests answer status (500, 502, 503, or 429
// with Retry-After: 1; any status works) before the token check.
func (s *Server) Fail(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.failN = status, n
}

// FailOn makes the next n requests of route (a pattern as in Requests)
// answer status, e.g. a 402 to PUT /smartlock/{smartlockId}/auth.
func (s *Server) FailOn(route string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOn[route] = [2]int{status, n}
}

// LastBody returns the body of the last PUT or POST to route, as sent.
func (s *Server) LastBody(route string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies[route])
}

// Requests returns how many requests each route got, keyed by its pattern
// such as "PUT /smartlock/{smartlockId}/auth".
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}
