package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// The order bad-input tests push broken and awkward Lifecare order messages
// into a real in-process hub running the shipped order pipelines
// (lifecare_orders, provider_omsorg_norr, provider_hemtjanst_soder,
// provider_acks, provider_callbacks_hemtjanst_soder, lifecare_receipts), on
// SQLite and on PostgreSQL, with real simulators around it: the case system
// (lifecaresim) receiving receipts, Omsorg Norr's signed JSON webhook
// (providersim) and Hemtjänsten Söder's SFTP drop (providersim.NewSFTP).
// Every case ends in a delivered message or in a dead letter whose reason
// names the pipeline, the step and the problem, and that can be replayed.

// orderHub is a hub running the order pipelines, and the systems around it.
type orderHub struct {
	srv   *server.Server
	st    *store.Store
	cfg   *config.Config
	cs    *lifecaresim.CaseSystem
	norr  *providersim.Server
	soder *providersim.SFTP
	logs  *observer.ObservedLogs
	stop  func()
}

// The webhook secret knut.yaml's omsorg_norr_secret resolves to under
// demo.Secrets.
const norrSecret = "demo-omsorg-norr-webhook-secret"

// orderPipelines is a pipeline directory with every shipped pipeline; for
// the pipelines named in retry, the retry line is replaced by the given one
// (so a test can wait milliseconds where production waits minutes).
func orderPipelines(t *testing.T, retry map[string]string) string {
	t.Helper()
	entries, err := os.ReadDir("../../pipelines")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	retryLine := regexp.MustCompile(`(?m)^retry:.*$`)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../../pipelines", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data := string(b)
		if r, ok := retry[name]; ok {
			if !retryLine.MatchString(data) {
				t.Fatalf("pipelines/%s has no retry line to replace", e.Name())
			}
			data = retryLine.ReplaceAllString(data, "retry: "+r)
		}
		files[name] = data
	}
	for name := range retry {
		if _, ok := files[name]; !ok {
			t.Fatalf("no shipped pipeline %s", name)
		}
	}
	return writePipelines(t, files)
}

// startOrderHub starts the simulators and a hub on a fresh store of db with
// the shipped pipelines (retry lines replaced as orderPipelines does).
func startOrderHub(t *testing.T, db storetest.Database, retry map[string]string) *orderHub {
	t.Helper()
	h := &orderHub{}
	var err error
	if h.cs, err = lifecaresim.New(lifecaresim.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cs.Close() })
	if h.norr, err = providersim.New(providersim.Options{Secret: norrSecret}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.norr.Close() })
	h.soder = providersim.NewSFTP(t)

	h.cfg = repoConfig(t, anotherDSN(t, db))
	h.cfg.Pipelines = orderPipelines(t, retry)
	host, port, _ := strings.Cut(h.soder.Addr, ":")
	h.cfg.Vars["lifecare_receipts_url"] = h.cs.ReceiptURL()
	h.cfg.Vars["omsorg_norr_webhook_url"] = h.norr.URL()
	h.cfg.Vars["hemtjanst_soder_sftp_host"] = host
	h.cfg.Vars["hemtjanst_soder_sftp_port"] = port
	h.cfg.Vars["hemtjanst_soder_sftp_user"] = h.soder.User
	h.cfg.Vars["hemtjanst_soder_sftp_host_key"] = h.soder.Fingerprint()
	h.start(t, h.cfg)
	return h
}

// start runs a hub on cfg; h.stop stops it before the test ends (a second
// hub on the same store needs the first one gone).
func (h *orderHub) start(t *testing.T, cfg *config.Config) {
	t.Helper()
	logs, log := observedLogger(t)
	h.logs = logs
	secrets := demo.Secrets(adapters.MapSecrets{"env:KNUT_HEMTJANST_SODER_SFTP_PASSWORD": h.soder.Password})
	srv, err := server.New(t.Context(), cfg, server.Options{Logger: log, Secrets: secrets})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
	}
	t.Cleanup(h.stop)
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hub not ready after 10s")
	}
	h.srv, h.st = srv, srv.Store()
}

// push posts msg to /ingest/lifecare_orders as the case system does, and
// returns the hub's message ID from its 202 answer.
func (h *orderHub) push(t *testing.T, msg lifecaresim.OrderMessage) string {
	t.Helper()
	body, err := lifecaresim.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return h.pushBody(t, body)
}

func (h *orderHub) pushBody(t *testing.T, body []byte) string {
	t.Helper()
	code, answer := postAs(t, "http://"+h.srv.Addr()+"/ingest/lifecare_orders", xmlCT, "", body)
	if code != http.StatusAccepted {
		t.Fatalf("POST /ingest/lifecare_orders = %d %s, want 202", code, answer)
	}
	var a struct{ ID string }
	if err := json.Unmarshal([]byte(answer), &a); err != nil || a.ID == "" {
		t.Fatalf("202 answer %q has no id: %v", answer, err)
	}
	return a.ID
}

