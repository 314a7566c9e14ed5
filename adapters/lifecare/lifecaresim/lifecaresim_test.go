package lifecaresim_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

var decidedOn = time.Date(2026, 11, 2, 9, 0, 0, 0, homecare.Stockholm())

func generate(seed uint64) []lifecaresim.OrderMessage {
	return lifecaresim.Orders(seed, homecare.OfficialTestPersonIDs(), []string{"omsorg-norr", "hemtjanst-soder"}, decidedOn)
}

// TestOrdersValid encodes everything the generator makes and validates it
// against schemas/lifecare/order.xsd.
func TestOrdersValid(t *testing.T) {
	v, err := schema.Load(lifecaresim.OrderSchemaPath())
	if err != nil {
		t.Fatal(err)
	}
	msgs := generate(1)
	kinds := map[string]int{}
	for _, m := range msgs {
		kinds[m.Kind()]++
		body, err := lifecaresim.Encode(m)
		if err != nil {
			t.Fatalf("Encode(%s %s): %v", m.Kind(), m.EventID(), err)
		}
		if err := v.Validate(body); err != nil {
			t.Errorf("%s %s is invalid: %v\n%s", m.Kind(), m.EventID(), err, body)
		}
	}
	clients := len(homecare.OfficialTestPersonIDs())
	if kinds["Bestallning"] != clients {
		t.Errorf("%d Bestallning, want one per client (%d)", kinds["Bestallning"], clients)
	}
	for _, k := range []string{"Andring", "Paus", "Ateruptagande", "Avslut"} {
		if kinds[k] == 0 {
			t.Errorf("no %s generated; kinds: %v", k, kinds)
		}
	}
}

// TestOrdersSequence checks the order of each order's messages: created
// first, resumed only while paused, nothing after the end; event ids are
// unique; clients are official test numbers.
func TestOrdersSequence(t *testing.T) {
	msgs := generate(7)
	state := map[string]string{}
	ids := map[string]bool{}
	var last time.Time
	for _, m := range msgs {
		if ids[m.EventID()] {
			t.Errorf("event id %s repeated", m.EventID())
		}
		ids[m.EventID()] = true
		if m.EventTime().Before(last) {
			t.Errorf("%s %s at %v comes after a later message", m.Kind(), m.EventID(), m.EventTime())
		}
		last = m.EventTime()
		prev, k := state[m.OrderID()], m.Kind()
		ok := map[string][]string{
			"Bestallning":   {""},
			"Andring":       {"Bestallning", "Andring", "Ateruptagande"},
			"Paus":          {"Bestallning", "Andring", "Ateruptagande"},
			"Ateruptagande": {"Paus"},
			"Avslut":        {"Bestallning", "Andring", "Paus", "Ateruptagande"},
		}[k]
		if !slices.Contains(ok, prev) {
			t.Errorf("order %s: %s after %q", m.OrderID(), k, prev)
		}
		state[m.OrderID()] = k
		if b, isNew := m.(*lifecaresim.Bestallning); isNew {
			id := b.Client.Personnummer + b.Client.Samordningsnummer
			p, err := homecare.ParsePersonID(id)
			if err != nil || !homecare.IsOfficialTestNumber(p) {
				t.Errorf("order %s: client is not an official test number", b.ID)
			}
		}
	}
}

