package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	adhttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// The bad-input tests push hostile and broken vendor input into a real
// in-process hub (HTTP ingest, or knut import for the CSV export) on every
// database, and check the hub's promise: every message it accepted ends up
// processed or dead-lettered with a reason that names the pipeline, the step
// and the problem; what it refused is not stored at all; nothing leaks from
// a DTD; replay sends a dead letter through again; and the hub keeps serving.

// Official Skatteverket test personnummer: valid, and one whose check digit
// does not match (list.json, "valid": false).
const (
	validPnr      = "194001042383"
	validPnr2     = "198207062392"
	badCheckDigit = "19700428-9895"
)

// tesJSON is a TES JSON export that passes the schema and the mapping
// unless a field is overridden; a nil override removes the field.
func tesJSON(visitID string, override map[string]any) []byte {
	v := map[string]any{
		"visitId": visitID, "clientPnr": validPnr, "start": "2026-11-23 08:02:00", "end": "2026-11-23 08:34:00",
		"staffHsaId": "TSTNMT2321000156-1024", "method": "NFC", "status": "UTFORD",
		"insatser": []any{map[string]any{"kod": "DUSCH", "min": 20}},
	}
	for k, x := range override {
		if x == nil {
			delete(v, k)
			continue
		}
		v[k] = x
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// tesXML is a TES XML export with the given client, start and extra
// elements before </visit>'s insatser; empty start leaves <start> out.
func tesXML(id, client, start string) []byte {
	startEl := ""
	if start != "" {
		startEl = "<start>" + start + "</start>"
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<visit xmlns="urn:knutpunkt:tes:visit:1" id="` + id + `">
  <client>` + client + `</client>
  ` + startEl + `
  <end>2026-11-23T07:34:00Z</end>
  <staff>TSTNMT2321000156-1024</staff>
  <insatser><insats><code>DUSCH</code><minutes>20</minutes></insats></insatser>
</visit>`)
}

const xxe = `<?xml version="1.0"?>
<!DOCTYPE visit [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<visit xmlns="urn:knutpunkt:tes:visit:1" id="TES-XXE"><client>&xxe;</client><start>2026-11-23T07:02:00Z</start><end>2026-11-23T07:34:00Z</end><staff>TSTNMT2321000156-1024</staff><insatser/></visit>`

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<visit xmlns="urn:knutpunkt:tes:visit:1" id="TES-LOL"><client>&lol9;</client></visit>`

// ingestCase is one request to /ingest/<pipeline> of the repository's hub.
type ingestCase struct {
	name        string
	pipeline    string
	contentType string
	body        []byte
	// wantStatus is the HTTP answer; only 202 means the hub accepted it.
	wantStatus int
	// wantStep is the failing step of a dead letter; "" means the message
	// must be processed.
	wantStep string
	// wantReason are substrings of the dead letter's reason, besides the
	// pipeline and step, which every reason must name.
	wantReason []string
	// wantField, when set, is the dead letter's field: a mapping's output
	// field or a JSON pointer.
	wantField string
	// secrets must appear nowhere: not in the dead letter, the attempts, the
	// stored message nor the hub's logs.
	secrets []string
}

const (
	jsonCT = "application/json"
	xmlCT  = "application/xml"
)

func ingestCases() []ingestCase {
	return []ingestCase{
		{name: "valid JSON visit is processed", pipeline: "tes_visits", contentType: jsonCT,
			body: tesJSON("TES-OK-1", nil), wantStatus: 202},
		{name: "valid XML visit is processed", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: tesXML("TES-OK-2", validPnr2, "2026-11-23T07:02:00Z"), wantStatus: 202},
		{name: "malformed JSON", pipeline: "tes_visits", contentType: jsonCT,
			body: []byte(`{"visitId": "TES-1", "clientPnr": `), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"schema tes/export.schema.json", "invalid JSON at byte offset", "unexpected end of input"}},
		{name: "JSON with trailing data", pipeline: "tes_visits", contentType: jsonCT,
			body: append(tesJSON("TES-2", nil), tesJSON("TES-3", nil)...), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"data after the top-level value"}},
		{name: "malformed XML", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: []byte(`<visit xmlns="urn:knutpunkt:tes:visit:1" id="TES-4"><client>` + validPnr + `</client><start>`), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"schema tes/visit.xsd", "line 1"}},
		{name: "JSON Schema violation: unknown method", pipeline: "tes_visits", contentType: jsonCT,
			body: tesJSON("TES-5", map[string]any{"method": "BLUETOOTH"}), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"at '/method'", "must be one of"}, wantField: "/method"},
		{name: "JSON Schema violation: missing staff", pipeline: "tes_visits", contentType: jsonCT,
			body: tesJSON("TES-6", map[string]any{"staffHsaId": nil}), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"staffHsaId"}},
		{name: "XSD violation: bad value", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: tesXML("TES-7", validPnr, "tomorrow"), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"line 4", "start': the value is not a valid value of the atomic type 'xs:dateTime'"}},
		{name: "XSD violation: missing element", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: tesXML("TES-8", validPnr, ""), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"schema tes/visit.xsd", "Element '{urn:knutpunkt:tes:visit:1}end': This element is not expected", "{urn:knutpunkt:tes:visit:1}start )"}},
		{name: "XXE: external entity", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: []byte(xxe), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"DOCTYPE is not allowed"},
			secrets: []string{"root:"}},
		{name: "billion laughs", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: []byte(billionLaughs), wantStatus: 202,
			wantStep: "steps[0].validate", wantReason: []string{"DOCTYPE is not allowed"},
			secrets: []string{"lollollol"}},
		{name: "invalid UTF-8 in JSON", pipeline: "tes_visits", contentType: jsonCT,
			body:       []byte("{\"visitId\":\"TES-9\xff\",\"clientPnr\":\"" + validPnr + "\"}"),
			wantStatus: 202, wantStep: "steps[0].validate", wantReason: []string{"invalid UTF-8 at byte offset 17"}},
		{name: "invalid UTF-8 in XML", pipeline: "tes_visits_xml", contentType: xmlCT,
			body:       tesXML("TES-10\xc3\x28", validPnr, "2026-11-23T07:02:00Z"),
			wantStatus: 202, wantStep: "steps[0].validate", wantReason: []string{"line 2", "invalid UTF-8 at byte offset"}},
		{name: "invalid personnummer in JSON", pipeline: "tes_visits", contentType: jsonCT,
			body: tesJSON("TES-11", map[string]any{"clientPnr": badCheckDigit}), wantStatus: 202,
			wantStep:   "steps[1].map",
			wantReason: []string{"mapping tes/visit_json_to_visit", "field client.person_id", "personnummer: check digit does not match"},
			wantField:  "client.person_id",
			secrets:    []string{badCheckDigit, strings.ReplaceAll(badCheckDigit, "-", "")}},
		{name: "invalid personnummer in XML", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: tesXML("TES-12", strings.ReplaceAll(badCheckDigit, "-", ""), "2026-11-23T07:02:00Z"), wantStatus: 202,
			wantStep:   "steps[1].map",
			wantReason: []string{"mapping tes/visit_xml_to_visit", "field client.person_id", "personnummer: check digit does not match"},
			wantField:  "client.person_id",
			secrets:    []string{strings.ReplaceAll(badCheckDigit, "-", "")}},
		{name: "end before start", pipeline: "tes_visits", contentType: jsonCT,
			body: tesJSON("TES-13", map[string]any{"start": "2026-11-23 08:34:00", "end": "2026-11-23 08:02:00"}), wantStatus: 202,
			wantStep: "steps[1].map", wantReason: []string{"field duration_minutes", "end is before start"}, wantField: "duration_minutes"},
		{name: "end before start in XML", pipeline: "tes_visits_xml", contentType: xmlCT,
			body: tesXML("TES-14", validPnr, "2026-11-23T08:02:00Z"), wantStatus: 202,
			wantStep: "steps[1].map", wantReason: []string{"field duration_minutes", "end is before start"}, wantField: "duration_minutes"},
		{name: "oversize body is refused by the http source", pipeline: "tes_visits", contentType: jsonCT,
			body: oversizeJSON(10<<20 + 1), wantStatus: http.StatusRequestEntityTooLarge},
		{name: "XML to the JSON pipeline is refused", pipeline: "tes_visits_xml", contentType: jsonCT,
			body: tesJSON("TES-15", nil), wantStatus: http.StatusUnsupportedMediaType},
		{name: "valid visit after all that is processed", pipeline: "tes_visits", contentType: jsonCT,
			body: tesJSON("TES-OK-3", map[string]any{"clientPnr": validPnr2}), wantStatus: 202},
	}
}