// delivery waits for the webhook delivery (pipeline provider_omsorg_norr,
// ID ending .to0) of the order event that input message inputID produced,
// and returns its ID.
func (h *orderHub) delivery(t *testing.T, inputID string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := h.st.ListMessages(t.Context(), store.MessageFilter{Pipeline: "provider_omsorg_norr", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if strings.HasSuffix(m.ID, ".to0") && m.Headers[knutpunkt.HeaderCorrelationID] == inputID {
				return m.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook delivery of message %s after 20s", inputID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliveredTo returns the webhook deliveries Omsorg Norr accepted for order.
func (h *orderHub) deliveredTo(order string) []providersim.Delivery {
	var out []providersim.Delivery
	for _, d := range h.norr.Received() {
		var b struct {
			OrderID string `json:"order_id"`
		}
		if json.Unmarshal(d.Body, &b) == nil && b.OrderID == order {
			out = append(out, d)
		}
	}
	return out
}

// soderFiles counts the files in Hemtjänsten Söder's drop that mention s.
func (h *orderHub) soderFiles(t *testing.T, s string) int {
	t.Helper()
	files, err := h.soder.Received()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.Contains(string(f.Body), s) {
			n++
		}
	}
	return n
}

// waitReceipt waits for a receipt of type typ about order at the case system.
func (h *orderHub) waitReceipt(t *testing.T, order, typ string) lifecaresim.Receipt {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, r := range h.cs.Receipts() {
			if r.Kvittens.Order == order && r.Kvittens.Type == typ {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s receipt for %s at the case system after 20s (got %d receipts)", typ, order, len(h.cs.Receipts()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOrder waits until order's stored status is want.
func (h *orderHub) waitOrder(t *testing.T, order string, want homecare.OrderStatus) homecare.Order {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := h.st.Order(t.Context(), "lifecare", order)
		if err == nil && o.Status == want {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s is %q (%v) after 20s, want %s", order, o.Status, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the hub has nothing in flight: no message received
// but not yet processed or dead, several polls in a row.
func (h *orderHub) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	quiet := 0
	var last int64 = -1
	for quiet < 5 {
		c := counts(t, h.st)
		total := c[store.StatusProcessed] + c[store.StatusDead] + c[store.StatusReplayed]
		if c[store.StatusReceived] == 0 && total == last {
			quiet++
		} else {
			quiet = 0
		}
		last = total
		if time.Now().After(deadline) {
			t.Fatalf("hub not settled after 20s: %v", c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newOrder is a valid Bestallning for client pid to provider, with order
// id BEST-2026-<n> and event id LC-EV-2026-<n>-1.
func newOrder(n int, pid homecare.PersonID, provider string) *lifecaresim.Bestallning {
	validTo := homecare.DateOf(time.Date(2027, 5, 9, 12, 0, 0, 0, time.UTC))
	return &lifecaresim.Bestallning{Order: lifecaresim.Order{
		Head:       lifecaresim.Head{Version: lifecaresim.Version, ID: fmt.Sprintf("LC-EV-2026-%04d-1", n), Time: time.Date(2026, 11, 2, 9, 15, 0, 0, time.UTC)},
		DecisionID: fmt.Sprintf("BESL-2026-%04d", n),
		ID:         fmt.Sprintf("BEST-2026-%04d", n),
		DecidedOn:  homecare.DateOf(time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)),
		Provider:   provider,
		Client: lifecaresim.Client{
			Personnummer: pid.Reveal(),
			GivenName:    "Testa",
			FamilyName:   "Testsson",
			Address:      lifecaresim.Address{Street: fmt.Sprintf("Provgatan %d", n), Postcode: "123 45", City: "Demostad"},
			Phone:        "070-174 06 05",
		},
		ValidFrom: homecare.DateOf(time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)),
		ValidTo:   &validTo,
		Text:      "Kunden vill ha hjälp på förmiddagen.",
		Insatser: []lifecaresim.Insats{
			{Code: "DUSCH", Text: "Dusch", Minutes: 40, Period: "vecka", Times: 2},
		},
	}}
}

// changeOf is the Andring of o a week later: one more insats and a new text.
func changeOf(o *lifecaresim.Bestallning, seq int) *lifecaresim.Andring {
	c := o.Order
	c.Head = lifecaresim.Head{Version: lifecaresim.Version, ID: fmt.Sprintf("%s-%d", strings.TrimSuffix(o.Head.ID, "-1"), seq),
		Time: o.Time.Add(7 * 24 * time.Hour)}
	c.Insatser = append(append([]lifecaresim.Insats(nil), o.Insatser...),
		lifecaresim.Insats{Code: "TILLSYN", Text: "Tillsyn", Minutes: 10, Period: "dag", Times: 1})
	c.Text = o.Text + " Tillsyn tillkommer efter uppföljning."
	return &lifecaresim.Andring{Order: c}
}

func pids(t *testing.T) []homecare.PersonID {
	t.Helper()
	ids := homecare.OfficialTestPersonIDs()
	if len(ids) < 20 {
		t.Fatalf("only %d official test person ids", len(ids))
	}
	return ids
}

// orderCase is one bad order message (after any messages it needs first).
type orderCase struct {
	name string
	// before are pushed first and must be processed.
	before []lifecaresim.OrderMessage
	// body is the bad message.
	body []byte
	// order is the bestallningsId the message is about.
	order string
	// stored is whether the order is in the store afterwards (from before).
	stored bool
	// wantStep, wantReason and wantField describe the dead letter.
	wantStep   string
	wantReason []string
	wantField  string
	// secrets must appear in no reason, attempt, header or log line.
	secrets []string
}

func encode(t *testing.T, msg lifecaresim.OrderMessage) []byte {
	t.Helper()
	b, err := lifecaresim.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func orderCases(t *testing.T) []orderCase {
	ids := pids(t)
	schemaInvalid := newOrder(11, ids[0], "omsorg-norr")
	badSchema := strings.Replace(string(encode(t, schemaInvalid)), "<giltigFrom>2026-11-10</giltigFrom>", "<giltigFrom>nästa vecka</giltigFrom>", 1)

	unknownProvider := newOrder(12, ids[1], "okand-utforare")

	badPnr := newOrder(13, ids[2], "omsorg-norr")
	badPnr.Client.Personnummer = strings.ReplaceAll(badCheckDigit, "-", "")

	unknownInsats := newOrder(14, ids[3], "omsorg-norr")
	unknownInsats.Insatser = append(unknownInsats.Insatser, lifecaresim.Insats{Code: "TRADGARD", Text: "Trädgårdsskötsel", Minutes: 60, Period: "manad", Times: 1})

	started := newOrder(15, ids[4], "omsorg-norr")
	endBeforeStart := &lifecaresim.Avslut{
		Head:     lifecaresim.Head{Version: lifecaresim.Version, ID: "LC-EV-2026-0015-2", Time: started.Time.Add(time.Hour)},
		Order:    started.ID,
		Provider: started.Provider,
		Date:     homecare.DateOf(time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)), // giltigFrom is 2026-11-10
		Reason:   "avbojt",
	}

	return []orderCase{
		{name: "schema-invalid XML", body: []byte(badSchema), order: schemaInvalid.ID,
			wantStep: "steps[0].validate",
			wantReason: []string{"schema lifecare/order.xsd", "line 22",
				"giltigFrom': the value is not a valid value of the atomic type '{urn:knutpunkt:lifecare:order:1}Date'"}},
		{name: "unknown provider", body: encode(t, unknownProvider), order: unknownProvider.ID,
			wantStep:   "steps[4].route",
			wantReason: []string{"routes[2]", "unknown provider: the order names no provider this hub delivers to"}},
		{name: "invalid personnummer", body: encode(t, badPnr), order: badPnr.ID,
			wantStep:   "steps[1].map",
			wantReason: []string{"mapping lifecare/order_xml_to_order_event", "field order.client.person_id", "personnummer: check digit does not match"},
			wantField:  "order.client.person_id",
			secrets:    []string{badPnr.Client.Personnummer, badCheckDigit}},
		{name: "unknown insats code", body: encode(t, unknownInsats), order: unknownInsats.ID,
			wantStep:   "steps[1].map",
			wantReason: []string{"field order.insatser[1].code", `lookup insats: unknown key (known: DUSCH`},
			wantField:  "order.insatser[1].code"},
		{name: "end before start", before: []lifecaresim.OrderMessage{started}, body: encode(t, endBeforeStart),
			order: started.ID, stored: true,
			wantStep:   "commit",
			wantReason: []string{"order BEST-2026-0015: ended refused in state", "end date 2026-11-05 before valid_from 2026-11-10"}},
	}
}

// TestOrdersBadInput pushes each bad order message into the hub: it is
// accepted (202), then dead-lettered at the step that found the problem,
// with the reason; nothing reaches a provider; an order the message would
// have created is not stored; replaying the unchanged message dead-letters
// it again for the same reason (it is replayable once the cause is fixed;
// TestOrdersReplayAfterFix shows a fixed one going through).
func TestOrdersBadInput(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, nil)
			for _, tc := range orderCases(t) {
				t.Run(tc.name, func(t *testing.T) {
					for _, m := range tc.before {
						id := h.push(t, m)
						if rec := waitDone(t, h.st, id); rec.Status != store.StatusProcessed {
							t.Fatalf("setup message %s is %s, want processed: %+v", m.EventID(), rec.Status, deadLetters(t, h.st, id))
						}
						h.waitReceipt(t, m.OrderID(), "mottagen")
					}
					delivered := len(h.deliveredTo(tc.order))
					id := h.pushBody(t, tc.body)
					if rec := waitDone(t, h.st, id); rec.Status != store.StatusDead {
						t.Fatalf("message %s is %s, want dead", id, rec.Status)
					}
					dl := checkOrderDeadLetter(t, h.st, id, "lifecare_orders", tc.wantStep, tc.wantReason)
					if tc.wantField != "" && dl.Field != tc.wantField {
						t.Errorf("dead letter field = %q, want %q", dl.Field, tc.wantField)
					}
					for _, s := range tc.secrets {
						checkNowhere(t, h.st, h.logs, id, s)
					}
					_, err := h.st.Order(t.Context(), "lifecare", tc.order)
					switch {
					case tc.stored && err != nil:
						t.Errorf("order %s: %v, want it stored", tc.order, err)
					case !tc.stored && !errors.Is(err, store.ErrNotFound):
						t.Errorf("order %s: err = %v, want ErrNotFound: a dead message stores nothing", tc.order, err)
					}
					checkOrderReplayDeadAgain(t, h.srv, id, dl)
					h.settle(t)
					if n := len(h.deliveredTo(tc.order)); n != delivered {
						t.Errorf("Omsorg Norr got %d more deliveries for %s, want none", n-delivered, tc.order)
					}
					if n := h.soderFiles(t, tc.order); n != 0 {
						t.Errorf("Hemtjänsten Söder got %d files for %s, want none", n, tc.order)
					}
				})
			}
			// The hub keeps serving: a good order after all that is delivered.
			good := newOrder(19, pids(t)[9], "omsorg-norr")
			id := h.push(t, good)
			if rec := waitDone(t, h.st, id); rec.Status != store.StatusProcessed {
				t.Fatalf("good order is %s, want processed", rec.Status)
			}
			h.waitReceipt(t, good.ID, "mottagen")
			if n := len(h.deliveredTo(good.ID)); n != 1 {
				t.Errorf("Omsorg Norr got %d deliveries of the good order, want 1", n)
			}
		})
	}
}

// TestOrdersReplayAfterFix dead-letters an order for an insats code the
// municipality's mapping does not know yet, then fixes the cause (the
// insats lookup in a copy of mappings/ gains TRADGARD) and replays the
// dead letter on a hub with the fixed mapping, on the same store: the
// order is stored with the new insats and delivered once.
func TestOrdersReplayAfterFix(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, nil)
			o := newOrder(21, pids(t)[5], "omsorg-norr")
			o.Insatser = append(o.Insatser, lifecaresim.Insats{Code: "TRADGARD", Text: "Trädgårdsskötsel", Minutes: 60, Period: "manad", Times: 1})
			id := h.push(t, o)
			if rec := waitDone(t, h.st, id); rec.Status != store.StatusDead {
				t.Fatalf("message %s is %s, want dead", id, rec.Status)
			}
			dl := checkDeadLetter(t, h.st, id, "lifecare_orders", "steps[1].map", []string{`lookup insats: unknown key (known: DUSCH`})
			h.settle(t)
			h.stop()

			fixed := *h.cfg
			fixed.Mappings = copyMappings(t, func(rel string, b []byte) []byte {
				if rel != filepath.Join("lifecare", "order_xml_to_order_event.yaml") {
					return b
				}
				out := strings.Replace(string(b), "    KVALL: KVALL\n", "    KVALL: KVALL\n    TRADGARD: TRADGARD\n", 1)
				if out == string(b) {
					t.Fatal("insats lookup not found in the mapping")
				}
				return []byte(out)
			})
			h.start(t, &fixed)
			newID, err := h.srv.Replay(t.Context(), id)
			if err != nil {
				t.Fatalf("Replay(%s): %v", id, err)
			}
			if rec := waitDone(t, h.st, newID); rec.Status != store.StatusProcessed {
				t.Fatalf("replay %s is %s, want processed: %+v", newID, rec.Status, deadLetters(t, h.st, newID))
			}
			checkReplayed(t, h.st, id, dl.ID, newID)
			stored, err := h.st.Order(t.Context(), "lifecare", o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(stored.Insatser); n != 2 || stored.Insatser[1].Code != "TRADGARD" {
				t.Errorf("stored insatser = %+v, want DUSCH and TRADGARD", stored.Insatser)
			}
			h.waitReceipt(t, o.ID, "mottagen")
			if n := len(h.deliveredTo(o.ID)); n != 1 {
				t.Errorf("Omsorg Norr got %d deliveries, want 1", n)
			}
		})
	}
}

// copyMappings copies the repository's mappings/ to a new directory,
// passing each file through edit (rel is its path inside mappings/).
func copyMappings(t *testing.T, edit func(rel string, b []byte) []byte) string {
	t.Helper()
	src := "../../mappings"
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), edit(rel, b), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestOrdersSurviveRestart stops the hub while its deliveries wait for a
// provider that is down, and starts it again on the same store once the
// provider is back: the queues live in the hub's process, so what was
// accepted and not finished must come back from the message log, every
// order delivered exactly once and acknowledged to the case system.
func TestOrdersSurviveRestart(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, map[string]string{"provider_omsorg_norr": "{attempts: 50, backoff: 20ms, max_backoff: 100ms}"})
			h.norr.Down()
			var orders, deliveries []string
			for i := range 6 {
				o := newOrder(70+i, pids(t)[20+i], "omsorg-norr")
				id := h.push(t, o)
				orders = append(orders, o.ID)
				deliveries = append(deliveries, h.delivery(t, id))
			}
			for _, d := range deliveries {
				if rec, err := h.st.Message(t.Context(), d); err != nil || rec.Status != store.StatusReceived {
					t.Fatalf("delivery %s: %q %v, want received (waiting for the provider)", d, rec.Status, err)
				}
			}
			h.stop()
			if err := h.norr.Up(); err != nil {
				t.Fatal(err)
			}
			h.start(t, h.cfg)
			for _, d := range deliveries {
				if rec := waitDone(t, h.st, d); rec.Status != store.StatusProcessed {
					t.Fatalf("delivery %s is %s after the restart, want processed: %+v", d, rec.Status, deadLetters(t, h.st, d))
				}
			}
			for _, o := range orders {
				h.waitReceipt(t, o, "mottagen")
			}
			h.settle(t)
			for _, o := range orders {
				if n := len(h.deliveredTo(o)); n != 1 {
					t.Errorf("order %s: Omsorg Norr got %d deliveries, want exactly 1", o, n)
				}
			}
			if dls := listDead(t, h.st); len(dls) > 0 {
				t.Errorf("%d dead letters, first %s at %s: %s", len(dls), dls[0].Pipeline, dls[0].Step, dls[0].Reason)
			}
		})
	}
}

