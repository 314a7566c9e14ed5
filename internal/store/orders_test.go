package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// createdEvent is the canonical schema's created example, decoded as the pipeline would.
func createdEvent(t testing.TB) homecare.OrderEvent {
	t.Helper()
	b, err := os.ReadFile("../../schemas/canonical/testdata/valid/order_event_created.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev homecare.OrderEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode order_event_created.json: %v", err)
	}
	return ev
}

// orderEvent returns an event of type typ for order ext, occurring on 2026-11-dd.
func orderEvent(t testing.TB, ext string, typ homecare.OrderEventType, day int) homecare.OrderEvent {
	t.Helper()
	ev := homecare.OrderEvent{SourceSystem: "lifecare", EventID: fmt.Sprintf("%s-%s-%d", ext, typ, day), Type: typ,
		OccurredAt: time.Date(2026, 11, day, 9, 0, 0, 0, time.UTC), Order: homecare.OrderSnapshot{ExternalID: ext}}
	switch typ {
	case homecare.OrderCreated:
		c := createdEvent(t)
		ev.Order = c.Order
		ev.Order.ExternalID = ext
	case homecare.OrderChanged:
		ev.Order.OrderText = "Ändrat: dusch tre gånger i veckan."
		ev.Order.Insatser = []homecare.OrderInsats{{Code: "DUSCH", Text: "Dusch", GrantedMinutes: 60, Period: homecare.PeriodWeek, TimesPerPeriod: 3}}
	case homecare.OrderPaused:
		ev.Pause = &homecare.OrderPause{From: mustDate(t, "2026-11-20"), To: mustDate(t, "2026-11-30"), Reason: homecare.PauseHospital, Planned: false}
	case homecare.OrderEnded:
		ev.End = &homecare.OrderEnd{Date: mustDate(t, "2027-01-31"), Reason: homecare.EndMoved}
	case homecare.OrderExecuted:
		ev.ExecutedDate = mustDate(t, "2026-11-10")
	case homecare.OrderResumed:
		ev.ResumedDate = mustDate(t, "2026-12-01")
	case homecare.OrderRejected:
		ev.Reason = "Ingen kapacitet."
	}
	return ev
}

var cmpOrder = cmp.Options{cmpVisit, cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)}

func apply(t *testing.T, s *store.Store, ev homecare.OrderEvent) homecare.Order {
	t.Helper()
	r, err := s.ApplyOrderEvent(context.Background(), ev, "")
	if err != nil {
		t.Fatalf("ApplyOrderEvent(%s %s): %v", ev.Type, ev.EventID, err)
	}
	if r.Duplicate {
		t.Fatalf("ApplyOrderEvent(%s %s): unexpected duplicate", ev.Type, ev.EventID)
	}
	return r.Order
}

