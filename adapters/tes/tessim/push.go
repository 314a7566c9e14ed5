package tessim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SyncPath is where the hub takes TES's batches.
const SyncPath = "/ingest/tes_sync"

// Result is the hub's answer to a batch.
type Result struct {
	// Messages are one per visit of the batch, in its order.
	Messages []Ack `json:"messages"`
	// Attempts is how many times the batch was sent.
	Attempts int `json:"-"`
}

// Ack is the hub's answer for one visit: the message id it stored it
// under, and whether it had it already (a resent batch).
type Ack struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// StatusError is a batch the hub did not take: refused (an answer other
// than 2xx and 503, not sent again) or still 503 after the last attempt.
type StatusError struct {
	SyncID     string
	StatusCode int
	// Body is the start of the hub's answer (the hub's reasons name
	// fields and rules, not values).
	Body     string
	Attempts int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("tessim: push %s: hub answered %d after %d attempt(s): %s", e.SyncID, e.StatusCode, e.Attempts, e.Body)
}

// Pusher sends batches to the hub as TES does: POST, JSON, and on 503 the
// same batch again after the hub's Retry-After.
type Pusher struct {
	// Client sends the requests. Default: a client with a 30 s timeout.
	Client *http.Client
	// MaxAttempts bounds the sends of one batch. Default 5.
	MaxAttempts int
	// Backoff is the wait before a resend when the hub gave no
	// Retry-After (or the request failed), doubling each time. Default 1 s.
	Backoff time.Duration
	// Sleep waits d or until ctx is done. Default: a timer. Tests pass one
	// that records d and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now reads the clock, for a Retry-After given as an HTTP date.
	// Default time.Now.
	Now func() time.Time
}

// Push sends batch to url (the hub's base URL + SyncPath) with client, as
// a Pusher with the defaults does.
func Push(ctx context.Context, client *http.Client, url string, batch Batch) (Result, error) {
	return (&Pusher{Client: client}).Push(ctx, url, batch)
}

// Push sends batch to url and returns the hub's answer: on 2xx its
// messages, one per visit (else an error); on 503 or a failed request
// the same bytes again, after Retry-After when the hub gave one, up to
// MaxAttempts; on any other status a *StatusError at once.
func (p *Pusher) Push(ctx context.Context, url string, batch Batch) (Result, error) {
	if len(batch.Visits) == 0 || len(batch.Visits) > MaxBatch {
		return Result{}, fmt.Errorf("tessim: push %s: %d visits, want 1-%d", batch.SyncID, len(batch.Visits), MaxBatch)
	}
	body, err := json.Marshal(batch)
	if err != nil {
		return Result{}, fmt.Errorf("tessim: push %s: %w", batch.SyncID, err)
	}
	attempts, backoff := p.MaxAttempts, p.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	sleep := p.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for n := 1; ; n++ {
		res, retry, wait, err := p.send(ctx, url, body, batch)
		res.Attempts = n
		if se := (*StatusError)(nil); errors.As(err, &se) {
			se.Attempts = n
		}
		if err == nil || !retry || n == attempts || ctx.Err() != nil {
			return res, err
		}
		if wait < 0 {
			wait = backoff << (n - 1)
		}
		if err := sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("tessim: push %s: %w", batch.SyncID, err)
		}
	}
}

// send makes one attempt: the result, whether to send again, and how long
// the hub asked to wait (-1: it did not say).
func (p *Pusher) send(ctx context.Context, url string, body []byte, batch Batch) (Result, bool, time.Duration, error) {
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{}, false, 0, fmt.Errorf("tessim: push %s: %w", batch.SyncID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, true, -1, fmt.Errorf("tessim: push %s: %w", batch.SyncID, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, true, -1, fmt.Errorf("tessim: push %s: read answer: %w", batch.SyncID, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		var res Result
		if err := json.Unmarshal(answer, &res); err != nil {
			return Result{}, false, 0, fmt.Errorf("tessim: push %s: answer: %w", batch.SyncID, err)
		}
		if len(res.Messages) != len(batch.Visits) {
			return res, false, 0, fmt.Errorf("tessim: push %s: answer has %d messages for %d visits", batch.SyncID, len(res.Messages), len(batch.Visits))
		}
		return res, false, 0, nil
	case code == http.StatusServiceUnavailable:
		return Result{}, true, p.retryAfter(resp.Header.Get("Retry-After")),
			&StatusError{SyncID: batch.SyncID, StatusCode: code, Body: excerpt(answer)}
	default:
		return Result{}, false, 0, &StatusError{SyncID: batch.SyncID, StatusCode: code, Body: excerpt(answer)}
	}
}

// retryAfter reads a Retry-After header, seconds or an HTTP date; -1 if
// absent or unreadable.
func (p *Pusher) retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return -1
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return -1
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return max(0, t.Sub(now()))
}

// excerpt is the start of an answer, on one line.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
