package tessim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
)

// hub is a fake of the hub's /ingest/tes_sync: it answers each request
// with the next of answers (the last one repeated), records what it got,
// and stores visits by id and version, so a resend comes back duplicate.
type hub struct {
	t       *testing.T
	answers []answer

	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	stored   map[string]string
}

type answer struct {
	status     int
	retryAfter string
	body       string // "" for 202: the messages
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.answers[min(len(h.requests), len(h.answers)-1)]
	h.requests = append(h.requests, r)
	h.bodies = append(h.bodies, body)
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	if a.status != http.StatusAccepted {
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		return
	}
	var b struct {
		Visits []struct {
			VisitID string `json:"visitId"`
			Version int    `json:"version"`
		} `json:"visits"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		h.t.Errorf("hub: %v", err)
	}
	var res tessim.Result
	for _, v := range b.Visits {
		key := fmt.Sprintf("%s/%d", v.VisitID, v.Version)
		id, dup := h.stored[key]
		if !dup {
			id = fmt.Sprintf("msg-%d", len(h.stored)+1)
			h.stored[key] = id
		}
		res.Messages = append(res.Messages, tessim.Ack{ID: id, Duplicate: dup})
	}
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(res)
}

// sleeps records the waits of a Pusher without waiting.
type sleeps []time.Duration

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	*s = append(*s, d)
	return nil
}

// aBatch is the first batch of the test month with two or more visits.
func aBatch(t *testing.T) tessim.Batch {
	t.Helper()
	for _, b := range month().sent() {
		if len(b.Visits) >= 2 {
			return b
		}
	}
	t.Fatal("no batch with two visits")
	return tessim.Batch{}
}

func TestPush(t *testing.T) {
	now := time.Date(2026, 11, 23, 21, 4, 11, 0, time.UTC)
	tests := []struct {
		name      string
		answers   []answer
		wantErr   string // "" success
		status    int    // of the StatusError
		attempts  int
		sleeps    sleeps
		duplicate bool // the last answer's messages are duplicates
	}{
		{"accepted", []answer{{status: 202}}, "", 0, 1, nil, false},
		{"503 with Retry-After, then accepted", []answer{{status: 503, retryAfter: "7"}, {status: 202}}, "", 0, 2, sleeps{7 * time.Second}, false},
		{"503 with a date", []answer{{status: 503, retryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)}, {status: 202}}, "", 0, 2, sleeps{90 * time.Second}, false},
		{"503 without Retry-After backs off", []answer{{status: 503}, {status: 503}, {status: 202}}, "", 0, 3, sleeps{time.Second, 2 * time.Second}, false},
		{"503 to the end", []answer{{status: 503, retryAfter: "1", body: `{"error":"stopping"}`}}, "hub answered 503 after 5 attempt(s)", 503, 5,
			sleeps{time.Second, time.Second, time.Second, time.Second}, false},
		{"400 is not sent again", []answer{{status: 400, body: `{"error":"visits[0].clientPnr: pattern"}`}}, "hub answered 400 after 1 attempt(s): {\"error\":\"visits[0].clientPnr: pattern\"}", 400, 1, nil, false},
		{"413 is not sent again", []answer{{status: 413}}, "hub answered 413", 413, 1, nil, false},
		{"an answer without its messages", []answer{{status: 200, body: `{"messages":[]}`}}, "answer has 0 messages", 0, 1, nil, false},
	}
	batch := aBatch(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hub{t: t, answers: tt.answers, stored: map[string]string{}}
			srv := httptest.NewServer(h)
			defer srv.Close()
			var slept sleeps
			p := &tessim.Pusher{Client: srv.Client(), Sleep: slept.sleep, Now: func() time.Time { return now }}
			res, err := p.Push(t.Context(), srv.URL+tessim.SyncPath, batch)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Push: %v", err)
				}
				if len(res.Messages) != len(batch.Visits) || res.Messages[0].ID != "msg-1" {
					t.Errorf("messages %+v", res.Messages)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Push = %v, want %q", err, tt.wantErr)
			}
			var se *tessim.StatusError
			if errors.As(err, &se) != (tt.status != 0) || se != nil && (se.StatusCode != tt.status || se.Attempts != tt.attempts) {
				t.Errorf("error %#v, want status %d after %d attempts", se, tt.status, tt.attempts)
			}
			if len(h.requests) != tt.attempts || err == nil && res.Attempts != tt.attempts {
				t.Errorf("%d requests, result says %d; want %d", len(h.requests), res.Attempts, tt.attempts)
			}
			if diff := cmp.Diff(tt.sleeps, slept); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			for i, r := range h.requests {
				if r.Method != http.MethodPost || r.URL.Path != "/ingest/tes_sync" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("request %d: %s %s %s", i, r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				if string(h.bodies[i]) != string(h.bodies[0]) {
					t.Errorf("request %d: another body than the first", i)
				}
			}
		})
	}
}

// TestPushBody checks the batch on the wire: the contract's names and
// RFC 3339 times with offsets, each visit as sent.
func TestPushBody(t *testing.T) {
	batch := aBatch(t)
	h := &hub{t: t, answers: []answer{{status: 202}}, stored: map[string]string{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if _, err := tessim.Push(t.Context(), srv.Client(), srv.URL+tessim.SyncPath, batch); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(h.bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"syncId", "deviceId", "sentAt", "visits"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s in %s", k, h.bodies[0])
		}
	}
	if len(got) != 4 {
		t.Errorf("batch has %d fields, want 4", len(got))
	}
	sentAt, _ := got["sentAt"].(string)
	if _, err := time.Parse(time.RFC3339, sentAt); err != nil || !strings.HasSuffix(sentAt, "+01:00") {
		t.Errorf("sentAt %q, want RFC 3339 with +01:00", sentAt)
	}
	visits, _ := got["visits"].([]any)
	if len(visits) != len(batch.Visits) {
		t.Fatalf("%d visits sent, batch has %d", len(visits), len(batch.Visits))
	}
	v := visits[0].(map[string]any)
	for _, k := range []string{"visitId", "version", "clientPnr", "start", "end", "deviceStart", "deviceEnd", "receivedAt", "plannedVisitId", "staff", "method", "status", "insatser"} {
		if _, ok := v[k]; !ok {
			t.Errorf("visit without %s: %v", k, v)
		}
	}
	var back tessim.Batch
	if err := json.Unmarshal(h.bodies[0], &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(batch, back, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("batch on the wire (-sent +decoded):\n%s", diff)
	}
}

// TestPushResend checks a batch sent again after the hub stored it but
// could not answer: the visits come back duplicate under their first ids.
func TestPushResend(t *testing.T) {
	batch := aBatch(t)
	h := &hub{t: t, answers: []answer{{status: 202}}, stored: map[string]string{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	first, err := tessim.Push(t.Context(), srv.Client(), srv.URL+tessim.SyncPath, batch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tessim.Push(t.Context(), srv.Client(), srv.URL+tessim.SyncPath, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again.Messages {
		if !again.Messages[i].Duplicate || again.Messages[i].ID != first.Messages[i].ID {
			t.Errorf("message %d: %+v, first %+v", i, again.Messages[i], first.Messages[i])
		}
	}
}

func TestPushRefusesItself(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		batch tessim.Batch
		want  string
	}{
		{"empty batch", t.Context(), tessim.Batch{SyncID: "PHONE-0001-20261123T2104"}, "0 visits, want 1-1000"},
		{"too big", t.Context(), tessim.Batch{SyncID: "PHONE-0001-20261123T2104", Visits: make([]tessim.Visit, 1001)}, "1001 visits"},
		{"cancelled", ctx, aBatch(t), "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var slept sleeps
			p := &tessim.Pusher{Sleep: slept.sleep}
			_, err := p.Push(tt.ctx, "http://127.0.0.1:1/ingest/tes_sync", tt.batch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Push = %v, want %q", err, tt.want)
			}
			if len(slept) > 0 {
				t.Errorf("waited %v", slept)
			}
		})
	}
}