// oversizeJSON is a valid visit padded with white space to n bytes.
func oversizeJSON(n int) []byte {
	b := tesJSON("TES-BIG", nil)
	return append(b, strings.Repeat(" ", n-len(b))...)
}

// TestBadInputOverHTTP runs the ingest cases against one hub per database,
// one after the other, so the store's counts before and after each case
// tell what that case stored.
func TestBadInputOverHTTP(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			logs, log := observedLogger(t)
			srv := startWith(t, repoConfig(t, db.DSN), server.Options{Logger: log})
			st := srv.Store()
			for _, tc := range ingestCases() {
				t.Run(tc.name, func(t *testing.T) {
					before := counts(t, st)
					url := "http://" + srv.Addr() + "/ingest/" + tc.pipeline
					code, answer := postAs(t, url, tc.contentType, "", tc.body)
					if code != tc.wantStatus {
						t.Fatalf("POST = %d %s, want %d", code, answer, tc.wantStatus)
					}
					accepted := int64(0)
					var id string
					if code == http.StatusAccepted {
						accepted = 1
						var a struct{ ID string }
						if err := json.Unmarshal([]byte(answer), &a); err != nil || a.ID == "" {
							t.Fatalf("202 answer %q has no message id", answer)
						}
						id = a.ID
						rec := waitDone(t, st, id)
						want := store.StatusProcessed
						if tc.wantStep != "" {
							want = store.StatusDead
						}
						if rec.Status != want {
							t.Errorf("message %s is %s, want %s", id, rec.Status, want)
						}
					}
					checkAccounting(t, before, counts(t, st), accepted)
					if accepted == 0 {
						return
					}
					if tc.wantStep == "" {
						if dls := deadLetters(t, st, id); len(dls) > 0 {
							t.Errorf("processed message %s has dead letters: %+v", id, dls)
						}
						return
					}
					dl := checkDeadLetter(t, st, id, tc.pipeline, tc.wantStep, tc.wantReason)
					if tc.wantField != "" && dl.Field != tc.wantField {
						t.Errorf("dead letter field = %q, want %q", dl.Field, tc.wantField)
					}
					for _, s := range tc.secrets {
						checkNowhere(t, st, logs, id, s)
					}
					checkReplayDeadAgain(t, srv, id, dl)
				})
			}
			// The hub survived all of it: healthy, and no message left behind.
			resp, err := http.Get("http://" + srv.Addr() + "/healthz")
			if err != nil {
				t.Fatalf("GET /healthz after the bad input: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz = %d after the bad input", resp.StatusCode)
			}
			if c := counts(t, st); c[store.StatusReceived] != 0 {
				t.Errorf("messages left unprocessed: %v", c)
			}
			for _, v := range []string{"TES-OK-1", "TES-OK-2", "TES-OK-3"} {
				if _, err := st.Visit(t.Context(), "tes", v); err != nil {
					t.Errorf("visit %s not stored: %v", v, err)
				}
			}
		})
	}
}

