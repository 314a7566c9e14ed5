package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// A fixture is a small case written by hand: the orders, tags, visits and lock events,
// the rules (the demo rule set with overrides), and every line the run must give, each
// figure computed by hand from docs/reconciliation.md, never by the engine. The loader
// puts the inputs into a real store through the store's own write paths (order events,
// visits, tags, key grants and lock events) and runs the nightly review first, as the
// nightly jobs do.
type fixture struct {
	Name    string         `yaml:"name"`
	Rules   map[string]any `yaml:"rules"`
	From    string         `yaml:"from"`
	To      string         `yaml:"to"`
	Clients []string       `yaml:"clients"`
	Orders  []fxOrder      `yaml:"orders"`
	Visits  []fxVisit      `yaml:"visits"`
	Locks   []fxLockEvent  `yaml:"lock_events"`
	Expect  struct {
		Day    []fxLine `yaml:"day"`
		Period []fxLine `yaml:"period"`
	} `yaml:"expect"`
}

type fxOrder struct {
	ID        string                 `yaml:"id"`
	Client    string                 `yaml:"client"`
	Provider  string                 `yaml:"provider"`
	ValidFrom string                 `yaml:"valid_from"`
	ValidTo   string                 `yaml:"valid_to"`
	Insatser  []homecare.OrderInsats `yaml:"-"`
	RawIns    []map[string]any       `yaml:"insatser"`
	Paused    *struct {
		From   string `yaml:"from"`
		Reason string `yaml:"reason"`
	} `yaml:"paused"`
}

type fxVisit struct {
	Ref         string           `yaml:"ref"`
	Client      string           `yaml:"client"`
	Provider    string           `yaml:"provider"`
	Start       string           `yaml:"start"` // local time, "2026-10-05 08:00"
	End         string           `yaml:"end"`
	StartMethod string           `yaml:"start_method"` // default tag
	EndMethod   string           `yaml:"end_method"`
	Tag         string           `yaml:"tag"` // default the client's; "foreign": another client's
	Staff       []string         `yaml:"staff"`
	Insatser    []map[string]any `yaml:"insatser"`
	Status      string           `yaml:"status"`
	Version     int              `yaml:"version"`
	Received    string           `yaml:"received"` // default an hour after the end
	Shared      string           `yaml:"shared"`
	Extra       bool             `yaml:"extra"`
}

type fxLockEvent struct {
	Client string `yaml:"client"`
	Holder string `yaml:"holder"`
	Action string `yaml:"action"`
	At     string `yaml:"at"`
}

// fxLine is an expected line; minutes may have decimals, amount is kronor.
type fxLine struct {
	Client      string   `yaml:"client"`
	Provider    string   `yaml:"provider"`
	Category    string   `yaml:"category"`
	Date        string   `yaml:"date"`
	Granted     float64  `yaml:"granted"`
	Registered  float64  `yaml:"registered"`
	Verified    float64  `yaml:"verified"`
	Payable     float64  `yaml:"payable"`
	Schablon    float64  `yaml:"schablon"`
	Declined    float64  `yaml:"declined"`
	DoubleStaff float64  `yaml:"double_staff"`
	Manual      float64  `yaml:"manual"`
	Amount      float64  `yaml:"amount"`
	Visits      int      `yaml:"visits"`
	Status      []string `yaml:"status"`
}

const hsaPrefix = "TSTNMT2321000156-"

var loc = homecare.Stockholm()

func localTime(t testing.TB, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) > len(layout) {
		layout = "2006-01-02 15:04:05" // a visit's seconds, for rounding
	}
	tm, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return tm
}