func TestOrderLifecycleStored(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		const ext = "BEST-2026-0101"
		var (
			want   homecare.Order // built by the pure state machine beside the store
			events []homecare.OrderEvent
		)
		steps := []struct {
			typ    homecare.OrderEventType
			day    int
			status homecare.OrderStatus
		}{
			{homecare.OrderCreated, 2, homecare.OrderStatusSent},
			{homecare.OrderAcknowledged, 3, homecare.OrderStatusAcknowledged},
			{homecare.OrderExecuted, 10, homecare.OrderStatusExecuted},
			{homecare.OrderChanged, 11, homecare.OrderStatusExecuted},
			{homecare.OrderPaused, 19, homecare.OrderStatusPaused},
			{homecare.OrderResumed, 30, homecare.OrderStatusExecuted},
			{homecare.OrderEnded, 30, homecare.OrderStatusEnded},
		}
		for _, st := range steps {
			ev := orderEvent(t, ext, st.typ, st.day)
			var err error
			if want, err = want.Apply(ev); err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
			got := apply(t, s, ev)
			want.ID = got.ID
			if got.Status != st.status {
				t.Errorf("after %s: status %s, want %s", st.typ, got.Status, st.status)
			}
			if diff := cmp.Diff(want, got, cmpOrder); diff != "" {
				t.Errorf("ApplyOrderEvent(%s) result mismatch (-want +got):\n%s", st.typ, diff)
			}
			read, err := s.Order(ctx, "lifecare", ext)
			if err != nil {
				t.Fatalf("Order: %v", err)
			}
			if diff := cmp.Diff(want, read, cmpOrder); diff != "" {
				t.Errorf("Order after %s mismatch (-want +got):\n%s", st.typ, diff)
			}
		}
		if want.Client.FamilyName != "Testsson" || want.EndedAt != mustDate(t, "2027-01-31") || want.ExecutedAt != mustDate(t, "2026-11-10") ||
			want.Version != len(steps) || len(want.Insatser) != 1 {
			t.Errorf("final order: %+v", want)
		}

		recs, err := s.OrderEvents(ctx, want.ID)
		if err != nil {
			t.Fatalf("OrderEvents: %v", err)
		}
		if len(recs) != len(events) {
			t.Fatalf("OrderEvents returned %d, want %d", len(recs), len(events))
		}
		for i, r := range recs {
			if diff := cmp.Diff(events[i], r.Event, cmpOrder); diff != "" {
				t.Errorf("event %d mismatch (-applied +stored):\n%s", i, diff)
			}
			if r.OrderVersion != i+1 || r.StatusAfter != steps[i].status || r.OrderID != want.ID || r.ReceivedAt.IsZero() {
				t.Errorf("event %d: version %d, status %s, order %s", i, r.OrderVersion, r.StatusAfter, r.OrderID)
			}
		}

		// The first set of insatser is superseded, not deleted.
		var sets int
		if err := db.raw.QueryRow(`SELECT COUNT(DISTINCT version) FROM order_insatser`).Scan(&sets); err != nil || sets != 2 {
			t.Errorf("insatser sets = %d, %v; want 2 (created, changed)", sets, err)
		}
		// Append-only.
		if _, err := db.raw.Exec(`UPDATE order_events SET type = 'changed'`); err == nil {
			t.Error("UPDATE order_events succeeded, want it refused")
		}
		if _, err := db.raw.Exec(`DELETE FROM order_events`); err == nil {
			t.Error("DELETE FROM order_events succeeded, want it refused")
		}
	})
}

func TestApplyOrderEventDuplicate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		created := orderEvent(t, "BEST-1", homecare.OrderCreated, 2)
		first := apply(t, s, created)
		ack := orderEvent(t, "BEST-1", homecare.OrderAcknowledged, 3)
		acked := apply(t, s, ack)
		for _, ev := range []homecare.OrderEvent{created, ack} {
			r, err := s.ApplyOrderEvent(ctx, ev, "")
			if err != nil {
				t.Fatalf("ApplyOrderEvent(%s again): %v", ev.Type, err)
			}
			if !r.Duplicate || r.Order.ID != first.ID || r.Order.Version != acked.Version {
				t.Errorf("ApplyOrderEvent(%s again) = %+v, want the stored order as a duplicate", ev.Type, r)
			}
		}
		// The same order created under another event id is a duplicate order, refused.
		again := created
		again.EventID = "another-id"
		_, err := s.ApplyOrderEvent(ctx, again, "")
		var te *homecare.TransitionError
		if !errors.As(err, &te) || te.Event != homecare.OrderCreated || te.From != homecare.OrderStatusAcknowledged {
			t.Errorf("second create = %v, want a TransitionError", err)
		}
		// An event id reused for another order is an error, not a duplicate.
		other := orderEvent(t, "BEST-2", homecare.OrderCreated, 2)
		other.EventID = created.EventID
		if r, err := s.ApplyOrderEvent(ctx, other, ""); err == nil {
			t.Errorf("reused event id = %+v, want an error", r)
		}
		var n int
		if err := db.raw.QueryRow(`SELECT COUNT(*) FROM order_events`).Scan(&n); err != nil || n != 2 {
			t.Errorf("order_events = %d, %v; want 2", n, err)
		}
	})
}