// importCase is one CSV file given to knut import.
type importCase struct {
	name     string
	pipeline string
	rows     []string // after the header line
	// wantStored and wantDead count the rows; each dead row fails at
	// wantStep with every wantReason in its reason.
	wantStored, wantDead int64
	wantStep             string
	wantReason           []string
	wantField            string
}

const csvHeader = "besok_id;personnummer;tagg;start;slut;hsa_id;utforare;enhet;metod;offline;status;insatser"

// csvRow is a row of the TES CSV export with the given id, method and
// insatser; it passes the mapping unless they are bad.
func csvRow(id, method, insatser string) string {
	return id + ";" + validPnr + ";04:a2:24:b2;2026-11-23 08:02;2026-11-23 08:34;TSTNMT2321000156-1024;omsorg-norr;norr-team-1;" +
		method + ";nej;UTFORD;" + insatser
}

func importCases() []importCase {
	long := strings.Repeat("DUSCH:1|", 50) + "DUSCH:1" // a row of about 500 bytes
	return []importCase{
		{name: "valid rows are stored", pipeline: "tes_visits_csv",
			rows: []string{csvRow("CSV-OK-1", "NFC", "DUSCH:20"), csvRow("CSV-OK-2", "man", "")}, wantStored: 2},
		{name: "unterminated quote", pipeline: "tes_visits_csv",
			rows:       []string{csvRow("CSV-1", "NFC", ""), csvRow("CSV-2", "NFC", `"DUSCH:20`), csvRow("CSV-3", "NFC", "")},
			wantStored: 2, wantDead: 1, wantStep: "steps[0].map",
			wantReason: []string{"mapping tes/visit_csv_to_visit: read input", `extraneous or missing " in quoted-field`}},
		{name: "wrong column count", pipeline: "tes_visits_csv",
			rows:       []string{csvRow("CSV-4", "NFC", "") + ";extra", "CSV-5;" + validPnr},
			wantStored: 0, wantDead: 2, wantStep: "steps[0].map",
			wantReason: []string{"mapping tes/visit_csv_to_visit: read input", "wrong number of fields"}},
		// The JSON schema's enums match the mapping's lookups exactly, so an
		// unknown lookup value only gets past validation in the CSV export,
		// which has no schema.
		{name: "unknown lookup value", pipeline: "tes_visits_csv",
			rows:       []string{csvRow("CSV-6", "BLUETOOTH", "")},
			wantStored: 0, wantDead: 1, wantStep: "steps[0].map",
			wantReason: []string{"field start_method", `lookup method: unknown key (known: LAS, MAN, NFC, UTE)`},
			wantField:  "start_method"},
		{name: "row within the line limit but over the pipeline max_body", pipeline: "tes_visits_csv_small",
			rows:       []string{csvRow("CSV-7", "NFC", long)},
			wantStored: 0, wantDead: 1, wantStep: "from",
			wantReason: []string{"body is", "bytes, over the limit of 512"}},
		{name: "line over the pipeline max_body", pipeline: "tes_visits_csv_small",
			rows:       []string{csvRow("CSV-8", "NFC", ""), csvRow("CSV-9", "NFC", long+"|"+long)},
			wantStored: 1, wantDead: 1, wantStep: "from",
			wantReason: []string{"bytes, over the limit of 512"}},
	}
}