// TestReplayFromAnotherProcess replays a dead delivery the way `knut
// replay` does while `knut serve` runs: from a second hub on the same store
// that never runs. The new message is only in the message log, and the
// running hub must find it there and deliver it.
func TestReplayFromAnotherProcess(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, map[string]string{"provider_omsorg_norr": "{attempts: 2, backoff: 10ms, max_backoff: 20ms}"})
			o := newOrder(80, pids(t)[30], "omsorg-norr")
			h.norr.Down()
			delivery := h.delivery(t, h.push(t, o))
			if rec := waitDone(t, h.st, delivery); rec.Status != store.StatusDead {
				t.Fatalf("delivery is %s, want dead", rec.Status)
			}
			if err := h.norr.Up(); err != nil {
				t.Fatal(err)
			}

			cfg := *h.cfg
			cfg.HTTP.Disabled = true
			secrets := demo.Secrets(adapters.MapSecrets{"env:KNUT_HEMTJANST_SODER_SFTP_PASSWORD": h.soder.Password})
			other, err := server.New(t.Context(), &cfg, server.Options{Logger: zap.NewNop(), Secrets: secrets})
			if err != nil {
				t.Fatalf("second server.New: %v", err)
			}
			newID, err := other.Replay(t.Context(), delivery)
			other.Close()
			if err != nil {
				t.Fatalf("Replay(%s): %v", delivery, err)
			}
			if rec := waitDone(t, h.st, newID); rec.Status != store.StatusProcessed {
				t.Fatalf("replayed delivery %s is %s, want processed by the running hub: %+v", newID, rec.Status, deadLetters(t, h.st, newID))
			}
			h.waitReceipt(t, o.ID, "mottagen")
			h.settle(t)
			if n := len(h.deliveredTo(o.ID)); n != 1 {
				t.Errorf("Omsorg Norr got %d deliveries, want exactly 1", n)
			}
		})
	}
}

