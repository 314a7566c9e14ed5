package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

var t0 = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

func inbound(id, pipeline, sourceSystem, externalID string, at time.Time) store.InboundMessage {
	return store.InboundMessage{
		ID: id, Pipeline: pipeline, SourceAdapter: "tes", SourceSystem: sourceSystem, ExternalID: externalID,
		Caller: "TSTNMT2321000156-1024", ContentType: "application/json",
		Headers:    map[string]string{"content-type": "application/json", "source-system": sourceSystem},
		Body:       []byte(`{"external_id":"` + externalID + `"}`),
		ReceivedAt: at,
	}
}

func TestSaveInbound(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		first := inbound("m1", "tes_visits", "tes", "TES-1", t0)
		if r, err := s.SaveInbound(ctx, first); err != nil || r != (store.SaveResult{ID: "m1"}) {
			t.Fatalf("SaveInbound(first) = %+v, %v", r, err)
		}
		tests := []struct {
			name string
			msg  store.InboundMessage
			want store.SaveResult
		}{
			{"same source key, new id", inbound("m2", "tes_visits", "tes", "TES-1", t0), store.SaveResult{ID: "m1", Duplicate: true}},
			{"same source key, other pipeline", inbound("m3", "other", "tes", "TES-1", t0), store.SaveResult{ID: "m1", Duplicate: true}},
			{"same id again", inbound("m1", "tes_visits", "tes", "TES-1", t0), store.SaveResult{ID: "m1", Duplicate: true}},
			{"same external id, other system", inbound("m4", "tes_visits", "phoniro", "TES-1", t0), store.SaveResult{ID: "m4"}},
			{"no external id is never a duplicate", inbound("m5", "tes_visits", "tes", "", t0), store.SaveResult{ID: "m5"}},
			{"no external id, second", inbound("m6", "tes_visits", "tes", "", t0), store.SaveResult{ID: "m6"}},
			{"no source system", inbound("m7", "tes_visits", "", "TES-1", t0), store.SaveResult{ID: "m7"}},
			{"no source system, second", inbound("m8", "tes_visits", "", "TES-1", t0), store.SaveResult{ID: "m8"}},
		}
		for _, tt := range tests {
			got, err := s.SaveInbound(ctx, tt.msg)
			if err != nil {
				t.Fatalf("%s: SaveInbound: %v", tt.name, err)
			}
			if got != tt.want {
				t.Errorf("%s: SaveInbound = %+v, want %+v", tt.name, got, tt.want)
			}
		}

		got, err := s.Message(ctx, "m1")
		if err != nil {
			t.Fatalf("Message(m1): %v", err)
		}
		want := store.MessageRecord{
			ID: "m1", Pipeline: "tes_visits", SourceAdapter: "tes", SourceSystem: "tes", ExternalID: "TES-1",
			Caller: "TSTNMT2321000156-1024", ContentType: "application/json",
			Headers: first.Headers, Body: first.Body,
			SHA256: "", Size: int64(len(first.Body)), Status: store.StatusReceived, ReceivedAt: t0,
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.MessageRecord{}, "SHA256", "UpdatedAt")); diff != "" {
			t.Errorf("Message(m1) mismatch (-want +got):\n%s", diff)
		}
		if len(got.SHA256) != 64 {
			t.Errorf("SHA256 = %q, want 64 hex digits", got.SHA256)
		}
		if _, err := s.Message(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Message(nope) err = %v, want ErrNotFound", err)
		}

		// An id is assigned when none is given, and the hub message helper reads the headers.
		hm := knutpunkt.Message{Headers: map[string]string{
			knutpunkt.HeaderSourceSystem: "lifecare", knutpunkt.HeaderExternalID: "LC-9",
			knutpunkt.HeaderContentType: "application/xml",
		}, Body: []byte("<order/>")}
		r, err := s.SaveInbound(ctx, store.Inbound("lifecare_orders", "lifecare", hm))
		if err != nil || r.ID == "" || r.Duplicate {
			t.Fatalf("SaveInbound(no id) = %+v, %v", r, err)
		}
		m, err := s.Message(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.SourceSystem != "lifecare" || m.ExternalID != "LC-9" || m.ContentType != "application/xml" || string(m.Body) != "<order/>" {
			t.Errorf("Message from Inbound = %+v", m)
		}
	})
}

