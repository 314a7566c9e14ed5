package homecare_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

const (
	orderEventSchemaFile = "../../schemas/canonical/order_event.schema.json"
	orderCreatedFile     = "../../schemas/canonical/testdata/valid/order_event_created.json"
	orderEndedFile       = "../../schemas/canonical/testdata/valid/order_event_ended.json"
	orderCreatedV11File  = "../../schemas/canonical/testdata/valid/order_event_created_v11.json"
	orderResumedFile     = "../../schemas/canonical/testdata/valid/order_event_resumed.json"
)

var cmpPersonID = cmp.Comparer(func(a, b homecare.PersonID) bool { return a == b })

func loadOrderEvent(t *testing.T, file string) (homecare.OrderEvent, []byte) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev homecare.OrderEvent
	if err := decodeStrict(t, b, &ev); err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return ev, b
}

func date(t testing.TB, s string) homecare.Date {
	t.Helper()
	d, err := homecare.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOrderEventJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, file := range []string{orderCreatedFile, orderEndedFile, orderCreatedV11File, orderResumedFile} {
		ev, in := loadOrderEvent(t, file)
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: re-encoded event mismatch (-file +encoded):\n%s", file, diff)
		}
		if err := ev.Validate(homecare.ValidateOptions{RequireTestPersonIDs: true}); err != nil {
			t.Errorf("%s: Validate(test rules): %v", file, err)
		}
	}
}

// TestOrderEventMatchesSchema checks that every object in order_event.schema.json has exactly
// the JSON fields of its Go struct.
func TestOrderEventMatchesSchema(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(orderEventSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	type node struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Items      *struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"items"`
	}
	var root node
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	// props follows a path of property names from the root and returns the object's (or the
	// array items') property names.
	props := func(path ...string) []string {
		n := root
		for _, p := range path {
			raw, ok := n.Properties[p]
			if !ok {
				t.Fatalf("schema has no property %s", strings.Join(path, "."))
			}
			n = node{}
			if err := json.Unmarshal(raw, &n); err != nil {
				t.Fatal(err)
			}
			if n.Items != nil {
				n = node{Properties: n.Items.Properties}
			}
		}
		return keys(n.Properties)
	}
	tests := []struct {
		name   string
		typ    reflect.Type
		schema []string
	}{
		{"order_event", reflect.TypeFor[homecare.OrderEvent](), props()},
		{"order", reflect.TypeFor[homecare.OrderSnapshot](), props("order")},
		{"client", reflect.TypeFor[homecare.OrderClient](), props("order", "client")},
		{"address", reflect.TypeFor[homecare.Address](), props("order", "client", "address")},
		{"contacts", reflect.TypeFor[homecare.OrderContact](), props("order", "client", "contacts")},
		{"insatser", reflect.TypeFor[homecare.OrderInsats](), props("order", "insatser")},
		{"pause", reflect.TypeFor[homecare.OrderPause](), props("pause")},
		{"end", reflect.TypeFor[homecare.OrderEnd](), props("end")},
	}
	for _, tt := range tests {
		var fields []string
		for f := range tt.typ.Fields() {
			fields = append(fields, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		slices.Sort(fields)
		if diff := cmp.Diff(tt.schema, fields); diff != "" {
			t.Errorf("%s: JSON fields mismatch (-schema +Go):\n%s", tt.name, diff)
		}
	}
	var schema struct {
		Properties struct {
			Type struct {
				Enum []homecare.OrderEventType `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(schema.Properties.Type.Enum, homecare.OrderEventTypes()); diff != "" {
		t.Errorf("event types mismatch (-schema +Go):\n%s", diff)
	}
}

func TestOrderEventDecodeRejects(t *testing.T) {
	t.Parallel()
	_, in := loadOrderEvent(t, orderCreatedFile)
	tests := []struct{ name, old, new string }{
		{"unknown field", `"order_text":`, `"colour": "red", "order_text":`},
		{"bad type", `"type": "created"`, `"type": "made"`},
		{"bad period", `"period": "week"`, `"period": "fortnight"`},
		{"bad person id", `"194001042383"`, `"194001042384"`},
		{"bad person id type", `"person_id_type": "personnummer"`, `"person_id_type": "pseudo"`},
		{"bad date", `"valid_from": "2026-11-10"`, `"valid_from": "2026-11-31"`},
		{"bad occurred_at", `"2026-11-02T09:15:00Z"`, `"2026-11-02 09:15"`},
	}
	for _, tt := range tests {
		b := bytes.Replace(in, []byte(tt.old), []byte(tt.new), 1)
		if bytes.Equal(b, in) {
			t.Fatalf("%s: %q not found in fixture", tt.name, tt.old)
		}
		var ev homecare.OrderEvent
		err := decodeStrict(t, b, &ev)
		if err == nil {
			t.Errorf("%s: decoded without error", tt.name)
		} else if strings.Contains(err.Error(), "194001042384") {
			t.Errorf("%s: error %q leaks the person id", tt.name, err)
		}
	}
	for _, tt := range []struct{ json, enum string }{
		{`{"end": {"date": "2027-01-31", "reason": "tröttnat"}}`, "end reason"},
		{`{"pause": {"from": "2027-01-31", "reason": "semester"}}`, "pause reason"},
	} {
		var ev homecare.OrderEvent
		if err := json.Unmarshal([]byte(tt.json), &ev); err == nil || !strings.Contains(err.Error(), tt.enum) {
			t.Errorf("decode %s: err = %v, want a %s error", tt.json, err, tt.enum)
		}
	}
}

// TestOrderEventInvalidFixtures decodes the schema's invalid order_event fixtures: each
// decodes (the schema, not the Go types, rejects them) and Validate reports the field the .err
// file names.
func TestOrderEventInvalidFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"order_event_created_without_client", "order_event_paused_without_pause"} {
		base := "../../schemas/canonical/testdata/invalid/" + name
		b, err := os.ReadFile(base + ".json")
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(base + ".err")
		if err != nil {
			t.Fatal(err)
		}
		var ev homecare.OrderEvent
		if err := decodeStrict(t, b, &ev); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		err = ev.Validate(homecare.ValidateOptions{})
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(string(want))) {
			t.Errorf("%s: Validate = %v, want an error about %q", name, err, strings.TrimSpace(string(want)))
		}
	}
}