// TestBadInputImport runs broken CSV exports through knut import's
// Importer, into a store of its own per database, then replays every dead
// letter through a hub started on that store, as knut replay does.
func TestBadInputImport(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = importPipelines(t)
			logs, log := observedLogger(t)
			opts := server.Options{Logger: log}
			st, err := server.OpenStore(t.Context(), cfg, adapters.EnvSecrets{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var dead []string
			for i, tc := range importCases() {
				t.Run(tc.name, func(t *testing.T) {
					file := filepath.Join(t.TempDir(), fmt.Sprintf("export%d.csv", i))
					content := "\xEF\xBB\xBF" + csvHeader + "\n" + strings.Join(tc.rows, "\n") + "\n"
					if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
					before := counts(t, st)
					stats, err := (&server.Importer{Workers: 4}).Run(t.Context(), cfg, opts, tc.pipeline, []string{file})
					if err != nil {
						t.Fatalf("import: %v", err)
					}
					if stats.Stored != tc.wantStored || stats.Dead != tc.wantDead || stats.Duplicates != 0 {
						t.Errorf("import stats = %+v, want stored=%d dead=%d", stats, tc.wantStored, tc.wantDead)
					}
					if stats.Messages != stats.Stored+stats.Dead {
						t.Errorf("import read %d messages but stored %d and dead-lettered %d", stats.Messages, stats.Stored, stats.Dead)
					}
					checkAccounting(t, before, counts(t, st), stats.Messages)
					msgs, err := st.ListMessages(t.Context(), store.MessageFilter{Pipeline: tc.pipeline, Status: store.StatusDead, Limit: 1000})
					if err != nil {
						t.Fatal(err)
					}
					n := 0
					for _, m := range msgs {
						if m.Headers[knutpunkt.HeaderFilename] != filepath.Base(file) {
							continue
						}
						n++
						dl := checkDeadLetter(t, st, m.ID, tc.pipeline, tc.wantStep, tc.wantReason)
						if tc.wantField != "" && dl.Field != tc.wantField {
							t.Errorf("dead letter field = %q, want %q", dl.Field, tc.wantField)
						}
						if dl.ID != "" {
							dead = append(dead, m.ID)
						}
					}
					if int64(n) != tc.wantDead {
						t.Errorf("%d dead messages from %s in the store, want %d", n, file, tc.wantDead)
					}
				})
			}
			for _, v := range []string{"CSV-OK-1", "CSV-OK-2", "CSV-1", "CSV-3", "CSV-8"} {
				if _, err := st.Visit(t.Context(), "tes", v); err != nil {
					t.Errorf("visit %s not stored: %v", v, err)
				}
			}
			// knut replay: a hub on the import store sends each dead letter
			// through its pipeline again; the input is still bad, so each
			// is dead again for the same reason, and none is lost.
			rcfg := *cfg
			rcfg.HTTP.Disabled = true
			srv := startWith(t, &rcfg, opts)
			for _, id := range dead {
				dls := deadLetters(t, st, id)
				if len(dls) != 1 {
					t.Fatalf("message %s has %d dead letters, want 1", id, len(dls))
				}
				checkReplayDeadAgain(t, srv, id, dls[0])
			}
			checkNoneInLogs(t, logs, validPnr)
		})
	}
}