// TestOrdersPlanning checks the contract 1.1 content the generator fills
// in: plausible for the insats codes, varied across clients, official test
// numbers only, and the couple's orders naming each other.
func TestOrdersPlanning(t *testing.T) {
	fits := map[string][]string{
		"FRUKOST": {"morgon"}, "LUNCH": {"lunch"}, "MIDDAG": {"eftermiddag", "kvall"}, "KVALL": {"kvall"},
		"DUSCH": {"formiddag"}, "STAD": {"formiddag"},
	}
	seen := map[string]int{}
	orders := map[string]lifecaresim.Order{} // the latest of each
	n := 0                                   // Bestallning and Andring messages
	for _, m := range generate(1) {
		var o lifecaresim.Order
		switch m := m.(type) {
		case *lifecaresim.Bestallning:
			o = m.Order
		case *lifecaresim.Andring:
			o = m.Order
		default:
			continue
		}
		n++
		if o.Version != "1.1" {
			t.Errorf("%s: version %q, want 1.1", o.ID, o.Version)
		}
		orders[o.ID] = o
		if o.CaseOfficer == nil || o.CaseOfficer.Name == "" || !strings.HasPrefix(o.CaseOfficer.Phone, "08-") {
			t.Errorf("%s: case officer %+v, want a name and an 08- number", o.ID, o.CaseOfficer)
		}
		seen["sprak "+o.Language]++
		if o.Interpreter {
			seen["tolkbehov "+o.Language]++
		}
		if k := o.Key; k != nil {
			if k.LockID != "" {
				seen["lasId"]++
			}
			if k.KeyBox != "" {
				seen["nyckelgomma"]++
			}
		}
		if p := o.Client.PreviousID; p != nil {
			id, err := homecare.ParsePersonID(p.Personnummer + p.Samordningsnummer)
			if err != nil || !homecare.IsOfficialTestNumber(id) {
				t.Errorf("%s: previous id is not an official test number", o.ID)
			}
			seen["tidigareId"]++
		}
		for _, in := range o.Insatser {
			if in.MinutesPerOccasion <= 0 || in.MinutesPerOccasion > 1440 {
				t.Errorf("%s %s: tidPerTillfalle %d", o.ID, in.Code, in.MinutesPerOccasion)
			}
			if in.DoubleStaffing {
				seen["dubbelbemanning"]++
			}
			sc := in.Schedule
			if sc == nil {
				t.Errorf("%s %s: no schema", o.ID, in.Code)
				continue
			}
			if sc.EveryOtherWeek {
				seen["varannanVecka"]++
			}
			for _, w := range sc.TimesOfDay {
				if want, ok := fits[in.Code]; ok && !slices.Contains(want, w) {
					t.Errorf("%s %s at %s, want one of %v", o.ID, in.Code, w, want)
				}
			}
			if in.Period == "vecka" && len(sc.Weekdays) != in.Times {
				t.Errorf("%s %s: %d times a week on %v", o.ID, in.Code, in.Times, sc.Weekdays)
			}
		}
	}
	for _, k := range []string{"sprak sv", "tolkbehov ar", "lasId", "nyckelgomma", "dubbelbemanning", "varannanVecka", "tidigareId"} {
		if seen[k] == 0 {
			t.Errorf("no order with %s; seen %v", k, seen)
		}
	}
	if seen["sprak sv"] <= n/2 {
		t.Errorf("sv in %d of %d orders, want most", seen["sprak sv"], n)
	}
	couples := 0
	for id, o := range orders {
		for _, other := range o.Cohabitants {
			couples++
			p, ok := orders[other]
			if !ok || !slices.Contains(p.Cohabitants, id) {
				t.Errorf("%s lives with %s, whose order does not name it back", id, other)
				continue
			}
			if p.Provider != o.Provider || p.Client.Address != o.Client.Address {
				t.Errorf("%s and %s live together but differ in provider or address", id, other)
			}
		}
	}
	if couples != 2 {
		t.Errorf("%d cohabitant references, want one couple (2)", couples)
	}
}