// TestOrdersDuplicate sends the same Bestallning twice (same handelseId):
// the second is recognised as a duplicate, answered 200 with the first
// message's id (an id the log holds) and not processed again, and Omsorg
// Norr gets the order once. A second Bestallning with a
// new handelseId for the same bestallningsId is not a duplicate message
// but a create of an existing order: dead-lettered, nothing delivered.
func TestOrdersDuplicate(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, nil)
			o := newOrder(31, pids(t)[6], "omsorg-norr")
			body := encode(t, o)
			first := h.pushBody(t, body)
			if rec := waitDone(t, h.st, first); rec.Status != store.StatusProcessed {
				t.Fatalf("first push is %s, want processed", rec.Status)
			}
			h.waitReceipt(t, o.ID, "mottagen")
			h.settle(t)
			before := counts(t, h.st)

			// The case system's integration resends (it did not see the 202).
			if err := h.cs.Push(t.Context(), "http://"+h.srv.Addr()+"/ingest/lifecare_orders", body, nil); err != nil {
				t.Fatalf("resend: %v, want 202", err)
			}
			code, answer := postAs(t, "http://"+h.srv.Addr()+"/ingest/lifecare_orders", xmlCT, "", body)
			var a struct {
				ID        string
				Duplicate bool
			}
			if err := json.Unmarshal([]byte(answer), &a); err != nil || code != http.StatusOK || a.ID != first || !a.Duplicate {
				t.Errorf("duplicate POST = %d %s, want 200 with the first message's id %s and duplicate true", code, answer, first)
			}
			h.settle(t)
			checkAccounting(t, before, counts(t, h.st), 0)
			msgs, err := h.st.ListMessages(t.Context(), store.MessageFilter{Pipeline: "lifecare_orders", Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range msgs {
				if m.ExternalID == o.EventID() {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d messages with external id %s in the log, want 1", n, o.EventID())
			}
			if n := len(h.deliveredTo(o.ID)); n != 1 {
				t.Errorf("Omsorg Norr got %d deliveries of %s, want 1", n, o.ID)
			}
			if d := h.norr.Duplicates(); d != 0 {
				t.Errorf("Omsorg Norr saw %d repeated deliveries, want 0: the hub must not send twice", d)
			}
			stored, err := h.st.Order(t.Context(), "lifecare", o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Version != 2 { // created, acknowledged
				t.Errorf("order version %d, want 2 (created, acknowledged): applied twice?", stored.Version)
			}

			// Same order id, new event id: a second create of the same order.
			again := newOrder(31, pids(t)[6], "omsorg-norr")
			again.Head.ID = "LC-EV-2026-0031-9"
			again.Head.Time = o.Time.Add(time.Hour)
			id := h.push(t, again)
			if rec := waitDone(t, h.st, id); rec.Status != store.StatusDead {
				t.Fatalf("second create is %s, want dead", rec.Status)
			}
			dl := checkOrderDeadLetter(t, h.st, id, "lifecare_orders", "commit",
				[]string{"order BEST-2026-0031: created not allowed in state acknowledged"})
			checkOrderReplayDeadAgain(t, h.srv, id, dl)
			h.settle(t)
			if n := len(h.deliveredTo(o.ID)); n != 1 {
				t.Errorf("Omsorg Norr got %d deliveries of %s after the second create, want 1", n, o.ID)
			}
			if after, _ := h.st.Order(t.Context(), "lifecare", o.ID); after.Version != stored.Version {
				t.Errorf("order version %d after the refused create, want %d", after.Version, stored.Version)
			}
		})
	}
}

