package nuki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"net/http"
	"strconv"
	"time"

	"github.com/go-resty/resty/v2"
)

// Client calls the Web API with a Bearer token. It is safe for concurrent
// use; every call takes its deadline from ctx and the configured timeout.
type Client struct {
	r *resty.Client
}

// NewClient returns a client of the API at baseURL. hc is copied (its
// Transport shared), so the timeout set here stays this client's.
func NewClient(baseURL, token string, timeout time.Duration, hc *http.Client) *Client {
	c := *hc
	c.Timeout = timeout
	r := resty.NewWithClient(&c).
		SetBaseURL(baseURL).
		SetAuthToken(token).
		SetHeader("Accept", "application/json").
		SetLogger(discard{}). // resty's own lines could quote requests
		SetDisableWarn(true)
	return &Client{r: r}
}

// discard is a resty.Logger that writes nothing.
type discard struct{}

func (discard) Errorf(string, ...any) {}
func (discard) Warnf(string, ...any)  {}
func (discard) Debugf(string, ...any) {}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.r.GetClient().CloseIdleConnections() }

// APIError is an answer of the API other than 2xx.
type APIError struct {
	// Op is the request, "PUT /smartlock/17/auth".
	Op string
	// Status is the HTTP status.
	Status int
	// Message is the vendor's detailMessage (or the start of its body).
	Message string
	// RetryAfter is the Retry-After of a 429 or 503, zero without one.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s: %d: %s (retry after %v)", e.Op, e.Status, msg, e.RetryAfter)
	}
	return fmt.Sprintf("%s: %d: %s", e.Op, e.Status, msg)
}

// StatusOf is the HTTP status of err's *APIError, 0 when it has none (a
// network failure).
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// do sends one request and decodes a 2xx answer into out (nil: no body).
func (c *Client) do(ctx context.Context, method, path string, query map[string]string, body, out any) error {
	req := c.r.R().SetContext(ctx).SetQueryParams(query)
	if body != nil {
		req.SetHeader("Content-Type", "application/json").SetBody(body)
	}
	op := method + " " + path
	resp, err := req.Execute(method, path)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !resp.IsSuccess() {
		return apiError(op, resp)
	}
	if out == nil || resp.StatusCode() == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return fmt.Errorf("%s: answer is not the contract's JSON: %w", op, err)
	}
	return nil
}

