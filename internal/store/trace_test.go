package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Related finds the messages one inbound message caused by its
// correlation id, and nothing of another's; DeadLetterFilter.Since keeps
// the recent ones.
func TestRelatedAndDeadSince(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		save := func(id, pipeline, corr string, at time.Time) {
			m := inbound(id, pipeline, "", "", at)
			if corr != "" {
				m.Headers["correlation-id"] = corr
			}
			if _, err := s.SaveInbound(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		save("in1", "lifecare_orders", "", t0)
		save("in1.provider_omsorg_norr", "provider_omsorg_norr", "in1", t0.Add(time.Second))
		save("in1.provider_omsorg_norr.to0", "provider_omsorg_norr", "in1", t0.Add(2*time.Second))
		save("reply-1", "provider_replies", "in1", t0.Add(3*time.Second))
		save("in2", "lifecare_orders", "", t0.Add(4*time.Second))
		save("in2.provider_omsorg_norr", "provider_omsorg_norr", "in2", t0.Add(5*time.Second))

		got, err := s.Related(ctx, "in1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		if want := []string{"in1.provider_omsorg_norr", "in1.provider_omsorg_norr.to0", "reply-1"}; !slices.Equal(ids, want) {
			t.Errorf("Related(in1) = %v, want %v", ids, want)
		}
		// From a derived message, the trace is the same family.
		if got, _ := s.Related(ctx, "reply-1"); len(got) != 3 || got[0].ID != "in1" {
			t.Errorf("Related(reply-1) = %d messages, first %v; want in1 and its two others", len(got), got)
		}
		if _, err := s.Related(ctx, "nope"); err == nil {
			t.Error("Related(unknown) succeeded")
		}

		for _, id := range []string{"in1", "in2"} {
			if _, err := s.DeadLetter(ctx, store.DeadLetterEntry{MessageID: id, Pipeline: "lifecare_orders", Step: "validate", Reason: "bad"}); err != nil {
				t.Fatal(err)
			}
		}
		all, _ := s.ListDeadLetters(ctx, store.DeadLetterFilter{})
		if len(all) != 2 {
			t.Fatalf("dead letters = %d, want 2", len(all))
		}
		recent, err := s.ListDeadLetters(ctx, store.DeadLetterFilter{Since: time.Now().Add(time.Hour)})
		if err != nil || len(recent) != 0 {
			t.Errorf("dead letters since an hour ahead = %d %v, want none", len(recent), err)
		}
		recent, _ = s.ListDeadLetters(ctx, store.DeadLetterFilter{Since: time.Now().Add(-time.Hour)})
		if len(recent) != 2 {
			t.Errorf("dead letters since an hour ago = %d, want 2", len(recent))
		}
	})
}

// ReceivedPage walks the received messages oldest first, a page at a time,
// across messages received at the same instant, and leaves out finished ones.
func TestReceivedPage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		at := []time.Time{t0, t0, t0, t0.Add(time.Microsecond), t0.Add(time.Second), t0.Add(time.Second), t0.Add(time.Hour)}
		ids := []string{"c", "a", "b", "d", "f", "e", "g"}
		for i, id := range ids {
			if _, err := s.SaveInbound(ctx, inbound(id, "p", "", "", at[i])); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkProcessed(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveInbound(ctx, inbound("other", "q", "", "", t0)); err != nil {
			t.Fatal(err)
		}
		var got []string
		var c store.PendingCursor
		for pages := 0; ; pages++ {
			page, next, err := s.ReceivedPage(ctx, "p", c, 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 2 || pages > 10 {
				break
			}
			c = next
		}
		if want := []string{"a", "c", "d", "e", "f", "g"}; !slices.Equal(got, want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
	})
}