// TestOrdersUnknownOrder sends changes and ends for an order the hub has
// not seen. With a short wait (retry attempts 3, 20–50 ms), the change
// waits, gives up and is dead-lettered naming the unknown order; once the
// Bestallning has arrived, replaying the change applies it. And a change
// sent just before its create, which follows at once, waits for the create
// and is applied after it with no dead letter (the shipped retry).
func TestOrdersUnknownOrder(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Run("dead-lettered then replayed", func(t *testing.T) {
				h := startOrderHub(t, db, map[string]string{"lifecare_orders": "{attempts: 3, backoff: 20ms, max_backoff: 50ms}"})
				o := newOrder(41, pids(t)[7], "omsorg-norr")
				change := changeOf(o, 2)
				end := &lifecaresim.Avslut{
					Head:  lifecaresim.Head{Version: lifecaresim.Version, ID: "LC-EV-2026-0042-2", Time: o.Time.Add(time.Hour)},
					Order: "BEST-2026-0042", Provider: "omsorg-norr",
					Date: homecare.DateOf(time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)), Reason: "flyttat",
				}
				for _, c := range []struct {
					msg   lifecaresim.OrderMessage
					event string
				}{{change, "changed"}, {end, "ended"}} {
					id := h.push(t, c.msg)
					if rec := waitDone(t, h.st, id); rec.Status != store.StatusDead {
						t.Fatalf("%s for an unknown order is %s, want dead", c.event, rec.Status)
					}
					checkOrderDeadLetter(t, h.st, id, "lifecare_orders", "commit", []string{
						"gave up after waiting 2 times",
						fmt.Sprintf("order %s: %s: unknown order", c.msg.OrderID(), c.event)})
					attempts, err := h.st.Attempts(t.Context(), id)
					if err != nil {
						t.Fatal(err)
					}
					waits := 0
					for _, a := range attempts {
						// The give-up is recorded too, as the last attempt.
						if strings.Contains(a.Error, "waiting: ") && !strings.Contains(a.Error, "gave up") {
							waits++
						}
					}
					if waits != 2 {
						t.Errorf("%d waits recorded, want 2 before giving up (retry.attempts 3): %+v", waits, attempts)
					}
					if _, err := h.st.Order(t.Context(), "lifecare", c.msg.OrderID()); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("order %s: %v, want ErrNotFound", c.msg.OrderID(), err)
					}
				}
				h.settle(t)
				if n := len(h.norr.Received()); n != 0 {
					t.Errorf("Omsorg Norr got %d deliveries for unknown orders, want none", n)
				}

				// The cause is fixed: the order arrives; replay the change.
				changeID := ""
				for _, dl := range listDead(t, h.st) {
					if dl.Pipeline == "lifecare_orders" && strings.Contains(dl.Reason, "order "+o.ID+": changed") {
						changeID = dl.MessageID
					}
				}
				if changeID == "" {
					t.Fatal("the change's dead letter is gone")
				}
				if rec := waitDone(t, h.st, h.push(t, o)); rec.Status != store.StatusProcessed {
					t.Fatalf("the Bestallning is %s, want processed", rec.Status)
				}
				h.waitReceipt(t, o.ID, "mottagen")
				newID, err := h.srv.Replay(t.Context(), changeID)
				if err != nil {
					t.Fatalf("Replay(%s): %v", changeID, err)
				}
				if rec := waitDone(t, h.st, newID); rec.Status != store.StatusProcessed {
					t.Fatalf("replayed change %s is %s, want processed: %+v", newID, rec.Status, deadLetters(t, h.st, newID))
				}
				checkChanged(t, h, o, change)
				h.settle(t)
				var events []string
				for _, d := range h.deliveredTo(o.ID) {
					var b struct{ Event string }
					json.Unmarshal(d.Body, &b)
					events = append(events, b.Event)
				}
				if strings.Join(events, ",") != "created,changed" {
					t.Errorf("Omsorg Norr got events %v for %s, want created then changed", events, o.ID)
				}
			})

			t.Run("change just before its create waits", func(t *testing.T) {
				h := startOrderHub(t, db, nil) // the shipped retry: waits 0.5 s, 1 s, … up to 8 times
				o := newOrder(43, pids(t)[8], "omsorg-norr")
				change := changeOf(o, 2)
				changeID := h.push(t, change)
				createID := h.push(t, o)
				if rec := waitDone(t, h.st, createID); rec.Status != store.StatusProcessed {
					t.Fatalf("create is %s, want processed", rec.Status)
				}
				if rec := waitDone(t, h.st, changeID); rec.Status != store.StatusProcessed {
					t.Fatalf("change is %s, want processed after waiting: %+v", rec.Status, deadLetters(t, h.st, changeID))
				}
				attempts, err := h.st.Attempts(t.Context(), changeID)
				if err != nil {
					t.Fatal(err)
				}
				waited := false
				for _, a := range attempts {
					waited = waited || strings.Contains(a.Error, "waiting: ") && strings.Contains(a.Error, "unknown order")
				}
				if !waited {
					t.Errorf("the change did not wait for its create: attempts %+v", attempts)
				}
				checkChanged(t, h, o, change)
				h.settle(t)
				if dls := listDead(t, h.st); len(dls) != 0 {
					t.Errorf("dead letters: %+v, want none", dls)
				}
			})
		})
	}
}