// TestApplyOrderEventConcurrent races the same create (and its duplicate deliveries) from
// several goroutines: exactly one applies.
func TestApplyOrderEventConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		const n = 6
		// race sends ev n times at once, every other one under another event id (a second
		// create or execution: refused), and checks that exactly one applied.
		race := func(ev homecare.OrderEvent) {
			t.Helper()
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				applied int
				errs    []error
			)
			for i := range n {
				wg.Go(func() {
					e := ev
					if i%2 == 1 {
						e.EventID = fmt.Sprintf("other-%s-%d", ev.Type, i)
						if e.Type == homecare.OrderExecuted {
							// The same date again would be a repeat, taken as one.
							e.ExecutedDate = e.ExecutedDate.AddDays(i)
						}
					}
					r, err := s.ApplyOrderEvent(ctx, e, "")
					mu.Lock()
					defer mu.Unlock()
					var te *homecare.TransitionError
					switch {
					case err == nil && !r.Duplicate:
						applied++
					case err == nil, errors.As(err, &te):
					default:
						errs = append(errs, err)
					}
				})
			}
			wg.Wait()
			if applied != 1 || len(errs) > 0 {
				t.Errorf("%s: applied %d times (want 1), errors %v", ev.Type, applied, errs)
			}
		}
		race(orderEvent(t, "BEST-RACE", homecare.OrderCreated, 2))
		race(orderEvent(t, "BEST-RACE", homecare.OrderExecuted, 3))
		var orders, events int
		if err := db.raw.QueryRow(`SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM order_events)`).Scan(&orders, &events); err != nil {
			t.Fatal(err)
		}
		if orders != 1 || events != 2 {
			t.Errorf("orders %d, events %d; want 1 and 2", orders, events)
		}
	})
}

func TestApplyOrderEventRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		count := func() (n int) {
			t.Helper()
			if err := db.raw.QueryRow(`SELECT COUNT(*) FROM order_events`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// A change for an order not seen yet: the caller may wait for the create.
		_, err := s.ApplyOrderEvent(ctx, orderEvent(t, "BEST-NEW", homecare.OrderChanged, 3), "")
		if !errors.Is(err, homecare.ErrUnknownOrder) {
			t.Errorf("change for unknown order = %v, want ErrUnknownOrder", err)
		}
		if _, err := s.Order(ctx, "lifecare", "BEST-NEW"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Order(unknown) = %v, want ErrNotFound", err)
		}

		// An end before the order's execution.
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderCreated, 2))
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderExecuted, 4)) // executed 2026-11-10
		early := orderEvent(t, "BEST-1", homecare.OrderEnded, 5)
		early.End.Date = mustDate(t, "2026-11-09")
		_, err = s.ApplyOrderEvent(ctx, early, "")
		var te *homecare.TransitionError
		if !errors.As(err, &te) || te.Event != homecare.OrderEnded || !strings.Contains(err.Error(), "before the order was executed") {
			t.Errorf("end before execution = %v, want a TransitionError", err)
		}

		// After the end, nothing applies but the provider's receipt of it.
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderEnded, 6))
		before := count()
		for _, typ := range []homecare.OrderEventType{homecare.OrderChanged, homecare.OrderExecuted, homecare.OrderEnded} {
			ev := orderEvent(t, "BEST-1", typ, 7)
			ev.EventID += "-after-end"
			// After the end took effect (the day after 2027-01-31): an event before it applies.
			ev.OccurredAt = time.Date(2027, 2, 2, 9, 0, 0, 0, time.UTC)
			ev.ExecutedDate = mustDate(t, "2027-02-02")
			_, err := s.ApplyOrderEvent(ctx, ev, "")
			if !errors.As(err, &te) || te.From != homecare.OrderStatusEnded {
				t.Errorf("%s after end = %v, want a TransitionError from ended", typ, err)
			}
		}
		if got := count(); got != before {
			t.Errorf("refused events wrote %d rows", got-before)
		}
		o, err := s.Order(ctx, "lifecare", "BEST-1")
		if err != nil || o.Status != homecare.OrderStatusEnded || o.Version != 3 {
			t.Errorf("Order after refusals = %s v%d, %v; want ended v3", o.Status, o.Version, err)
		}
		receipt := orderEvent(t, "BEST-1", homecare.OrderAcknowledged, 7)
		receipt.EventID += "-receipt-of-end"
		if _, err := s.ApplyOrderEvent(ctx, receipt, ""); err != nil {
			t.Errorf("acknowledgement of the end = %v, want it recorded", err)
		}
		if o, err := s.Order(ctx, "lifecare", "BEST-1"); err != nil || o.Status != homecare.OrderStatusEnded {
			t.Errorf("Order after the receipt of its end = %s, %v; want still ended", o.Status, err)
		}

		// An invalid event is neither unknown nor a transition.
		bad := orderEvent(t, "BEST-1", homecare.OrderPaused, 8)
		bad.Pause = nil
		if _, err := s.ApplyOrderEvent(ctx, bad, ""); err == nil || errors.As(err, &te) || errors.Is(err, homecare.ErrUnknownOrder) {
			t.Errorf("invalid event = %v", err)
		}
	})
}