// importPipelines is a pipeline directory with the shipped tes_visits_csv
// and a copy limited to max_body 512B.
func importPipelines(t *testing.T) string {
	t.Helper()
	shipped, err := os.ReadFile("../../pipelines/tes_visits_csv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	small := append(append([]byte(nil), shipped...), "max_body: 512B\n"...)
	for name, data := range map[string][]byte{"tes_visits_csv.yaml": shipped, "tes_visits_csv_small.yaml": small} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBadInputPipelineMaxBody posts a body the http source would take (its
// max_body_size is larger) but the pipeline's max_body refuses: the hub
// refuses it at the door with 422 and the reason, and stores nothing, so
// the sender knows at once instead of the message dying later. (Bodies that
// reach a pipeline another way, e.g. import, are dead-lettered at step
// "from"; TestBadInputImport covers that.)
func TestBadInputPipelineMaxBody(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = writePipelines(t, map[string]string{"tes_visits_small": `
from:
  http: {source_system: tes, max_body_size: 1MiB}
steps:
  - validate: {schema: tes/export.schema.json}
  - map: tes/visit_json_to_visit
  - store: visit
max_body: 1KiB
`})
			srv := startWith(t, cfg, server.Options{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
			st := srv.Store()
			before := counts(t, st)
			code, answer := postAs(t, "http://"+srv.Addr()+"/ingest/tes_visits_small", jsonCT, "TES-BIG", oversizeJSON(2048))
			if code != http.StatusUnprocessableEntity || !strings.Contains(answer, "body is 2048 bytes, over the limit of 1024") {
				t.Fatalf("POST = %d %s, want 422 naming the limit", code, answer)
			}
			checkAccounting(t, before, counts(t, st), 0)
		})
	}
}

// TestBadInputReplayAfterOutage dead-letters a delivery while the vendor
// (a memory broker) is down, then replays it once the vendor is back: the
// replay is delivered, the dead letter resolved, and nothing is lost.
// adapters.Default's memory broker is not reachable from outside, so the
// hub gets a registry of its own with http and a broker the test holds.
func TestBadInputReplayAfterOutage(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			broker := memory.NewBroker()
			reg := &adapters.Registry{}
			reg.RegisterSource(adhttp.SourceDef)
			reg.RegisterSink(adhttp.SinkDef)
			memory.Register(reg, broker)
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = writePipelines(t, map[string]string{"tes_visits_out": `
from:
  http: {source_system: tes}
steps:
  - validate: {schema: tes/export.schema.json}
  - map: tes/visit_json_to_visit
to:
  memory: {topic: tes.visits.out}
retry: {attempts: 3, backoff: 10ms, max_backoff: 20ms}
`})
			srv := startWith(t, cfg, server.Options{Registry: reg, Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
			st := srv.Store()

			broker.Down()
			// Posted without X-External-Id: with one, the delivery is
			// dropped before it is saved (see TestDeliveryKeepsExternalID).
			code, answer := postAs(t, "http://"+srv.Addr()+"/ingest/tes_visits_out", jsonCT, "", tesJSON("TES-OUT-1", nil))
			if code != http.StatusAccepted {
				t.Fatalf("POST = %d %s, want 202", code, answer)
			}
			var a struct{ ID string }
			json.Unmarshal([]byte(answer), &a)
			if rec := waitDone(t, st, a.ID); rec.Status != store.StatusProcessed {
				t.Fatalf("input message is %s, want processed (the steps ran; only delivery fails)", rec.Status)
			}
			delivery := a.ID + ".to0"
			if rec := waitDone(t, st, delivery); rec.Status != store.StatusDead {
				t.Fatalf("delivery %s is %s, want dead after the retries", delivery, rec.Status)
			}
			dl := checkDeadLetter(t, st, delivery, "tes_visits_out", "to.memory", []string{memory.ErrUnavailable.Error()})
			attempts, err := st.Attempts(t.Context(), delivery)
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts) != 3 {
				t.Errorf("delivery had %d attempts, want 3 (retry.attempts)", len(attempts))
			}
			if n := len(broker.Drain("tes.visits.out")); n != 0 {
				t.Fatalf("vendor got %d messages during the outage", n)
			}

			broker.Up()
			newID, err := srv.Replay(t.Context(), delivery)
			if err != nil {
				t.Fatalf("Replay(%s): %v", delivery, err)
			}
			if rec := waitDone(t, st, newID); rec.Status != store.StatusProcessed {
				t.Errorf("replayed delivery %s is %s, want processed", newID, rec.Status)
			}
			checkReplayed(t, st, delivery, dl.ID, newID)
			got := broker.Drain("tes.visits.out")
			if len(got) != 1 {
				t.Fatalf("vendor got %d messages after the replay, want 1", len(got))
			}
			var visit struct {
				ExternalID string `json:"external_id"`
			}
			if err := json.Unmarshal(got[0].Body, &visit); err != nil || visit.ExternalID != "TES-OUT-1" {
				t.Errorf("vendor got %s (%v), want the canonical visit TES-OUT-1", got[0].Body, err)
			}
			c := counts(t, st)
			want := map[store.Status]int64{store.StatusProcessed: 2, store.StatusReplayed: 1}
			if c[store.StatusProcessed] != want[store.StatusProcessed] || c[store.StatusReplayed] != want[store.StatusReplayed] ||
				c[store.StatusDead] != 0 || c[store.StatusReceived] != 0 {
				t.Errorf("counts = %v, want input and replayed delivery processed, the first delivery replayed", c)
			}
		})
	}
}