func TestOrdersDeterministic(t *testing.T) {
	encodeAll := func(seed uint64) []byte {
		var all []byte
		for _, m := range generate(seed) {
			b, err := lifecaresim.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	if !bytes.Equal(encodeAll(3), encodeAll(3)) {
		t.Error("the same seed gave different messages")
	}
	if bytes.Equal(encodeAll(3), encodeAll(4)) {
		t.Error("different seeds gave the same messages")
	}
}

func TestDropOrder(t *testing.T) {
	dir := t.TempDir()
	msgs := generate(1)[:5]
	var names []string
	for _, m := range msgs {
		name, err := lifecaresim.DropOrder(dir, m)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("file names %v are not in event order", names)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("directory mismatch (-dropped +present), temporary files left?\n%s", diff)
	}
	body, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := lifecaresim.Encode(msgs[0])
	if !bytes.Equal(body, want) {
		t.Errorf("dropped file differs from Encode:\n%s", body)
	}
}

const receipt = `<?xml version="1.0" encoding="UTF-8"?>
<Kvittens xmlns="urn:knutpunkt:lifecare:receipt:1" version="1.0">
  <handelseId>KP-KV-1</handelseId>
  <tidpunkt>2026-11-02T09:16:02Z</tidpunkt>
  <avserHandelseId>LC-EV-2026-000101</avserHandelseId>
  <bestallningsId>BEST-2026-0101</bestallningsId>
  <typ>mottagen</typ>
  <datum>2026-11-02</datum>
  <utforare>omsorg-norr</utforare>
</Kvittens>
`

func TestReceiptEndpoint(t *testing.T) {
	const token = "sim-token-5be1a9"
	tests := []struct {
		name       string
		failure    lifecaresim.Failure
		method     string
		token      string
		key        string
		body       string
		wantStatus int
		wantBody   string // substring of the answer
		wantStored int
	}{
		{name: "valid receipt is recorded", key: "m1", body: receipt, wantStatus: 200, wantStored: 1},
		{name: "no token", token: "-", key: "m1", body: receipt, wantStatus: 401},
		{name: "wrong token", token: "nope", key: "m1", body: receipt, wantStatus: 401},
		{name: "schema-invalid receipt", key: "m1", body: strings.Replace(receipt, "mottagen", "received", 1), wantStatus: 400, wantBody: "The value is not an element of the set"},
		{name: "not XML", key: "m1", body: `{"typ":"mottagen"}`, wantStatus: 400},
		{name: "no idempotency key", body: receipt, wantStatus: 400, wantBody: "Idempotency-Key"},
		{name: "final rejection", failure: lifecaresim.Reject, key: "m1", body: receipt, wantStatus: 400},
		{name: "unavailable", failure: lifecaresim.Unavailable, key: "m1", body: receipt, wantStatus: 503},
		{name: "health probe", method: http.MethodHead, wantStatus: 200},
		{name: "wrong method", method: http.MethodPut, key: "m1", body: receipt, wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := newCaseSystem(t, lifecaresim.Options{BearerToken: token})
			cs.SetFailure(tt.failure)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequestWithContext(t.Context(), method, cs.ReceiptURL(), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			switch tt.token {
			case "":
				req.Header.Set("Authorization", "Bearer "+token)
			case "-":
			default:
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			req.Header.Set("Content-Type", "application/xml")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var answer bytes.Buffer
			_, _ = answer.ReadFrom(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tt.wantStatus, answer.String())
			}
			if !strings.Contains(answer.String(), tt.wantBody) {
				t.Errorf("answer %q does not contain %q", answer.String(), tt.wantBody)
			}
			if got := len(cs.Receipts()); got != tt.wantStored {
				t.Errorf("%d receipts recorded, want %d", got, tt.wantStored)
			}
		})
	}
}

func TestReceiptDecodedAndDeduplicated(t *testing.T) {
	cs := newCaseSystem(t, lifecaresim.Options{})
	for range 2 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, cs.ReceiptURL(), strings.NewReader(receipt))
		req.Header.Set("Idempotency-Key", "m1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	got := cs.Receipts()
	if len(got) != 1 {
		t.Fatalf("%d receipts recorded for one Idempotency-Key sent twice, want 1", len(got))
	}
	k := got[0].Kvittens
	want := lifecaresim.Kvittens{
		XMLName: k.XMLName, Version: "1.0", ID: "KP-KV-1", Time: time.Date(2026, 11, 2, 9, 16, 2, 0, time.UTC),
		InReplyTo: "LC-EV-2026-000101", Order: "BEST-2026-0101", Type: "mottagen",
		Date: homecare.Date{Year: 2026, Month: 11, Day: 2}, Provider: "omsorg-norr",
	}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Errorf("decoded Kvittens mismatch (-want +got):\n%s", diff)
	}
}

func TestDownUp(t *testing.T) {
	cs := newCaseSystem(t, lifecaresim.Options{AcceptAny: true})
	probe := func() error {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, cs.ReceiptURL(), nil)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := probe(); err != nil {
		t.Fatalf("up: %v", err)
	}
	cs.Down()
	if err := probe(); err == nil {
		t.Fatal("down: the receipt endpoint still answers")
	}
	cs.Up()
	if err := probe(); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

func TestPushOrderError(t *testing.T) {
	cs := newCaseSystem(t, lifecaresim.Options{AcceptAny: true})
	// The case system's own receipt endpoint is no hub: it answers 400.
	err := cs.PushOrder(t.Context(), cs.ReceiptURL(), generate(1)[0])
	var pe *lifecaresim.PushError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
		t.Errorf("PushOrder to a non-hub = %v, want a *PushError with status 400", err)
	}
}

func newCaseSystem(t testing.TB, opts lifecaresim.Options) *lifecaresim.CaseSystem {
	t.Helper()
	cs, err := lifecaresim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}