// checkChanged checks that order o, as stored, reflects change c.
func checkChanged(t *testing.T, h *orderHub, o *lifecaresim.Bestallning, c *lifecaresim.Andring) {
	t.Helper()
	stored, err := h.st.Order(t.Context(), "lifecare", o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.OrderText != c.Text {
		t.Errorf("order text %q, want the change's %q", stored.OrderText, c.Text)
	}
	var codes []string
	for _, in := range stored.Insatser {
		codes = append(codes, in.Code)
	}
	if strings.Join(codes, ",") != "DUSCH,TILLSYN" {
		t.Errorf("insatser %v, want DUSCH,TILLSYN after the change", codes)
	}
	if stored.Status.Closed() || stored.Status == homecare.OrderStatusRejected {
		t.Errorf("order status %s after a change", stored.Status)
	}
	events, err := h.st.OrderEvents(t.Context(), stored.ID)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, e := range events {
		if e.Event.Type == homecare.OrderChanged {
			changed++
		}
	}
	if changed != 1 {
		t.Errorf("%d changed events stored, want 1", changed)
	}
}

// checkOrderDeadLetter is checkDeadLetter: now that commit failures are
// recorded as attempts, a commit-step dead letter meets the same rule.
func checkOrderDeadLetter(t *testing.T, st *store.Store, id, pipeline, step string, reasons []string) store.DeadLetterRecord {
	t.Helper()
	return checkDeadLetter(t, st, id, pipeline, step, reasons)
}

// checkOrderReplayDeadAgain is checkReplayDeadAgain for reasons that name
// the message more than once (a store step's error does).
func checkOrderReplayDeadAgain(t *testing.T, srv *server.Server, id string, dl store.DeadLetterRecord) {
	t.Helper()
	if dl.ID == "" {
		return
	}
	st := srv.Store()
	newID, err := srv.Replay(t.Context(), id)
	if err != nil {
		t.Fatalf("Replay(%s): %v", id, err)
	}
	if rec := waitDone(t, st, newID); rec.Status != store.StatusDead {
		t.Errorf("replay %s of unchanged bad input is %s, want dead", newID, rec.Status)
	}
	again := deadLetters(t, st, newID)
	if len(again) != 1 || again[0].Step != dl.Step || again[0].Pipeline != dl.Pipeline ||
		strings.ReplaceAll(again[0].Reason, newID, id) != dl.Reason {
		t.Errorf("replay %s dead letters = %+v, want one like the original's: %s: %s", newID, again, dl.Step, dl.Reason)
	}
	checkReplayed(t, st, id, dl.ID, newID)
	if _, err := srv.Replay(t.Context(), id); err == nil {
		t.Errorf("Replay(%s) twice succeeded; a replayed message must not be replayed again", id)
	}
}

func listDead(t *testing.T, st *store.Store) []store.DeadLetterRecord {
	t.Helper()
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{Unresolved: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return dls
}

// TestOrdersProtectedIdentity sends an order for a client with protected
// identity (skyddadIdentitet): the name and address reach the provider the
// client chose, and nothing else: not the other provider, not the receipts
// to the case system, not a log line, not the store's tables in clear text.
func TestOrdersProtectedIdentity(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, nil)
			pid := pids(t)[10]
			o := newOrder(51, pid, "omsorg-norr")
			o.Client.Protected = true
			o.Client.GivenName = "Hemliga"
			o.Client.FamilyName = "Skyddadsdottir"
			o.Client.Address = lifecaresim.Address{Street: "Doldagränd 17", Postcode: "987 65", City: "Gömstad", ApartmentNo: "1203"}
			o.Client.Contacts = []lifecaresim.Contact{{Name: "Anhörig Skyddadsdottir", Relation: "dotter", Phone: "070-174 06 07"}}
			secrets := []string{o.Client.FamilyName, o.Client.GivenName, o.Client.Address.Street, o.Client.Address.City, pid.Reveal()}

			id := h.push(t, o)
			if rec := waitDone(t, h.st, id); rec.Status != store.StatusProcessed {
				t.Fatalf("order is %s, want processed: %+v", rec.Status, deadLetters(t, h.st, id))
			}
			h.waitReceipt(t, o.ID, "mottagen")
			h.settle(t)

			// The chosen provider gets what it needs to give care.
			got := h.deliveredTo(o.ID)
			if len(got) != 1 {
				t.Fatalf("Omsorg Norr got %d deliveries, want 1", len(got))
			}
			var delivered struct {
				Client struct {
					Protected  bool   `json:"protected_identity"`
					GivenName  string `json:"given_name"`
					FamilyName string `json:"family_name"`
					Address    struct {
						Street string `json:"street"`
						City   string `json:"city"`
					} `json:"address"`
				} `json:"client"`
			}
			if err := json.Unmarshal(got[0].Body, &delivered); err != nil {
				t.Fatal(err)
			}
			c := delivered.Client
			if !c.Protected || c.GivenName != o.Client.GivenName || c.FamilyName != o.Client.FamilyName ||
				c.Address.Street != o.Client.Address.Street || c.Address.City != o.Client.Address.City {
				t.Errorf("provider got client %+v, want the protected flag, name and address", c)
			}
			stored, err := h.st.Order(t.Context(), "lifecare", o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !stored.Client.ProtectedIdentity || stored.Client.FamilyName != o.Client.FamilyName {
				t.Errorf("stored order client: protected %v, family name stored %v", stored.Client.ProtectedIdentity, stored.Client.FamilyName == o.Client.FamilyName)
			}

			// Nowhere else.
			for _, s := range secrets {
				if n := h.soderFiles(t, s); n != 0 {
					t.Errorf("Hemtjänsten Söder got %d files with the client's %q", n, s)
				}
				for _, r := range h.cs.Receipts() {
					if strings.Contains(string(r.Body), s) {
						t.Errorf("a receipt to the case system carries %q: %s", s, r.Body)
					}
				}
				checkNoneInLogs(t, h.logs, s)
				for _, dl := range listDead(t, h.st) {
					t.Errorf("dead letter %s at %s: %s", dl.Pipeline, dl.Step, dl.Reason)
				}
			}
			if len(h.cs.Receipts()) == 0 {
				t.Fatal("no receipts to check")
			}
			h.stop() // flush and close the store before reading it
			for _, s := range secrets[:4] {
				for _, where := range clearText(t, h.cfg, s) {
					t.Errorf("the client's %q is in clear text in the store: %s", s, where)
				}
			}
		})
	}
}

