package tes_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/tes"
)

// hub is the hub's side of a tes source in these tests: it stores what is
// delivered, deduplicating by external id as the message log does, and
// refuses bodies containing "REFUSE" for good.
type hub struct {
	mu   sync.Mutex
	msgs []knutpunkt.Message
	seen map[string]string
}

func (h *hub) deliver(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.Contains(string(m.Body), "REFUSE") {
		return adapters.Receipt{}, adapters.Permanent(errors.New("refused by the test hub"))
	}
	key := m.Header(knutpunkt.HeaderExternalID)
	if id, ok := h.seen[key]; ok {
		return adapters.Receipt{ID: id, Duplicate: true}, nil
	}
	if h.seen == nil {
		h.seen = map[string]string{}
	}
	h.seen[key] = m.ID
	h.msgs = append(h.msgs, m)
	return adapters.Receipt{ID: m.ID}, nil
}

func (h *hub) stored() []knutpunkt.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]knutpunkt.Message(nil), h.msgs...)
}

func open(t *testing.T, yaml string, env adapters.Env) adapters.Source {
	t.Helper()
	cfg, err := adapters.DecodeConfig(tes.NewSourceConfig, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	src, err := tes.SourceDef.Open(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func run(t *testing.T, src adapters.Source, h *hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Receive(ctx, h.deliver) }()
	t.Cleanup(func() { cancel(); <-done })
}

const (
	visitA  = `{"visitId":"TES-1","version":1,"clientPnr":"19400104-2383","start":"2026-11-23T08:02:00+01:00","end":"2026-11-23T08:34:00+01:00","staffHsaId":"TSTNMT2321000156-1024","method":"NFC","status":"UTFORD"}`
	visitA2 = `{"visitId":"TES-1","version":2,"clientPnr":"19400104-2383","start":"2026-11-23T08:02:00+01:00","end":"2026-11-23T08:44:00+01:00","staffHsaId":"TSTNMT2321000156-1024","method":"NFC","status":"UTFORD"}`
	visitB  = `{"visitId":"TES-2","clientPnr":"19400104-2383","start":"2026-11-23T12:02:00+01:00","end":"2026-11-23T12:30:00+01:00","staffHsaId":"TSTNMT2321000156-1024","method":"MAN","status":"UTFORD"}`
)

func TestPushSync(t *testing.T) {
	in := adapterstest.NewIngress(t, "SE2321000016-TES1")
	h := &hub{}
	src := open(t, "path: tes_sync\nmax_visits: 3\n", adapters.Env{Name: "tes_sync", Ingress: in})
	run(t, src, h)
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(in.URL("tes_sync"), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	sync := func(id string, visits ...string) string {
		return `{"syncId":"` + id + `","deviceId":"PHONE-0017","sentAt":"2026-11-23T21:04:11+01:00","visits":[` + strings.Join(visits, ",\n ") + `]}`
	}

	for _, tc := range []struct {
		name       string
		body       string
		wantStatus int
		wantNew    int    // messages the hub stored from this request
		wantDup    int    // parts answered duplicate
		wantErr    string // in the answer's error
	}{
		{"a sync of two visits is two messages", sync("S1", visitA, visitB), 202, 2, 0, ""},
		{"the same sync again stores nothing", sync("S1", visitA, visitB), 202, 0, 2, ""},
		{"the same visits in another sync, spaced otherwise, are duplicates", sync("S2", strings.ReplaceAll(visitB, ",", ", "), visitA), 202, 0, 2, ""},
		{"a correction is new", sync("S3", visitA2), 202, 1, 0, ""},
		{"the same version changed is new, for the store to refuse", sync("S4", strings.Replace(visitA2, "08:44", "08:54", 1)), 202, 1, 0, ""},
		{"a visit the hub refuses is listed, the others stored", sync("S5", `{"visitId":"REFUSE"}`, `{"visitId":"TES-3"}`), 422, 1, 0, ""},
		{"no visits", sync("S6"), 422, 0, 0, "visits: a sync carries at least one visit"},
		{"too many visits", sync("S7", visitA, visitB, visitA2, `{}`), 422, 0, 0, "4 visits, at most 3 in one sync"},
		{"no sync id", `{"visits":[` + visitA + `]}`, 422, 0, 0, "syncId: required"},
		{"an unknown key", `{"syncId":"S8","visit":[]}`, 422, 0, 0, `unknown field "visit"`},
		{"a duplicate key", `{"syncId":"S9","syncId":"S10","visits":[{}]}`, 422, 0, 0, "duplicate key"},
		{"not JSON", `syncId=S11`, 422, 0, 0, "not a TES sync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.stored())
			status, out := post(tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d (%v), want %d", status, out, tc.wantStatus)
			}
			if got := len(h.stored()) - before; got != tc.wantNew {
				t.Errorf("stored %d new messages, want %d", got, tc.wantNew)
			}
			if tc.wantErr != "" {
				if e, _ := out["error"].(string); !strings.Contains(e, tc.wantErr) {
					t.Errorf("error %q, want it to contain %q", e, tc.wantErr)
				}
				return
			}
			dups := 0
			for _, p := range out["messages"].([]any) {
				if p.(map[string]any)["duplicate"] == true {
					dups++
				}
			}
			if dups != tc.wantDup {
				t.Errorf("%d duplicates in %v, want %d", dups, out, tc.wantDup)
			}
		})
	}
	for _, m := range h.stored() {
		if m.Header(knutpunkt.HeaderSourceSystem) != "tes" || m.Header(knutpunkt.HeaderCorrelationID) == "" ||
			m.Header(knutpunkt.HeaderCaller) != "SE2321000016-TES1" || !json.Valid(m.Body) {
			t.Errorf("message %v: want source system tes, the sync as correlation, the caller, a JSON visit", m.Headers)
		}
	}
	if got := h.stored()[0].Header(knutpunkt.HeaderExternalID); !strings.HasPrefix(got, "TES-1@1#") {
		t.Errorf("external id %q, want visitId@version#digest", got)
	}
}

func TestNightlyExport(t *testing.T) {
	dir := t.TempDir()
	h := &hub{}
	src := open(t, "transport: file\ndir: "+dir+"\npattern: 'tes-export-*.csv'\npoll_interval: 10ms\nsettle_time: 0s\n", adapters.Env{})
	run(t, src, h)
	csv := "\ufeffbesok_id;personnummer;start;slut;hsa_id;metod;status;insatser\n" +
		"TES-1;19400104-2383;2026-11-23 08:02;2026-11-23 08:34;TSTNMT2321000156-1024;NFC;UTFORD;FRUKOST:20\n" +
		"TES-2;19400104-2383;2026-11-23 12:02;2026-11-23 12:30;TSTNMT2321000156-1024;MAN;UTFORD;\"LUNCH:20|\nMEDICIN:5\"\n" +
		"REFUSE;;;;;;;\n" +
		"TES-3;19400104-2383;2026-11-23 17:02;2026-11-23 17:30;TSTNMT2321000156-1024;NFC;UTFORD;MIDDAG:25\n"
	if err := drop(dir, "tes-export-2026-11-23.csv", []byte(csv)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return len(h.stored()) == 3 && exists(filepath.Join(dir, "failed", "tes-export-2026-11-23.csv.error"))
	})
	got := h.stored()
	for i, want := range []struct{ id, row string }{
		{"tes-export-2026-11-23.csv:2", "TES-1;"}, {"tes-export-2026-11-23.csv:3", "TES-2;"}, {"tes-export-2026-11-23.csv:6", "TES-3;"},
	} {
		m := got[i]
		lines := strings.SplitN(string(m.Body), "\n", 2)
		if m.Header(knutpunkt.HeaderExternalID) != want.id || !strings.HasPrefix(lines[0], "\ufeffbesok_id;") || !strings.HasPrefix(lines[1], want.row) {
			t.Errorf("message %d: %s %q, want %s with the header and row %s", i, m.Header(knutpunkt.HeaderExternalID), m.Body, want.id, want.row)
		}
		if m.Header(knutpunkt.HeaderContentType) != "text/csv" || m.Header(knutpunkt.HeaderFilename) != "tes-export-2026-11-23.csv" {
			t.Errorf("message %d headers %v", i, m.Headers)
		}
	}
	reason, _ := os.ReadFile(filepath.Join(dir, "failed", "tes-export-2026-11-23.csv.error"))
	if !strings.Contains(string(reason), "1 of 4 visits refused, the others stored") || !strings.Contains(string(reason), "visit 3 (tes-export-2026-11-23.csv:5)") {
		t.Errorf("reason file: %q", reason)
	}
}

func TestNightlyExportJSON(t *testing.T) {
	for _, tc := range []struct {
		name, pattern, file, body string
		want                      int
	}{
		{"a sync object", "*.json", "tes-export-1.json", `{"syncId":"NIGHT-2026-11-23","visits":[` + visitA + `,` + visitB + `]}`, 2},
		{"an array of visits", "*.json", "tes-export-2.json", `[` + visitA + `,` + visitB + `,` + visitA2 + `]`, 3},
		{"JSON lines", "*.ndjson", "tes-export-3.ndjson", visitA + "\n\n" + visitB + "\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := &hub{}
			run(t, open(t, "transport: file\ndir: "+dir+"\npattern: '"+tc.pattern+"'\npoll_interval: 10ms\nsettle_time: 0s\n", adapters.Env{}), h)
			if err := drop(dir, tc.file, []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return exists(filepath.Join(dir, "done", tc.file)) })
			if got := h.stored(); len(got) != tc.want || !strings.HasPrefix(got[0].Header(knutpunkt.HeaderExternalID), "TES-1@1#") ||
				got[0].Header(knutpunkt.HeaderContentType) != "application/json" {
				t.Errorf("stored %d: %v, want %d visits keyed by visitId@version#digest", len(got), got, tc.want)
			}
		})
	}
	t.Run("not a sync goes to failed with its reason", func(t *testing.T) {
		dir := t.TempDir()
		h := &hub{}
		run(t, open(t, "transport: file\ndir: "+dir+"\npattern: '*.json'\npoll_interval: 10ms\nsettle_time: 0s\n", adapters.Env{}), h)
		if err := drop(dir, "x.json", []byte(`{"visits":"none"}`)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return exists(filepath.Join(dir, "failed", "x.json.error")) })
		reason, _ := os.ReadFile(filepath.Join(dir, "failed", "x.json.error"))
		if !strings.Contains(string(reason), "file x.json: sync: not a TES sync") || len(h.stored()) != 0 {
			t.Errorf("reason %q, %d stored", reason, len(h.stored()))
		}
	})
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// waitFor polls cond: the source runs on its own goroutine and a poll
// interval of its own, so there is no event to wait on.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