func TestSaveInboundConcurrentDuplicates(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		const n = 16
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			results []store.SaveResult
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.SaveInbound(ctx, inbound(fmt.Sprintf("race-%d", i), "p", "tes", "TES-RACE", t0))
				if err != nil {
					t.Errorf("SaveInbound #%d: %v", i, err)
					return
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}()
		}
		wg.Wait()
		var stored []string
		for _, r := range results {
			if !r.Duplicate {
				stored = append(stored, r.ID)
			}
		}
		if len(stored) != 1 {
			t.Fatalf("%d saves were not duplicates (%v), want exactly 1", len(stored), stored)
		}
		for _, r := range results {
			if r.ID != stored[0] {
				t.Errorf("SaveInbound returned id %s, want the stored %s", r.ID, stored[0])
			}
		}
		var count int
		if err := db.raw.QueryRow(`SELECT COUNT(*) FROM messages WHERE external_id = 'TES-RACE'`).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Errorf("%d rows stored for one key, want 1", count)
		}
	})
}

func TestAttemptsAndDeadLetters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		if _, err := s.SaveInbound(ctx, inbound("m1", "tes_visits", "tes", "TES-1", t0)); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			step string
			err  error
		}{
			{"validate", nil},
			{"map", errors.New("lookup insats DUSCH: connection refused")},
			{"map", errors.New("lookup insats DUSCH: timeout")},
			{"map", nil},
		}
		for _, st := range steps {
			if err := s.RecordAttempt(ctx, "m1", "tes_visits", st.step, st.err); err != nil {
				t.Fatalf("RecordAttempt(%s): %v", st.step, err)
			}
		}
		got, err := s.Attempts(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Attempt{
			{MessageID: "m1", Pipeline: "tes_visits", Step: "validate", AttemptNo: 1},
			{MessageID: "m1", Pipeline: "tes_visits", Step: "map", AttemptNo: 1, Error: "lookup insats DUSCH: connection refused"},
			{MessageID: "m1", Pipeline: "tes_visits", Step: "map", AttemptNo: 2, Error: "lookup insats DUSCH: timeout"},
			{MessageID: "m1", Pipeline: "tes_visits", Step: "map", AttemptNo: 3},
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Attempt{}, "ID", "At")); diff != "" {
			t.Errorf("Attempts mismatch (-want +got):\n%s", diff)
		}
		if err := s.RecordAttempt(ctx, "nope", "p", "map", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecordAttempt(unknown message) err = %v, want ErrNotFound", err)
		}

		dlID, err := s.DeadLetter(ctx, store.DeadLetterEntry{
			MessageID: "m1", Pipeline: "tes_visits", Step: "validate", Field: "/duration_minutes",
			Reason: "at '/duration_minutes': maximum: got 2000, want 1440",
		})
		if err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
		dls, err := s.ListDeadLetters(ctx, store.DeadLetterFilter{MessageID: "m1"})
		if err != nil {
			t.Fatal(err)
		}
		wantDL := []store.DeadLetterRecord{{
			ID: dlID, MessageID: "m1", Pipeline: "tes_visits", Step: "validate", Field: "/duration_minutes",
			Reason: "at '/duration_minutes': maximum: got 2000, want 1440",
		}}
		if diff := cmp.Diff(wantDL, dls, cmpopts.IgnoreFields(store.DeadLetterRecord{}, "At")); diff != "" {
			t.Errorf("ListDeadLetters mismatch (-want +got):\n%s", diff)
		}
		if m, _ := s.Message(ctx, "m1"); m.Status != store.StatusDead {
			t.Errorf("status after DeadLetter = %q, want dead", m.Status)
		}
		if _, err := s.DeadLetter(ctx, store.DeadLetterEntry{MessageID: "nope", Pipeline: "p", Step: "s", Reason: "r"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeadLetter(unknown message) err = %v, want ErrNotFound", err)
		}
		if _, err := s.DeadLetter(ctx, store.DeadLetterEntry{MessageID: "m1", Pipeline: "p", Step: "s"}); err == nil {
			t.Error("DeadLetter without a reason succeeded")
		}
	})
}