// TestOrdersPersonalDataEncrypted looks at every column of every row the orders wrote: the
// client's names, address, phone, contacts, person id and the order text are not there in
// clear.
func TestOrdersPersonalDataEncrypted(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderCreated, 2))
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderChanged, 3))
		apply(t, s, orderEvent(t, "BEST-1", homecare.OrderRejected, 4))
		secrets := []string{"Testsson", "Testa", "Provgatan", "Demostad", "123 45", "010-000", "Anhörig", "dotter",
			"förmiddagen", "Ändrat", "kapacitet", testPNR1, "4001042383"}
		for _, table := range []string{"orders", "order_events", "order_insatser", "clients"} {
			rows, err := db.raw.QueryContext(ctx, `SELECT * FROM `+table)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			n := 0
			for rows.Next() {
				n++
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					var text string
					switch x := v.(type) {
					case []byte:
						text = string(x)
					default:
						text = fmt.Sprint(x)
					}
					for _, sec := range secrets {
						if strings.Contains(text, sec) {
							t.Errorf("%s.%s holds %q in clear", table, cols[i], sec)
						}
					}
				}
			}
			rows.Close()
			if n == 0 {
				t.Errorf("table %s is empty", table)
			}
		}
		// The store itself reads it all back.
		o, err := s.Order(ctx, "lifecare", "BEST-1")
		if err != nil {
			t.Fatal(err)
		}
		if o.Client.FamilyName != "Testsson" || o.Client.Address.Street != "Provgatan 1" || len(o.Client.Contacts) != 1 ||
			o.Client.PersonID.Reveal() != testPNR1 || o.RejectReason != "Ingen kapacitet." || !strings.HasPrefix(o.OrderText, "Ändrat") {
			t.Errorf("Order did not decrypt: %+v", o)
		}
	})
}

func TestOrderProtectedIdentity(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		ev := orderEvent(t, "BEST-P", homecare.OrderCreated, 2)
		ev.Order.Client.ProtectedIdentity = true
		apply(t, s, ev)
		c, err := s.ClientByPersonID(ctx, ev.Order.Client.PersonID)
		if err != nil {
			t.Fatal(err)
		}
		o, err := s.Order(ctx, "lifecare", "BEST-P")
		if err != nil {
			t.Fatal(err)
		}
		if !c.ProtectedIdentity || !o.Client.ProtectedIdentity {
			t.Errorf("protected identity: client %v, order %v; want both true", c.ProtectedIdentity, o.Client.ProtectedIdentity)
		}
		if c.GivenName != "" || c.FamilyName != "" {
			t.Errorf("client row got names from the order: %q %q", c.GivenName, c.FamilyName)
		}
	})
}