// TestDeliveryKeepsExternalID posts a visit with X-External-Id, as TES
// does, to a pipeline with a sink: the vendor must get it, with the input's
// external id under router.HeaderOriginExternalID. (A delivery that kept
// the input's source-system and external-id would be taken for a duplicate
// of its input by the message log and silently never sent.)
func TestDeliveryKeepsExternalID(t *testing.T) {
	broker := memory.NewBroker()
	reg := &adapters.Registry{}
	reg.RegisterSource(adhttp.SourceDef)
	reg.RegisterSink(adhttp.SinkDef)
	memory.Register(reg, broker)
	cfg := repoConfig(t, "")
	cfg.Pipelines = writePipelines(t, map[string]string{"tes_visits_out": `
from:
  http: {source_system: tes}
steps:
  - map: tes/visit_json_to_visit
to:
  memory: {topic: tes.visits.out}
`})
	srv := startWith(t, cfg, server.Options{Registry: reg, Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	code, answer := postAs(t, "http://"+srv.Addr()+"/ingest/tes_visits_out", jsonCT, "TES-OUT-2", tesJSON("TES-OUT-2", nil))
	if code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, answer)
	}
	var a struct{ ID string }
	json.Unmarshal([]byte(answer), &a)
	waitDone(t, srv.Store(), a.ID)
	if rec := waitDone(t, srv.Store(), a.ID+".to0"); rec.Status != store.StatusProcessed {
		t.Errorf("delivery is %s, want processed", rec.Status)
	}
	got := broker.Drain("tes.visits.out")
	if len(got) != 1 {
		t.Fatalf("vendor got %d messages, want 1", len(got))
	}
	if ext := got[0].Headers[router.HeaderOriginExternalID]; ext != "TES-OUT-2" {
		t.Errorf("delivery's %s = %q, want TES-OUT-2", router.HeaderOriginExternalID, ext)
	}
}