func TestOrderEventValidate(t *testing.T) {
	t.Parallel()
	other, err := homecare.ParsePersonID("197302889931") // valid samordningsnummer, not a test number
	if err != nil {
		t.Fatal(err)
	}
	const p = "order_event LC-EV-2026-000101: "
	tests := []struct {
		name   string
		opts   homecare.ValidateOptions
		change func(e *homecare.OrderEvent)
		want   []string
	}{
		{name: "valid", change: func(e *homecare.OrderEvent) {}},
		{name: "empty keys", change: func(e *homecare.OrderEvent) {
			e.SourceSystem, e.Order.ExternalID, e.OccurredAt = "", "", time.Time{}
		}, want: []string{p + "source_system: empty", p + "order.external_id: empty", p + "occurred_at: empty"}},
		{name: "valid_to before valid_from", change: func(e *homecare.OrderEvent) { e.Order.ValidTo = date(t, "2026-11-09") },
			want: []string{p + "order.valid_to: before valid_from"}},
		{name: "valid_to equal valid_from", change: func(e *homecare.OrderEvent) { e.Order.ValidTo = e.Order.ValidFrom }},
		{name: "created without its parts", change: func(e *homecare.OrderEvent) {
			e.Order = homecare.OrderSnapshot{ExternalID: e.Order.ExternalID}
		}, want: []string{
			p + "order.decision_id: required for created", p + "order.decided_at: required for created",
			p + "order.provider_id: required for created", p + "order.client: required for created",
			p + "order.valid_from: required for created", p + "order.insatser: required for created",
		}},
		{name: "previous identity is the client's own", change: func(e *homecare.OrderEvent) {
			e.Order.Client.PreviousPersonID = e.Order.Client.PersonID
		}, want: []string{p + "order.client.previous_person_id: is the client's person_id"}},
		{name: "previous identity not a test number outside production", opts: homecare.ValidateOptions{RequireTestPersonIDs: true},
			change: func(e *homecare.OrderEvent) { e.Order.Client.PreviousPersonID = other },
			want:   []string{p + "order.client.previous_person_id: not an official test number (refused outside production)"}},
		{name: "empty insatser", change: func(e *homecare.OrderEvent) { e.Order.Insatser = []homecare.OrderInsats{} },
			want: []string{p + "order.insatser: empty"}},
		{name: "insats rules", change: func(e *homecare.OrderEvent) {
			e.Order.Insatser[0].Code = ""
			e.Order.Insatser[0].GrantedMinutes = -1
			e.Order.Insatser[1].Period = "fortnight"
			e.Order.Insatser[1].TimesPerPeriod = 101
			e.Order.Insatser[1].ValidFrom = date(t, "2026-12-01")
			e.Order.Insatser[1].ValidTo = date(t, "2026-11-30")
		}, want: []string{
			p + "order.insatser[0].code: empty", p + "order.insatser[0].granted_minutes: want 0-44640",
			p + `order.insatser[1].period: period: unknown value (want day, week, month)`,
			p + "order.insatser[1].times_per_period: want 1-100", p + "order.insatser[1].valid_to: before valid_from",
		}},
		{name: "person id type mismatch", change: func(e *homecare.OrderEvent) { e.Order.Client.PersonIDType = homecare.Samordningsnummer },
			want: []string{p + `order.client.person_id_type: is "samordningsnummer" but person_id is a personnummer`}},
		{name: "missing person id", change: func(e *homecare.OrderEvent) { e.Order.Client.PersonID = homecare.PersonID{} },
			want: []string{p + "order.client.person_id: empty"}},
		{name: "real-looking person id outside production", opts: homecare.ValidateOptions{RequireTestPersonIDs: true},
			change: func(e *homecare.OrderEvent) {
				e.Order.Client.PersonID, e.Order.Client.PersonIDType = other, homecare.Samordningsnummer
			}, want: []string{p + "order.client.person_id: not an official test number (refused outside production)"}},
		{name: "same number in production", change: func(e *homecare.OrderEvent) {
			e.Order.Client.PersonID, e.Order.Client.PersonIDType = other, homecare.Samordningsnummer
		}},
		{name: "postcode and contact", change: func(e *homecare.OrderEvent) {
			e.Order.Client.Address.Postcode = "12 345"
			e.Order.Client.Contacts[0].Name = ""
		}, want: []string{p + "order.client.address.postcode: want 5 digits, optionally as NNN NN",
			p + "order.client.contacts[0].name: empty"}},
		{name: "postcode without space", change: func(e *homecare.OrderEvent) { e.Order.Client.Address.Postcode = "12345" }},
		{name: "bad type from Go", change: func(e *homecare.OrderEvent) { e.Type = "made" },
			want: []string{p + `type: order event type: unknown value (want created, changed, paused, resumed, ended, acknowledged, executed, rejected)`}},
		{name: "paused without pause", change: func(e *homecare.OrderEvent) { e.Type = homecare.OrderPaused },
			want: []string{p + "pause: required for paused"}},
		{name: "pause reversed", change: func(e *homecare.OrderEvent) {
			e.Type = homecare.OrderPaused
			e.Pause = &homecare.OrderPause{From: date(t, "2026-12-10"), To: date(t, "2026-12-09"), Reason: "semester"}
		}, want: []string{p + "pause.to: before pause.from", p + `pause.reason: pause reason: unknown value (want sjukhus, korttidsboende, resa, annat)`}},
		{name: "one-day pause", change: func(e *homecare.OrderEvent) {
			e.Type = homecare.OrderPaused
			e.Pause = &homecare.OrderPause{From: date(t, "2026-12-10"), To: date(t, "2026-12-10"), Reason: homecare.PauseHospital}
		}},
		{name: "ended without end", change: func(e *homecare.OrderEvent) { e.Type = homecare.OrderEnded },
			want: []string{p + "end: required for ended"}},
		{name: "end without date", change: func(e *homecare.OrderEvent) {
			e.Type, e.End = homecare.OrderEnded, &homecare.OrderEnd{Reason: homecare.EndMoved}
		}, want: []string{p + "end.date: empty"}},
		{name: "executed without date", change: func(e *homecare.OrderEvent) { e.Type = homecare.OrderExecuted },
			want: []string{p + "executed_date: required for executed"}},
		{name: "rejected without reason", change: func(e *homecare.OrderEvent) { e.Type = homecare.OrderRejected },
			want: []string{p + "reason: required for rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, _ := loadOrderEvent(t, orderCreatedFile)
			tt.change(&ev)
			var got []string
			if err := ev.Validate(tt.opts); err != nil {
				got = strings.Split(err.Error(), "\n")
				if c := ev.Order.Client; c != nil && !c.PersonID.IsZero() && strings.Contains(err.Error(), c.PersonID.Reveal()) {
					t.Errorf("error leaks the person id: %v", err)
				}
			}
			slices.Sort(got)
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// event returns a valid event of type typ for the sample order, occurring at the given day
// (2026-11-dd 10:00 UTC).
func event(t testing.TB, typ homecare.OrderEventType, day int) homecare.OrderEvent {
	t.Helper()
	ev := homecare.OrderEvent{
		SourceSystem: "lifecare", EventID: fmt.Sprintf("EV-%s-%d", typ, day), Type: typ,
		OccurredAt: time.Date(2026, 11, day, 10, 0, 0, 0, time.UTC),
		Order:      homecare.OrderSnapshot{ExternalID: "BEST-2026-0101"},
	}
	switch typ {
	case homecare.OrderCreated:
		b, err := os.ReadFile(orderCreatedFile)
		if err != nil {
			t.Fatal(err)
		}
		var c homecare.OrderEvent
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		ev.Order = c.Order
	case homecare.OrderChanged:
		ev.Order.OrderText = "Dusch på eftermiddagen."
		ev.Order.Insatser = []homecare.OrderInsats{{Code: "DUSCH", GrantedMinutes: 45, Period: homecare.PeriodWeek, TimesPerPeriod: 2}}
	case homecare.OrderPaused:
		ev.Pause = &homecare.OrderPause{From: date(t, "2026-12-01"), Reason: homecare.PauseHospital}
	case homecare.OrderEnded:
		ev.End = &homecare.OrderEnd{Date: date(t, "2027-01-31"), Reason: homecare.EndMoved}
	case homecare.OrderExecuted:
		ev.ExecutedDate = date(t, "2026-11-10")
	case homecare.OrderResumed:
		ev.ResumedDate = date(t, "2026-12-15")
	case homecare.OrderRejected:
		ev.Reason = "Ingen kapacitet i området."
	}
	return ev
}

// orderIn returns the sample order brought into status s by real events.
func orderIn(t testing.TB, s homecare.OrderStatus) homecare.Order {
	t.Helper()
	var path []homecare.OrderEventType
	switch s {
	case "":
	case homecare.OrderStatusSent:
		path = []homecare.OrderEventType{homecare.OrderCreated}
	case homecare.OrderStatusAcknowledged:
		path = []homecare.OrderEventType{homecare.OrderCreated, homecare.OrderAcknowledged}
	case homecare.OrderStatusExecuted:
		path = []homecare.OrderEventType{homecare.OrderCreated, homecare.OrderAcknowledged, homecare.OrderExecuted}
	case homecare.OrderStatusPaused:
		path = []homecare.OrderEventType{homecare.OrderCreated, homecare.OrderAcknowledged, homecare.OrderExecuted, homecare.OrderPaused}
	case homecare.OrderStatusRejected:
		path = []homecare.OrderEventType{homecare.OrderCreated, homecare.OrderRejected}
	case homecare.OrderStatusEnded:
		path = []homecare.OrderEventType{homecare.OrderCreated, homecare.OrderEnded}
	case homecare.OrderStatusSuperseded:
		o := orderIn(t, homecare.OrderStatusSent)
		ev := event(t, homecare.OrderEnded, 20)
		ev.End.Reason = homecare.EndProviderChange
		o, err := o.Apply(ev)
		if err != nil {
			t.Fatal(err)
		}
		return o
	default:
		t.Fatalf("no path to %s", s)
	}
	var o homecare.Order
	for i, typ := range path {
		var err error
		if o, err = o.Apply(event(t, typ, 2+i)); err != nil {
			t.Fatalf("path to %s: %s: %v", s, typ, err)
		}
	}
	if o.Status != s {
		t.Fatalf("path to %s ended in %s", s, o.Status)
	}
	return o
}

// TestOrderApplyMatrix applies every event type in every status.
func TestOrderApplyMatrix(t *testing.T) {
	t.Parallel()
	const (
		unknown = "unknown"
		refused = "refused"
		waits   = "waits" // ErrNoPauseYet: a resumption waits for its pause
	)
	S := func(s homecare.OrderStatus) string { return string(s) }
	// want[from][event] is the status after, or unknown (ErrUnknownOrder) or refused (*TransitionError).
	want := map[homecare.OrderStatus]map[homecare.OrderEventType]string{
		"": {
			homecare.OrderCreated: S(homecare.OrderStatusSent), homecare.OrderChanged: unknown, homecare.OrderPaused: unknown,
			homecare.OrderResumed: unknown, homecare.OrderEnded: unknown, homecare.OrderAcknowledged: unknown,
			homecare.OrderExecuted: unknown, homecare.OrderRejected: unknown,
		},
		homecare.OrderStatusSent: {
			// A pause before execution is the case system's to send (issue 9): the EVB clock runs on.
			homecare.OrderCreated: refused, homecare.OrderChanged: S(homecare.OrderStatusSent), homecare.OrderPaused: S(homecare.OrderStatusPaused),
			homecare.OrderResumed: waits, homecare.OrderEnded: S(homecare.OrderStatusEnded),
			homecare.OrderAcknowledged: S(homecare.OrderStatusAcknowledged), homecare.OrderExecuted: S(homecare.OrderStatusExecuted),
			homecare.OrderRejected: S(homecare.OrderStatusRejected),
		},
		homecare.OrderStatusAcknowledged: {
			homecare.OrderCreated: refused, homecare.OrderChanged: S(homecare.OrderStatusAcknowledged),
			homecare.OrderPaused: S(homecare.OrderStatusPaused), homecare.OrderResumed: waits,
			homecare.OrderEnded: S(homecare.OrderStatusEnded), homecare.OrderAcknowledged: S(homecare.OrderStatusAcknowledged),
			homecare.OrderExecuted: S(homecare.OrderStatusExecuted), homecare.OrderRejected: S(homecare.OrderStatusRejected),
		},
		homecare.OrderStatusExecuted: {
			homecare.OrderCreated: refused, homecare.OrderChanged: S(homecare.OrderStatusExecuted),
			homecare.OrderPaused: S(homecare.OrderStatusPaused), homecare.OrderResumed: waits,
			homecare.OrderEnded: S(homecare.OrderStatusEnded), homecare.OrderAcknowledged: S(homecare.OrderStatusExecuted),
			// The same verkställd again changes nothing; another date is refused (TestOrderApplyRefuses).
			homecare.OrderExecuted: S(homecare.OrderStatusExecuted), homecare.OrderRejected: refused,
		},
		homecare.OrderStatusPaused: {
			homecare.OrderCreated: refused, homecare.OrderChanged: S(homecare.OrderStatusPaused),
			homecare.OrderPaused: S(homecare.OrderStatusPaused), homecare.OrderResumed: S(homecare.OrderStatusExecuted),
			homecare.OrderEnded: S(homecare.OrderStatusEnded), homecare.OrderAcknowledged: S(homecare.OrderStatusPaused),
			homecare.OrderExecuted: S(homecare.OrderStatusPaused), homecare.OrderRejected: refused,
		},
		homecare.OrderStatusRejected: {
			homecare.OrderCreated: refused, homecare.OrderChanged: refused, homecare.OrderPaused: refused,
			homecare.OrderResumed: refused, homecare.OrderEnded: S(homecare.OrderStatusEnded),
			homecare.OrderAcknowledged: S(homecare.OrderStatusRejected), homecare.OrderExecuted: refused, homecare.OrderRejected: refused,
		},
		// A closed order takes only the receipt of its end.
		homecare.OrderStatusEnded:      {homecare.OrderAcknowledged: S(homecare.OrderStatusEnded)},
		homecare.OrderStatusSuperseded: {homecare.OrderAcknowledged: S(homecare.OrderStatusSuperseded)},
	}
	for _, from := range append([]homecare.OrderStatus{""}, homecare.OrderStatuses()...) {
		for _, typ := range homecare.OrderEventTypes() {
			exp, ok := want[from][typ]
			if !ok {
				exp = refused // closed orders take nothing
			}
			name := string(from)
			if name == "" {
				name = "new"
			}
			t.Run(name+"/"+string(typ), func(t *testing.T) {
				o := orderIn(t, from)
				before := fmt.Sprintf("%#v", o)
				got, err := o.Apply(event(t, typ, 25))
				if after := fmt.Sprintf("%#v", o); after != before {
					t.Errorf("Apply changed its receiver")
				}
				var te *homecare.TransitionError
				switch exp {
				case unknown:
					if !errors.Is(err, homecare.ErrUnknownOrder) {
						t.Errorf("Apply = %v, want ErrUnknownOrder", err)
					}
				case waits:
					if !errors.Is(err, homecare.ErrNoPauseYet) {
						t.Errorf("Apply = %v, want ErrNoPauseYet", err)
					}
				case refused:
					if !errors.As(err, &te) {
						t.Fatalf("Apply = %s, %v; want a *TransitionError", got.Status, err)
					}
					if te.From != from || te.Event != typ || te.OrderID != "BEST-2026-0101" {
						t.Errorf("TransitionError = %+v, want From %s, Event %s", te, from, typ)
					}
					if diff := cmp.Diff(o, got, cmpPersonID); diff != "" {
						t.Errorf("refused Apply returned a changed order (-before +after):\n%s", diff)
					}
				default:
					if err != nil {
						t.Fatalf("Apply: %v", err)
					}
					if string(got.Status) != exp {
						t.Errorf("status = %s, want %s", got.Status, exp)
					}
					if got.Version != o.Version+1 {
						t.Errorf("version = %d, want %d", got.Version, o.Version+1)
					}
				}
			})
		}
	}
}

func TestOrderLifecycle(t *testing.T) {
	t.Parallel()
	var o homecare.Order
	apply := func(ev homecare.OrderEvent) {
		t.Helper()
		var err error
		if o, err = o.Apply(ev); err != nil {
			t.Fatalf("Apply(%s): %v", ev.Type, err)
		}
	}
	created := event(t, homecare.OrderCreated, 2)
	apply(created)
	if o.Status != homecare.OrderStatusSent || !o.OrderedAt.Equal(created.OccurredAt) || o.DecisionID != "BESL-2026-0088" ||
		o.Client.FamilyName != "Testsson" || len(o.Insatser) != 2 || o.Version != 1 {
		t.Fatalf("after created: %+v", o)
	}
	ack := event(t, homecare.OrderAcknowledged, 3)
	apply(ack)
	if !o.AcknowledgedAt.Equal(ack.OccurredAt) {
		t.Errorf("acknowledged_at = %v, want %v", o.AcknowledgedAt, ack.OccurredAt)
	}
	apply(event(t, homecare.OrderExecuted, 10))
	if o.ExecutedAt != date(t, "2026-11-10") {
		t.Errorf("executed_at = %v", o.ExecutedAt)
	}
	apply(event(t, homecare.OrderChanged, 11))
	if o.OrderText != "Dusch på eftermiddagen." || len(o.Insatser) != 1 || o.Insatser[0].GrantedMinutes != 45 ||
		o.Client.FamilyName != "Testsson" || o.ValidFrom != date(t, "2026-11-10") || o.Status != homecare.OrderStatusExecuted {
		t.Errorf("after changed: %+v", o)
	}
	apply(event(t, homecare.OrderPaused, 12))
	if o.Pause == nil || o.Pause.From != date(t, "2026-12-01") {
		t.Errorf("after paused: pause = %+v", o.Pause)
	}
	apply(event(t, homecare.OrderResumed, 13))
	if o.Status != homecare.OrderStatusExecuted || o.Pause != nil {
		t.Errorf("after resumed: %s, pause %+v", o.Status, o.Pause)
	}
	apply(event(t, homecare.OrderEnded, 14))
	if o.Status != homecare.OrderStatusEnded || o.EndedAt != date(t, "2027-01-31") || o.EndReason != homecare.EndMoved || o.Version != 7 {
		t.Errorf("after ended: %+v", o)
	}
}

func TestOrderApplyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		from   homecare.OrderStatus
		change func(ev *homecare.OrderEvent)
		typ    homecare.OrderEventType
		want   string
	}{
		// Issue 9: an end before execution is refused, as is one before valid_from.
		{name: "end before execution", from: homecare.OrderStatusExecuted, typ: homecare.OrderEnded,
			change: func(ev *homecare.OrderEvent) { ev.End.Date = date(t, "2026-11-09") },
			want:   "order BEST-2026-0101: ended refused in state executed: end date 2026-11-09 before the order was executed on 2026-11-10"},
		{name: "end before start", from: homecare.OrderStatusSent, typ: homecare.OrderEnded,
			change: func(ev *homecare.OrderEvent) { ev.End.Date = date(t, "2026-11-09") },
			want:   "order BEST-2026-0101: ended refused in state sent: end date 2026-11-09 before valid_from 2026-11-10"},
		{name: "end on the first day", from: homecare.OrderStatusSent, typ: homecare.OrderEnded,
			change: func(ev *homecare.OrderEvent) { ev.End.Date = date(t, "2026-11-10") }},
		{name: "change before create", from: homecare.OrderStatusSent, typ: homecare.OrderChanged,
			change: func(ev *homecare.OrderEvent) { ev.OccurredAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) },
			want:   "order BEST-2026-0101: changed refused in state sent: occurred at 2026-11-01T00:00:00Z, before the order was created at 2026-11-02T10:00:00Z"},
		{name: "change of provider", from: homecare.OrderStatusExecuted, typ: homecare.OrderChanged,
			change: func(ev *homecare.OrderEvent) { ev.Order.ProviderID = "omsorg-syd" },
			want:   "order BEST-2026-0101: changed refused in state executed: provider_id changes from omsorg-norr to omsorg-syd: end the order (byte_av_utforare) and create a new one"},
		{name: "change makes valid_to early", from: homecare.OrderStatusSent, typ: homecare.OrderChanged,
			change: func(ev *homecare.OrderEvent) { ev.Order.ValidTo = date(t, "2026-11-01") },
			want:   "order BEST-2026-0101: changed refused in state sent: valid_to 2026-11-01 before valid_from 2026-11-10"},
		{name: "event after end", from: homecare.OrderStatusEnded, typ: homecare.OrderChanged,
			change: func(ev *homecare.OrderEvent) {}, want: "order BEST-2026-0101: changed not allowed in state ended"},
		{name: "second create", from: homecare.OrderStatusExecuted, typ: homecare.OrderCreated,
			change: func(ev *homecare.OrderEvent) {}, want: "order BEST-2026-0101: created not allowed in state executed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := orderIn(t, tt.from)
			ev := event(t, tt.typ, 20)
			tt.change(&ev)
			_, err := o.Apply(ev)
			if tt.want == "" {
				if err != nil {
					t.Errorf("Apply: %v", err)
				}
				return
			}
			var te *homecare.TransitionError
			if !errors.As(err, &te) || err.Error() != tt.want {
				t.Errorf("Apply = %v, want *TransitionError %q", err, tt.want)
			}
		})
	}

	// An invalid event is Validate's error, neither unknown nor a transition.
	ev := event(t, homecare.OrderPaused, 20)
	ev.Pause = nil
	_, err := orderIn(t, homecare.OrderStatusExecuted).Apply(ev)
	var te *homecare.TransitionError
	if err == nil || errors.As(err, &te) || errors.Is(err, homecare.ErrUnknownOrder) ||
		err.Error() != "order_event EV-paused-20: pause: required for paused" {
		t.Errorf("Apply(paused without pause) = %v", err)
	}
	// An event for another order is a caller's bug.
	ev = event(t, homecare.OrderAcknowledged, 20)
	ev.Order.ExternalID = "BEST-OTHER"
	if _, err := orderIn(t, homecare.OrderStatusSent).Apply(ev); err == nil || errors.As(err, &te) {
		t.Errorf("Apply(other order) = %v, want a plain error", err)
	}
}