func TestListOrders(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		pids := homecare.OfficialTestPersonIDs()
		// create makes order ext for the i-th test client, decided on decided, for provider.
		create := func(i int, ext, decided, provider string) {
			t.Helper()
			ev := orderEvent(t, ext, homecare.OrderCreated, 2)
			ev.Order.Client.PersonID, ev.Order.Client.PersonIDType = pids[i], pids[i].Type()
			ev.Order.DecidedAt = mustDate(t, decided)
			ev.Order.ProviderID = provider
			apply(t, s, ev)
		}
		create(0, "LATE", "2026-06-30", "omsorg-norr")    // deadline 2026-09-30: overdue
		create(1, "JAN31", "2026-07-31", "omsorg-norr")   // deadline 2026-10-31: the last day, not overdue
		create(2, "FRESH", "2026-10-01", "omsorg-syd")    // deadline 2027-01-01
		create(3, "EXECUTED", "2026-01-01", "omsorg-syd") // executed: no clock
		create(4, "PAUSED", "2026-05-01", "omsorg-norr")  // executed, then paused since 2026-07-15
		create(5, "ENDED", "2026-01-01", "omsorg-norr")   // ended unexecuted: no clock
		for _, ev := range []homecare.OrderEvent{
			orderEvent(t, "EXECUTED", homecare.OrderExecuted, 10),
			orderEvent(t, "PAUSED", homecare.OrderExecuted, 10),
			orderEvent(t, "ENDED", homecare.OrderEnded, 10),
		} {
			apply(t, s, ev)
		}
		pause := orderEvent(t, "PAUSED", homecare.OrderPaused, 11)
		pause.Pause = &homecare.OrderPause{From: mustDate(t, "2026-07-15"), Reason: homecare.PauseShortStay}
		apply(t, s, pause)

		names := func(os []homecare.Order) (out []string) {
			for _, o := range os {
				out = append(out, o.ExternalID)
			}
			return out
		}
		list, err := s.ListOrders(ctx, store.OrderFilter{Provider: "omsorg-norr"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"LATE", "JAN31", "PAUSED", "ENDED"}, names(list)); diff != "" {
			t.Errorf("ListOrders(omsorg-norr) mismatch (-want +got):\n%s", diff)
		}
		list, err = s.ListOrders(ctx, store.OrderFilter{Status: homecare.OrderStatusSent, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"LATE", "JAN31"}, names(list)); diff != "" {
			t.Errorf("ListOrders(sent, limit 2) mismatch (-want +got):\n%s", diff)
		}
		for _, o := range list {
			if len(o.Insatser) != 2 {
				t.Errorf("%s: %d insatser, want 2", o.ExternalID, len(o.Insatser))
			}
		}
	})
}

// TestApplyOrderEventInWriter applies a create and its change in one group-commit batch with
// their messages, beside a refused event that rolls back alone.
func TestApplyOrderEventInWriter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		w := s.NewWriter(store.WriterOptions{MaxDelay: 50 * time.Millisecond})
		defer w.Close()
		evs := []homecare.OrderEvent{
			orderEvent(t, "BEST-W", homecare.OrderCreated, 2),
			orderEvent(t, "BEST-W", homecare.OrderChanged, 3),
			orderEvent(t, "BEST-UNKNOWN", homecare.OrderAcknowledged, 3),
		}
		errs := make([]error, len(evs))
		var wg sync.WaitGroup
		for i, ev := range evs {
			// Ordered per client: each op is queued before the next starts.
			done := make(chan struct{})
			started := sync.OnceFunc(func() { close(done) }) // a failed batch runs its ops again
			wg.Go(func() {
				errs[i] = w.Do(ctx, func(tx *store.Tx) error {
					started()
					saved, err := tx.SaveInbound(ctx, s.PrepareInbound(store.InboundMessage{Pipeline: "lifecare_orders",
						SourceSystem: ev.SourceSystem, ExternalID: ev.EventID, Body: []byte("{}")}))
					if err != nil {
						return err
					}
					_, err = tx.ApplyOrderEvent(ctx, ev, saved.ID)
					return err
				})
			})
			<-done
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], homecare.ErrUnknownOrder) {
			t.Fatalf("Do errors = %v", errs)
		}
		o, err := s.Order(ctx, "lifecare", "BEST-W")
		if err != nil {
			t.Fatal(err)
		}
		if o.Version != 2 || len(o.Insatser) != 1 || o.Insatser[0].GrantedMinutes != 60 {
			t.Errorf("order after batch: v%d %+v", o.Version, o.Insatser)
		}
		recs, err := s.OrderEvents(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].MessageID == "" || recs[1].MessageID == "" {
			t.Errorf("events = %+v, want 2 with their message ids", recs)
		}
		var msgs int
		if err := db.raw.QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&msgs); err != nil || msgs != 2 {
			t.Errorf("messages = %d, %v; want 2 (the refused op's rolled back)", msgs, err)
		}
	})
}