func date(t testing.TB, s string) homecare.Date {
	t.Helper()
	d, err := homecare.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// decodeInto turns YAML-decoded values into v through JSON (the canonical types' JSON).
func decodeInto(t testing.TB, from any, v any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// fixtureRules is the demo rule set with the fixture's overrides.
func fixtureRules(t testing.TB, overrides map[string]any) *reconcile.RuleSet {
	t.Helper()
	data, err := os.ReadFile("../../rulesets/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range overrides {
		m[k] = v
	}
	for k, v := range m {
		if tm, ok := v.(time.Time); ok { // YAML reads a bare date as a time
			m[k] = tm.Format(time.DateOnly)
		}
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reconcile.ParseRuleSet("fixture rules", out)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// world is a fixture's inputs loaded into a store.
type world struct {
	st      *store.Store
	now     *time.Time
	clients map[string]homecare.PersonID
	keys    map[string]string // client alias → store key
	lock    map[string]string // client alias → lock ref
}

// openWorld opens a store on dsn whose clock the loader sets.
func openWorld(t testing.TB, dsn string) *world {
	t.Helper()
	now := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := &world{now: &now, clients: map[string]homecare.PersonID{}, keys: map[string]string{}, lock: map[string]string{}}
	st, err := store.OpenWith(context.Background(), dsn, store.Options{PersonIDKey: bytes.Repeat([]byte("k"), 32),
		PersonIDEncryptionKey: bytes.Repeat([]byte("e"), 32), Clock: func() time.Time { return *w.now }, SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	return w
}

// dsns are a fresh database of each dialect.
func dsns(t *testing.T) []storetest.Database {
	dbs := storetest.Databases(t)
	for i := range dbs {
		if dbs[i].DSN == "" {
			dbs[i].DSN = filepath.Join(t.TempDir(), "knut.db")
		}
	}
	return dbs
}

func (w *world) load(t testing.TB, f *fixture) {
	t.Helper()
	ctx := context.Background()
	ids := homecare.OfficialTestPersonIDs()
	for i, c := range f.Clients {
		w.clients[c] = ids[i]
		w.lock[c] = fmt.Sprintf("%d", 17001+i)
	}
	created := createdTemplate(t)
	for _, o := range f.Orders {
		for _, raw := range o.RawIns {
			var in homecare.OrderInsats
			decodeInto(t, raw, &in)
			o.Insatser = append(o.Insatser, in)
		}
		from := date(t, o.ValidFrom)
		ev := created
		ev.EventID, ev.OccurredAt = o.ID+"-created", from.AddDays(-5).In(loc).Add(9*time.Hour)
		ev.Order.ExternalID, ev.Order.ProviderID, ev.Order.ValidFrom = o.ID, o.Provider, from
		ev.Order.DecidedAt = from.AddDays(-5)
		ev.Order.ValidTo = homecare.Date{}
		if o.ValidTo != "" {
			ev.Order.ValidTo = date(t, o.ValidTo)
		}
		client := *created.Order.Client
		client.PersonID = w.clients[o.Client]
		ev.Order.Client, ev.Order.Insatser = &client, o.Insatser
		ev.Order.Key = &homecare.OrderKey{LockRef: w.lock[o.Client]}
		w.apply(t, ev)
		if o.Paused != nil {
			p := homecare.OrderEvent{SourceSystem: "lifecare", EventID: o.ID + "-paused", Type: homecare.OrderPaused,
				OccurredAt: ev.OccurredAt.Add(time.Hour), Order: homecare.OrderSnapshot{ExternalID: o.ID},
				Pause: &homecare.OrderPause{From: date(t, o.Paused.From), Reason: homecare.PauseReason(o.Paused.Reason)}}
			w.apply(t, p)
		}
		if err := w.st.RegisterTag(ctx, tagOf(o.Client, f.Clients), w.clients[o.Client], from.AddDays(-5), "door", "test"); err != nil &&
			!strings.Contains(err.Error(), "already") {
			t.Fatalf("tag: %v", err)
		}
	}
	for _, v := range f.Visits {
		w.visit(t, f, v)
	}
	grants := map[string]bool{}
	for i, e := range f.Locks {
		holder := homecare.HSAID(hsaPrefix + e.Holder)
		k := e.Client + "/" + e.Holder
		if !grants[k] {
			grants[k] = true
			w.grant(t, e.Client, holder)
		}
		at := localTime(t, e.At)
		err := w.st.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.InsertLockEvent(ctx, homecare.LockEvent{Vendor: "nuki", EventRef: fmt.Sprintf("ev-%d", i), LockRef: w.lock[e.Client],
				OccurredAt: at, Action: e.Action, Result: "success", Holder: string(holder)}, "")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The keys of the clients: the store's, as lines name them.
	for alias, pid := range w.clients {
		k, err := w.st.ClientKey(pid)
		if err != nil {
			t.Fatal(err)
		}
		w.keys[alias] = k
	}
	// The nightly review first, as the jobs run it: tags at the wrong door, overlaps.
	if _, err := w.st.ReviewVisits(ctx, date(t, f.From), date(t, f.To)); err != nil {
		t.Fatal(err)
	}
}

func tagOf(client string, clients []string) string {
	return fmt.Sprintf("04A224%02X", 0xB0+slices.Index(clients, client))
}

func createdTemplate(t testing.TB) homecare.OrderEvent {
	t.Helper()
	b, err := os.ReadFile("../../schemas/canonical/testdata/valid/order_event_created.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev homecare.OrderEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (w *world) apply(t testing.TB, ev homecare.OrderEvent) {
	t.Helper()
	*w.now = ev.OccurredAt
	if err := ev.Validate(homecare.ValidateOptions{AllowTestHSAIDs: true, RequireTestPersonIDs: true}); err != nil {
		t.Fatalf("order event %s: %v", ev.EventID, err)
	}
	if _, err := w.st.ApplyOrderEvent(context.Background(), ev, ""); err != nil {
		t.Fatalf("order event %s: %v", ev.EventID, err)
	}
}

func (w *world) grant(t testing.TB, client string, holder homecare.HSAID) {
	t.Helper()
	ctx := context.Background()
	lock := w.lock[client]
	c := store.KeyChange{KeyGrantChange: homecare.KeyGrantChange{ChangeID: homecare.KeyChangeID(lock, holder, 1), Seq: 1,
		Op: homecare.KeyGrantOp, LockRef: lock, Holder: holder, ProviderID: "norr", Reason: "order",
		KeyWindow: homecare.KeyWindow{ValidFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}, Client: w.clients[client]}
	*w.now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := w.st.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.RecordKeyChange(ctx, "nuki", c); err != nil {
			return err
		}
		return tx.ApplyKeyGrantResult(ctx, "nuki", homecare.KeyGrantResult{ChangeID: c.ChangeID, Seq: 1, Op: c.Op, LockRef: lock,
			Holder: holder, State: store.KeyActive})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) visit(t testing.TB, f *fixture, fv fxVisit) {
	t.Helper()
	start, end := localTime(t, fv.Start), localTime(t, fv.End)
	v := homecare.Visit{SourceSystem: "tes", ExternalID: fv.Ref, ProviderID: fv.Provider,
		Client:  homecare.VisitClient{PersonID: w.clients[fv.Client], PersonIDType: homecare.Personnummer},
		StartAt: start.UTC(), EndAt: end.UTC(), LocalDate: homecare.LocalDate(start),
		DurationMinutes: int((end.Sub(start) + 30*time.Second) / time.Minute), Status: homecare.VisitCompleted,
		StartMethod: homecare.MethodTag, EndMethod: homecare.MethodTag, Version: fv.Version, SharedVisitRef: fv.Shared, IsExtra: fv.Extra}
	if fv.Status != "" {
		v.Status = homecare.VisitStatus(fv.Status)
	}
	if fv.StartMethod != "" {
		v.StartMethod = homecare.RegistrationMethod(fv.StartMethod)
	}
	if fv.EndMethod != "" {
		v.EndMethod = homecare.RegistrationMethod(fv.EndMethod)
	}
	uid := tagOf(fv.Client, f.Clients)
	switch fv.Tag {
	case "":
	case "foreign":
		uid = "04FFFF01"
	default:
		uid = tagOf(fv.Tag, f.Clients)
	}
	if v.StartMethod == homecare.MethodTag {
		v.StartTagUID = uid
	}
	if v.EndMethod == homecare.MethodTag {
		v.EndTagUID = uid
	}
	staff := fv.Staff
	if len(staff) == 0 {
		staff = []string{"1001"}
	}
	for i, s := range staff {
		role := homecare.RolePrimary
		if i > 0 {
			role = homecare.RoleSecond
		}
		v.Staff = append(v.Staff, homecare.VisitStaff{HSAID: homecare.HSAID(hsaPrefix + s), Role: role})
	}
	for _, raw := range fv.Insatser {
		var in homecare.VisitInsats
		decodeInto(t, raw, &in)
		v.Insatser = append(v.Insatser, in)
	}
	*w.now = end.Add(time.Hour)
	if fv.Received != "" {
		*w.now = localTime(t, fv.Received)
	}
	if err := v.ValidateWith(homecare.ValidateOptions{AllowTestHSAIDs: true, RequireTestPersonIDs: true}); err != nil {
		t.Fatalf("visit %s: %v", fv.Ref, err)
	}
	if _, err := w.st.UpsertVisit(context.Background(), v); err != nil {
		t.Fatalf("visit %s: %v", fv.Ref, err)
	}
}

func readFixture(t testing.TB, path string) *fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &f
}

// TestFixtures runs every hand-computed case in testdata/fixtures on each database and
// compares every line with the one written by hand.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/fixtures/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, db := range dsns(t) {
		t.Run(db.Name, func(t *testing.T) {
			for _, file := range files {
				t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
					f := readFixture(t, file)
					dsn := db.DSN
					if db.Name == "postgres" {
						dsn = storetest.FreshPostgres(t, storetest.Cluster(t))
					} else {
						dsn = filepath.Join(t.TempDir(), "knut.db")
					}
					w := openWorld(t, dsn)
					w.load(t, f)
					*w.now = date(t, f.To).AddDays(3).In(loc)
					res, err := reconcile.Run(context.Background(), w.st, fixtureRules(t, f.Rules),
						reconcile.Options{From: date(t, f.From), To: date(t, f.To), Trigger: "test"})
					if err != nil {
						t.Fatal(err)
					}
					var days []homecare.ReconciliationLine
					if err := w.st.RunLines(context.Background(), res.Run.ID, homecare.LineDay, func(l *homecare.ReconciliationLine) error {
						days = append(days, *l)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					w.compare(t, "day", f.Expect.Day, days)
					if f.Expect.Period != nil {
						w.compare(t, "period", f.Expect.Period, res.Periods)
					}
				})
			}
		})
	}
}

// compare checks that got holds exactly the expected lines.
func (w *world) compare(t testing.TB, kind string, want []fxLine, got []homecare.ReconciliationLine) {
	t.Helper()
	alias := map[string]string{}
	for a, k := range w.keys {
		alias[k] = a
	}
	key := func(client, provider, category, day string) string {
		return strings.Join([]string{client, provider, category, day}, " ")
	}
	byKey := map[string]homecare.ReconciliationLine{}
	for _, l := range got {
		byKey[key(alias[l.ClientKey], l.ProviderID, l.Category, l.LocalDate.String())] = l
	}
	seen := map[string]bool{}
	for _, e := range want {
		day := e.Date
		k := key(e.Client, e.Provider, e.Category, day)
		seen[k] = true
		l, ok := byKey[k]
		if !ok {
			t.Errorf("%s line %s: missing", kind, k)
			continue
		}
		m := func(s int64) float64 { return float64(s) / 60 }
		check := func(name string, want, got float64) {
			if math.Abs(want-got) > 0.01 {
				t.Errorf("%s line %s: %s = %g, want %g\n  explanation: %s", kind, k, name, got, want, l.Explanation)
			}
		}
		check("granted", e.Granted, m(l.Granted))
		check("registered", e.Registered, m(l.Registered))
		check("verified", e.Verified, m(l.Verified))
		check("payable", e.Payable, m(l.Payable))
		check("schablon", e.Schablon, m(l.Schablon))
		check("declined", e.Declined, m(l.Declined))
		check("double_staff", e.DoubleStaff, m(l.DoubleStaff))
		check("manual", e.Manual, m(l.Manual))
		check("amount", e.Amount, float64(l.Amount)/100)
		if l.Visits != e.Visits {
			t.Errorf("%s line %s: visits = %d, want %d", kind, k, l.Visits, e.Visits)
		}
		var status []string
		for _, c := range l.Status {
			status = append(status, string(c))
		}
		if !slices.Equal(status, e.Status) {
			t.Errorf("%s line %s: status = %v, want %v\n  explanation: %s", kind, k, status, e.Status, l.Explanation)
		}
		if l.Explanation == "" {
			t.Errorf("%s line %s: no explanation", kind, k)
		}
	}
	for k, l := range byKey {
		if !seen[k] {
			t.Errorf("%s line %s: not expected (payable %d s, %v): %s", kind, k, l.Payable, l.Status, l.Explanation)
		}
	}
}