// startWith runs a hub with opts until the test ends; unlike start, the
// caller picks the registry.
func startWith(t testing.TB, cfg *config.Config, opts server.Options) *server.Server {
	t.Helper()
	if opts.Secrets == nil {
		opts.Secrets = demo.Secrets(nil)
	}
	srv, err := server.New(t.Context(), cfg, opts)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hub not ready after 10s")
	}
	return srv
}

// anotherDSN is a store of its own: "" (a fresh SQLite file) or a fresh
// PostgreSQL database on the same server.
func anotherDSN(t *testing.T, db storetest.Database) string {
	if db.DSN == "" {
		return ""
	}
	return storetest.FreshPostgres(t, os.Getenv(storetest.EnvPostgresDSN))
}

// writePipelines writes pipeline files (name → YAML) to a new directory.
func writePipelines(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// observedLogger records every log entry (debug and up) for inspection and
// shows warnings and errors in the test output.
func observedLogger(t *testing.T) (*observer.ObservedLogs, *zap.Logger) {
	core, logs := observer.New(zapcore.DebugLevel)
	show := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core()
	return logs, zap.New(zapcore.NewTee(core, show))
}

func postAs(t *testing.T, url, contentType, externalID string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if externalID != "" {
		req.Header.Set("X-External-Id", externalID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func counts(t *testing.T, st *store.Store) map[store.Status]int64 {
	t.Helper()
	c, err := st.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkAccounting checks that the messages a case added are exactly the
// accepted ones, each processed or dead: accepted = processed + dead.
func checkAccounting(t *testing.T, before, after map[store.Status]int64, accepted int64) {
	t.Helper()
	d := func(s store.Status) int64 { return after[s] - before[s] }
	total := d(store.StatusReceived) + d(store.StatusProcessed) + d(store.StatusDead) + d(store.StatusReplayed)
	if total != accepted || d(store.StatusProcessed)+d(store.StatusDead) != accepted || d(store.StatusReceived) != 0 {
		t.Errorf("accepted %d, but the store gained %d messages: processed %+d, dead %+d, received %+d, replayed %+d",
			accepted, total, d(store.StatusProcessed), d(store.StatusDead), d(store.StatusReceived), d(store.StatusReplayed))
	}
}

// waitDone waits until message id is no longer merely received.
func waitDone(t *testing.T, st *store.Store, id string) store.MessageRecord {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, err := st.Message(t.Context(), id)
		if err == nil && rec.Status != store.StatusReceived {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not processed or dead after 20s (status %q, err %v)", id, rec.Status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deadLetters(t *testing.T, st *store.Store, id string) []store.DeadLetterRecord {
	t.Helper()
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{MessageID: id})
	if err != nil {
		t.Fatal(err)
	}
	return dls
}

// checkDeadLetter checks message id's one dead letter: it names the
// pipeline and step in its columns and its reason, and the problem; the
// last attempt recorded the same error.
func checkDeadLetter(t *testing.T, st *store.Store, id, pipeline, step string, reasons []string) store.DeadLetterRecord {
	t.Helper()
	dls := deadLetters(t, st, id)
	if len(dls) != 1 {
		t.Errorf("message %s has %d dead letters, want 1: %+v", id, len(dls), dls)
		return store.DeadLetterRecord{}
	}
	dl := dls[0]
	if dl.Pipeline != pipeline || dl.Step != step {
		t.Errorf("dead letter is for pipeline %q step %q, want %q %q (reason %q)", dl.Pipeline, dl.Step, pipeline, step, dl.Reason)
	}
	for _, want := range append([]string{"pipeline " + pipeline + ": " + step + ": message " + id + ": "}, reasons...) {
		if !strings.Contains(dl.Reason, want) {
			t.Errorf("dead letter reason does not mention %q:\n%s", want, dl.Reason)
		}
	}
	attempts, err := st.Attempts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) == 0 || attempts[len(attempts)-1].Error != dl.Reason {
		t.Errorf("attempts of %s do not end with the dead letter's error: %+v", id, attempts)
	}
	return dl
}

// checkNowhere checks that s is in no dead-letter reason, attempt or
// header of message id, nor in any log line.
func checkNowhere(t *testing.T, st *store.Store, logs *observer.ObservedLogs, id, s string) {
	t.Helper()
	for _, dl := range deadLetters(t, st, id) {
		if strings.Contains(dl.Reason, s) {
			t.Errorf("dead letter of %s contains %q: %s", id, s, dl.Reason)
		}
	}
	attempts, err := st.Attempts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attempts {
		if strings.Contains(a.Error, s) {
			t.Errorf("attempt %d of %s contains %q: %s", a.AttemptNo, id, s, a.Error)
		}
	}
	rec, err := st.Message(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := json.Marshal(rec.Headers); strings.Contains(string(h), s) {
		t.Errorf("headers of %s contain %q: %s", id, s, h)
	}
	checkNoneInLogs(t, logs, s)
}

func checkNoneInLogs(t *testing.T, logs *observer.ObservedLogs, s string) {
	t.Helper()
	for _, e := range logs.All() {
		if line := fmt.Sprint(e.Message, " ", e.ContextMap()); strings.Contains(line, s) {
			t.Errorf("a log line contains %q: %s", s, line)
		}
	}
}

// checkReplayDeadAgain replays dead message id unchanged: the replay is a
// new message, dead again at the same step for the same problem, and the
// original is marked replayed by it.
func checkReplayDeadAgain(t *testing.T, srv *server.Server, id string, dl store.DeadLetterRecord) {
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
		strings.Replace(again[0].Reason, newID, id, 1) != dl.Reason {
		t.Errorf("replay %s dead letters = %+v, want one like the original's: %s: %s", newID, again, dl.Step, dl.Reason)
	}
	checkReplayed(t, st, id, dl.ID, newID)
	if _, err := srv.Replay(t.Context(), id); err == nil {
		t.Errorf("Replay(%s) twice succeeded; a replayed message must not be replayed again", id)
	}
}

// checkReplayed checks that dead letter dlID of message id is resolved by
// newID and the message is marked replayed.
func checkReplayed(t *testing.T, st *store.Store, id, dlID, newID string) {
	t.Helper()
	rec, err := st.Message(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.StatusReplayed {
		t.Errorf("message %s is %s after its replay, want replayed", id, rec.Status)
	}
	for _, dl := range deadLetters(t, st, id) {
		if dl.ID == dlID && (dl.ResolvedAt == nil || dl.ReplayedMessageID != newID) {
			t.Errorf("dead letter %s not resolved by %s: %+v", dlID, newID, dl)
		}
	}
}