func TestOrderPauseResume(t *testing.T) {
	t.Parallel()
	// Paused before execution resumes to acknowledged; a second pause updates the first.
	o := orderIn(t, homecare.OrderStatusAcknowledged)
	o, err := o.Apply(event(t, homecare.OrderPaused, 5))
	if err != nil {
		t.Fatal(err)
	}
	upd := event(t, homecare.OrderPaused, 6)
	upd.Pause.To = date(t, "2026-12-20")
	if o, err = o.Apply(upd); err != nil {
		t.Fatal(err)
	}
	if o.Pause.To != date(t, "2026-12-20") {
		t.Errorf("pause after update = %+v", o.Pause)
	}
	if o, err = o.Apply(event(t, homecare.OrderResumed, 7)); err != nil {
		t.Fatal(err)
	}
	if o.Status != homecare.OrderStatusAcknowledged || o.Pause != nil {
		t.Errorf("resumed before execution: %s, %+v", o.Status, o.Pause)
	}
	// Ending a paused order clears the pause; nytt_beslut supersedes.
	o = orderIn(t, homecare.OrderStatusPaused)
	end := event(t, homecare.OrderEnded, 8)
	end.End.Reason = homecare.EndNewDecision
	if o, err = o.Apply(end); err != nil {
		t.Fatal(err)
	}
	if o.Status != homecare.OrderStatusSuperseded || o.Pause != nil || !o.Status.Closed() {
		t.Errorf("ended with nytt_beslut: %s, %+v", o.Status, o.Pause)
	}
}