func TestReplay(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		if _, err := s.SaveInbound(ctx, inbound("m1", "tes_visits", "tes", "TES-1", t0)); err != nil {
			t.Fatal(err)
		}
		dlID, err := s.DeadLetter(ctx, store.DeadLetterEntry{MessageID: "m1", Pipeline: "tes_visits", Step: "map", Reason: "no such insats"})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ListDeadLetters(ctx, store.DeadLetterFilter{Unresolved: true}); len(got) != 1 {
			t.Fatalf("unresolved dead letters = %d, want 1", len(got))
		}
		// The replay is a new message (no source key: it is the hub's own resend).
		replay := inbound("m1-replay", "tes_visits", "", "", t0.Add(time.Hour))
		if _, err := s.SaveInbound(ctx, replay); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkReplayed(ctx, dlID, "m1-replay"); err != nil {
			t.Fatalf("MarkReplayed: %v", err)
		}
		if err := s.MarkProcessed(ctx, "m1-replay"); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListDeadLetters(ctx, store.DeadLetterFilter{Pipeline: "tes_visits"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ResolvedAt == nil || got[0].ReplayedMessageID != "m1-replay" {
			t.Errorf("dead letter after replay = %+v, want resolved by m1-replay", got)
		}
		if got, _ := s.ListDeadLetters(ctx, store.DeadLetterFilter{Unresolved: true}); len(got) != 0 {
			t.Errorf("unresolved dead letters after replay = %+v, want none", got)
		}
		if m, _ := s.Message(ctx, "m1"); m.Status != store.StatusReplayed {
			t.Errorf("original status = %q, want replayed", m.Status)
		}
		if err := s.MarkReplayed(ctx, "nope", "m1-replay"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkReplayed(unknown) err = %v, want ErrNotFound", err)
		}
		if err := s.MarkProcessed(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkProcessed(unknown) err = %v, want ErrNotFound", err)
		}
	})
}

func TestListMessagesAndCounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		// m0..m5: alternate pipelines, one minute apart; m0 oldest.
		for i := range 6 {
			p := "tes_visits"
			if i%2 == 1 {
				p = "lifecare_orders"
			}
			if _, err := s.SaveInbound(ctx, inbound(fmt.Sprintf("m%d", i), p, "src", fmt.Sprintf("E%d", i), t0.Add(time.Duration(i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{"m0", "m2"} {
			if err := s.MarkProcessed(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.DeadLetter(ctx, store.DeadLetterEntry{MessageID: "m3", Pipeline: "lifecare_orders", Step: "validate", Reason: "bad"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			f    store.MessageFilter
			want []string
		}{
			{"all, newest first", store.MessageFilter{}, []string{"m5", "m4", "m3", "m2", "m1", "m0"}},
			{"pipeline", store.MessageFilter{Pipeline: "tes_visits"}, []string{"m4", "m2", "m0"}},
			{"status", store.MessageFilter{Status: store.StatusProcessed}, []string{"m2", "m0"}},
			{"pipeline and status", store.MessageFilter{Pipeline: "lifecare_orders", Status: store.StatusReceived}, []string{"m5", "m1"}},
			{"dead", store.MessageFilter{Status: store.StatusDead}, []string{"m3"}},
			{"limit", store.MessageFilter{Limit: 2}, []string{"m5", "m4"}},
			{"before (next page)", store.MessageFilter{Before: t0.Add(4 * time.Minute), Limit: 2}, []string{"m3", "m2"}},
			{"source system", store.MessageFilter{SourceSystem: "other"}, nil},
		}
		for _, tt := range tests {
			got, err := s.ListMessages(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var ids []string
			for _, m := range got {
				ids = append(ids, m.ID)
				if m.Body != nil {
					t.Errorf("%s: ListMessages returned a body for %s", tt.name, m.ID)
				}
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("ListMessages(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		}

		counts, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := map[store.Status]int64{store.StatusReceived: 3, store.StatusProcessed: 2, store.StatusDead: 1, store.StatusReplayed: 0}
		if diff := cmp.Diff(wantCounts, counts); diff != "" {
			t.Errorf("Counts mismatch (-want +got):\n%s", diff)
		}
		per, err := s.PipelineCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantPer := map[string]map[store.Status]int64{
			"tes_visits":      {store.StatusProcessed: 2, store.StatusReceived: 1},
			"lifecare_orders": {store.StatusReceived: 2, store.StatusDead: 1},
		}
		if diff := cmp.Diff(wantPer, per); diff != "" {
			t.Errorf("PipelineCounts mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestTxRollsBackOnError(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.SaveInbound(ctx, s.PrepareInbound(inbound("m1", "p", "tes", "TES-1", t0))); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx err = %v, want boom", err)
		}
		if _, err := s.Message(ctx, "m1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("message from a rolled-back Tx: err = %v, want ErrNotFound", err)
		}
	})
}

func TestContextCancellation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.SaveInbound(ctx, inbound("m1", "p", "tes", "TES-1", t0)); !errors.Is(err, context.Canceled) {
			t.Errorf("SaveInbound(cancelled) err = %v, want context.Canceled", err)
		}
		if _, err := s.ListMessages(ctx, store.MessageFilter{}); !errors.Is(err, context.Canceled) {
			t.Errorf("ListMessages(cancelled) err = %v, want context.Canceled", err)
		}
		w := s.NewWriter(store.WriterOptions{})
		defer w.Close()
		ran := false
		if err := w.Do(ctx, func(tx *store.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Writer.Do(cancelled) err = %v, want context.Canceled", err)
		}
		if ran {
			t.Error("Writer.Do ran an op whose context was already cancelled")
		}
		if _, err := s.Message(context.Background(), "m1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("message saved despite cancelled context: err = %v", err)
		}
	})
}

func TestSaveInboundInitialStatus(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		tests := []struct {
			name   string
			status store.Status
			want   store.Status
			ok     bool
		}{
			{"default", "", store.StatusReceived, true},
			{"processed in the same transaction", store.StatusProcessed, store.StatusProcessed, true},
			{"dead is not an initial status", store.StatusDead, "", false},
		}
		for i, tt := range tests {
			m := inbound(fmt.Sprintf("s%d", i), "p", "tes", fmt.Sprintf("S%d", i), t0)
			m.Status = tt.status
			_, err := s.SaveInbound(ctx, m)
			if (err == nil) != tt.ok {
				t.Fatalf("%s: SaveInbound err = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if !tt.ok {
				continue
			}
			got, err := s.Message(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want {
				t.Errorf("%s: status %q, want %q", tt.name, got.Status, tt.want)
			}
		}
	})
}

// Migration 00004 moves bodies out of messages into message_bodies, and back
// down again, with every byte.
func TestBodiesMigrateBothWays(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		bodies := map[string][]byte{"m1": []byte(`{"a":1}`), "m2": {}, "m3": bytes.Repeat([]byte{0, 0xff, 'x'}, 5000)}
		for id, b := range bodies {
			m := inbound(id, "p", "src", "E-"+id, t0)
			m.Body = b
			if _, err := s.SaveInbound(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		stored := map[string][]byte{} // as stored: sealed
		for id := range bodies {
			var b []byte
			if err := db.raw.QueryRow(`SELECT body FROM message_bodies WHERE message_id = '` + id + `'`).Scan(&b); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			stored[id] = b
		}
		if err := s.MigrateDownTo(ctx, 3); err != nil {
			t.Fatalf("down to 3: %v", err)
		}
		for id, want := range stored {
			var got []byte
			if err := db.raw.QueryRow(`SELECT body FROM messages WHERE id = '` + id + `'`).Scan(&got); err != nil {
				t.Fatalf("%s after down: %v", id, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s after down: body %d bytes, want %d", id, len(got), len(want))
			}
		}
		if err := s.MigrateUp(ctx); err != nil {
			t.Fatalf("up again: %v", err)
		}
		for id, want := range bodies {
			m, err := s.Message(ctx, id)
			if err != nil {
				t.Fatalf("%s after up: %v", id, err)
			}
			if !bytes.Equal(m.Body, want) {
				t.Errorf("%s after up: body %d bytes, want %d", id, len(m.Body), len(want))
			}
		}
	})
}