func apiError(op string, resp *resty.Response) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode()}
	var body struct {
		DetailMessage string `json:"detailMessage"`
		Message       string `json:"message"`
	}
	if json.Unmarshal(resp.Body(), &body) == nil {
		e.Message = body.DetailMessage
		if e.Message == "" {
			e.Message = body.Message
		}
	}
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "…"
	}
	if s, err := strconv.Atoi(resp.Header().Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// Smartlock is the part of a Smartlock the adapter reads.
type Smartlock struct {
	SmartlockID int64  `json:"smartlockId"`
	Name        string `json:"name"`
}

// Auth is a SmartlockAuth as listed.
type Auth struct {
	ID               string     `json:"id"`
	SmartlockID      int64      `json:"smartlockId"`
	AccountUserID    int        `json:"accountUserId,omitempty"`
	AuthID           int        `json:"authId,omitempty"`
	Type             int        `json:"type"`
	Name             string     `json:"name"`
	Enabled          bool       `json:"enabled"`
	RemoteAllowed    bool       `json:"remoteAllowed"`
	AllowedFromDate  *time.Time `json:"allowedFromDate,omitempty"`
	AllowedUntilDate *time.Time `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int        `json:"allowedWeekDays"`
	AllowedFromTime  int        `json:"allowedFromTime"`
	AllowedUntilTime int        `json:"allowedUntilTime"`
}

// AuthCreate is SmartlockAuthCreate: the body of PUT
// /smartlock/{smartlockId}/auth.
type AuthCreate struct {
	Name             string     `json:"name"`
	AllowedFromDate  *time.Time `json:"allowedFromDate,omitempty"`
	AllowedUntilDate *time.Time `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int        `json:"allowedWeekDays"`
	AllowedFromTime  int        `json:"allowedFromTime"`
	AllowedUntilTime int        `json:"allowedUntilTime"`
	AccountUserID    int        `json:"accountUserId"`
	RemoteAllowed    bool       `json:"remoteAllowed"`
	Type             int        `json:"type"`
}

// AuthUpdate is SmartlockAuthUpdate: the body of POST
// /smartlock/{smartlockId}/auth/{id}.
type AuthUpdate struct {
	Name             string     `json:"name"`
	AllowedFromDate  *time.Time `json:"allowedFromDate,omitempty"`
	AllowedUntilDate *time.Time `json:"allowedUntilDate,omitempty"`
	AllowedWeekDays  int        `json:"allowedWeekDays"`
	AllowedFromTime  int        `json:"allowedFromTime"`
	AllowedUntilTime int        `json:"allowedUntilTime"`
	AccountUserID    int        `json:"accountUserId"`
	Enabled          bool       `json:"enabled"`
	RemoteAllowed    bool       `json:"remoteAllowed"`
}

// AccountUser is the part of an AccountUser the adapter reads.
type AccountUser struct {
	AccountUserID int    `json:"accountUserId"`
	Email         string `json:"email"`
	Name          string `json:"name"`
}

// AccountUserCreate is the body of PUT /account/user. Its optional type
// is for caretakers only, so the sink never sends one.
type AccountUserCreate struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Locks lists the account's smart locks.
func (c *Client) Locks(ctx context.Context) ([]Smartlock, error) {
	var out []Smartlock
	return out, c.do(ctx, http.MethodGet, "/smartlock", nil, nil, &out)
}

func authPath(lockID int64) string { return "/smartlock/" + strconv.FormatInt(lockID, 10) + "/auth" }

// Auths lists a lock's auths.
func (c *Client) Auths(ctx context.Context, lockID int64) ([]Auth, error) {
	var out []Auth
	return out, c.do(ctx, http.MethodGet, authPath(lockID), nil, nil, &out)
}

// CreateAuth asks for an auth; the vendor answers 204 and creates it
// asynchronously, without telling its id.
func (c *Client) CreateAuth(ctx context.Context, lockID int64, a AuthCreate) error {
	return c.do(ctx, http.MethodPut, authPath(lockID), nil, a, nil)
}

// UpdateAuth asks for a change of auth id (asynchronous, 204).
func (c *Client) UpdateAuth(ctx context.Context, lockID int64, id string, a AuthUpdate) error {
	return c.do(ctx, http.MethodPost, authPath(lockID)+"/"+id, nil, a, nil)
}

// DeleteAuth asks for auth id's removal (asynchronous, 204).
func (c *Client) DeleteAuth(ctx context.Context, lockID int64, id string) error {
	return c.do(ctx, http.MethodDelete, authPath(lockID)+"/"+id, nil, nil, nil)
}

// accountUserPage is the page size of GET /account/user; the vendor caps
// a larger limit at its maximum, so a shorter page is the last.
const accountUserPage = 100

// AccountUsers lists every account user, page by page.
func (c *Client) AccountUsers(ctx context.Context) ([]AccountUser, error) {
	var all []AccountUser
	for {
		var page []AccountUser
		q := map[string]string{"offset": strconv.Itoa(len(all)), "limit": strconv.Itoa(accountUserPage)}
		if err := c.do(ctx, http.MethodGet, "/account/user", q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < accountUserPage {
			return all, nil
		}
	}
}

// AccountUsersByEmail lists the account users with email (the vendor's
// filter).
func (c *Client) AccountUsersByEmail(ctx context.Context, email string) ([]AccountUser, error) {
	var out []AccountUser
	return out, c.do(ctx, http.MethodGet, "/account/user", map[string]string{"email": email}, nil, &out)
}

// CreateAccountUser creates an account user and returns it.
func (c *Client) CreateAccountUser(ctx context.Context, u AccountUserCreate) (AccountUser, error) {
	var out AccountUser
	return out, c.do(ctx, http.MethodPut, "/account/user", nil, u, &out)
}

// MaxLogLimit is the most log entries one request may ask for.
const MaxLogLimit = 50

// LogQuery selects log entries: From and To bound the date (inclusive,
// zero: open), Before is the id to read past (the entries older than it),
// Limit at most MaxLogLimit.
type LogQuery struct {
	From, To time.Time
	Before   string
	Limit    int
}

// LogEntry is a SmartlockLog: the fields the adapter reads, and the
// entry's JSON as the vendor sent it.
type LogEntry struct {
	ID            string          `json:"id"`
	SmartlockID   int64           `json:"smartlockId"`
	AccountUserID int             `json:"accountUserId"`
	AuthID        string          `json:"authId"`
	Name          string          `json:"name"`
	Date          time.Time       `json:"date"`
	Raw           json.RawMessage `json:"-"`
}

// Logs reads one page of the account's log, newest first.
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]LogEntry, error) {
	params := map[string]string{"limit": strconv.Itoa(q.Limit)}
	if !q.From.IsZero() {
		params["fromDate"] = q.From.UTC().Format(time.RFC3339)
	}
	if !q.To.IsZero() {
		params["toDate"] = q.To.UTC().Format(time.RFC3339)
	}
	if q.Before != "" {
		params["id"] = q.Before
	}
	var raws []json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/smartlock/log", params, nil, &raws); err != nil {
		return nil, err
	}
	out := make([]LogEntry, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("GET /smartlock/log: entry %d is no SmartlockLog: %w", i, err)
		}
		if out[i].ID == "" {
			return nil, fmt.Errorf("GET /smartlock/log: entry %d has no id", i)
		}
		out[i].Raw = raw
	}
	return out, nil
}