func TestDateAddMonths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"2026-11-02", 3, "2027-02-02"},
		{"2027-01-31", 3, "2027-04-30"}, // April has 30 days
		{"2027-01-31", 1, "2027-02-28"},
		{"2028-01-31", 1, "2028-02-29"}, // leap year
		{"2027-11-30", 3, "2028-02-29"},
		{"2026-11-30", 3, "2027-02-28"},
		{"2026-12-31", 3, "2027-03-31"},
		{"2026-10-15", 3, "2027-01-15"}, // over the year end
		{"2027-05-31", -3, "2027-02-28"},
		{"2027-01-15", -13, "2025-12-15"},
		{"2027-03-29", 0, "2027-03-29"},
	}
	for _, tt := range tests {
		if got := date(t, tt.in).AddMonths(tt.n); got.String() != tt.want {
			t.Errorf("%s.AddMonths(%d) = %s, want %s", tt.in, tt.n, got, tt.want)
		}
	}
	if got := date(t, "2027-03-27").DaysUntil(date(t, "2027-03-30")); got != 3 { // over the spring DST change
		t.Errorf("DaysUntil over DST = %d, want 3", got)
	}
}

func TestOrderEnumsRejectUnknown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		dst  any
		good string
	}{
		{new(homecare.OrderEventType), "acknowledged"},
		{new(homecare.OrderStatus), "superseded"},
		{new(homecare.EndReason), "byte_av_utforare"},
		{new(homecare.PauseReason), "korttidsboende"},
		{new(homecare.Period), "month"},
	} {
		if err := json.Unmarshal([]byte(`"`+tt.good+`"`), tt.dst); err != nil {
			t.Errorf("%T: %q: %v", tt.dst, tt.good, err)
		}
		if got := reflect.ValueOf(tt.dst).Elem().String(); got != tt.good {
			t.Errorf("%T: decoded %q, want %q", tt.dst, got, tt.good)
		}
		if err := json.Unmarshal([]byte(`"Nope"`), tt.dst); err == nil {
			t.Errorf("%T: accepted an unknown value", tt.dst)
		}
	}
}