// clearText lists the table.column of the store (every table of the
// SQLite file or the PostgreSQL database, read raw, as stored) whose values
// contain s.
func clearText(t *testing.T, cfg *config.Config, s string) []string {
	t.Helper()
	var found []string
	driver, dsn := "sqlite", cfg.StoreDSN()
	if cfg.IsPostgres() {
		driver = "pgx"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if cfg.IsPostgres() {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, table := range tables {
		rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		hit := map[string]bool{}
		for rows.Next() {
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
				switch v := v.(type) {
				case []byte:
					text = string(v)
				case string:
					text = v
				default:
					text = fmt.Sprint(v)
				}
				if strings.Contains(text, s) && !hit[cols[i]] {
					hit[cols[i]] = true
					found = append(found, table+"."+cols[i])
				}
			}
		}
		rows.Close()
	}
	return found
}

// TestOrdersProviderDown takes Omsorg Norr's webhook down while orders
// come in. With a test retry (6 attempts, 50 ms doubling to at most
// 400 ms) a delivery is retried while the provider is down, and delivered
// exactly once when it is back; one that outlasts the retries is
// dead-lettered at step to.provider, and replaying it once the provider is
// back delivers it.
//
// The shipped policy, retry {attempts: 14, backoff: 5s, max_backoff: 10m},
// is what lets a provider be down for an hour: the 13 waits between the 14
// attempts double from 5 s until they reach the 10 min cap, 5+10+20+40+80+
// 160+320 s = 635 s (10.6 min) for the first seven, then six of 10 min
// (60 min): about 70.6 minutes before the delivery is dead-lettered, ready
// for replay. (See the report: the retry middleware as wired in
// internal/router draws more than one backoff interval per failure, so
// the waits actually grow faster than configured.)
func TestOrdersProviderDown(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, map[string]string{"provider_omsorg_norr": "{attempts: 6, backoff: 50ms, max_backoff: 400ms}"})

			t.Run("back before the retries end", func(t *testing.T) {
				o := newOrder(61, pids(t)[11], "omsorg-norr")
				h.norr.Down()
				id := h.push(t, o)
				if rec := waitDone(t, h.st, id); rec.Status != store.StatusProcessed {
					t.Fatalf("order message is %s, want processed (only the delivery waits)", rec.Status)
				}
				delivery := h.delivery(t, id)
				deadline := time.Now().Add(20 * time.Second)
				for {
					attempts, err := h.st.Attempts(t.Context(), delivery)
					if err != nil {
						t.Fatal(err)
					}
					if len(attempts) >= 2 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("delivery %s: %d attempts after 20s, want retries", delivery, len(attempts))
					}
					time.Sleep(5 * time.Millisecond)
				}
				if rec, _ := h.st.Message(t.Context(), delivery); rec.Status != store.StatusReceived {
					t.Fatalf("delivery is %s while retrying, want received", rec.Status)
				}
				if err := h.norr.Up(); err != nil {
					t.Fatal(err)
				}
				if rec := waitDone(t, h.st, delivery); rec.Status != store.StatusProcessed {
					t.Fatalf("delivery is %s after the provider came back, want processed: %+v", rec.Status, deadLetters(t, h.st, delivery))
				}
				attempts, err := h.st.Attempts(t.Context(), delivery)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(attempts); n < 3 || attempts[0].Error == "" || attempts[n-1].Error != "" || attempts[0].Step != "to.provider" {
					t.Errorf("attempts = %+v, want failures at to.provider then one success", attempts)
				}
				for i := 1; i < len(attempts); i++ {
					if gap := attempts[i].At.Sub(attempts[i-1].At); gap < 40*time.Millisecond {
						t.Errorf("attempt %d came %s after the one before, want at least the 50ms backoff", i+1, gap)
					}
				}
				h.waitReceipt(t, o.ID, "mottagen")
				h.settle(t)
				if n := len(h.deliveredTo(o.ID)); n != 1 {
					t.Errorf("Omsorg Norr got %d deliveries, want exactly 1", n)
				}
				if d := h.norr.Duplicates(); d != 0 {
					t.Errorf("Omsorg Norr saw %d repeated deliveries, want 0", d)
				}
			})

			t.Run("down past the retries, replayed", func(t *testing.T) {
				o := newOrder(62, pids(t)[12], "omsorg-norr")
				h.norr.Down()
				id := h.push(t, o)
				delivery := h.delivery(t, id)
				if rec := waitDone(t, h.st, delivery); rec.Status != store.StatusDead {
					t.Fatalf("delivery is %s, want dead after the retries", rec.Status)
				}
				dl := checkDeadLetter(t, h.st, delivery, "provider_omsorg_norr", "to.provider", []string{"connection refused"})
				attempts, err := h.st.Attempts(t.Context(), delivery)
				if err != nil {
					t.Fatal(err)
				}
				if len(attempts) != 6 {
					t.Errorf("delivery had %d attempts, want 6 (retry.attempts)", len(attempts))
				}
				for i := 1; i < len(attempts); i++ {
					t.Logf("wait before attempt %d: %s", i+1, attempts[i].At.Sub(attempts[i-1].At).Round(time.Millisecond))
				}
				if n := len(h.deliveredTo(o.ID)); n != 0 {
					t.Fatalf("Omsorg Norr got %d deliveries while down", n)
				}
				if stored, err := h.st.Order(t.Context(), "lifecare", o.ID); err != nil || stored.Status != homecare.OrderStatusSent {
					t.Errorf("order %s: %q %v, want stored and sent (not acknowledged)", o.ID, stored.Status, err)
				}

				if err := h.norr.Up(); err != nil {
					t.Fatal(err)
				}
				newID, err := h.srv.Replay(t.Context(), delivery)
				if err != nil {
					t.Fatalf("Replay(%s): %v", delivery, err)
				}
				if rec := waitDone(t, h.st, newID); rec.Status != store.StatusProcessed {
					t.Fatalf("replayed delivery %s is %s, want processed", newID, rec.Status)
				}
				checkReplayed(t, h.st, delivery, dl.ID, newID)
				h.waitReceipt(t, o.ID, "mottagen")
				h.waitOrder(t, o.ID, homecare.OrderStatusAcknowledged)
				h.settle(t)
				if n := len(h.deliveredTo(o.ID)); n != 1 {
					t.Errorf("Omsorg Norr got %d deliveries after the replay, want exactly 1", n)
				}
			})
		})
	}
}
