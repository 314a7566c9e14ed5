package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// latin1 and cp1252 encode s as a Swedish export would; s must fit.
func latin1(t *testing.T, s string) []byte { return encodeIn(t, charmap.ISO8859_1, s) }
func cp1252(t *testing.T, s string) []byte { return encodeIn(t, charmap.Windows1252, s) }

func encodeIn(t *testing.T, cm *charmap.Charmap, s string) []byte {
	t.Helper()
	b, err := cm.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("%s cannot hold %q: %v", cm, s, err)
	}
	return b
}

// csvVisit is the TES CSV export's header and one row with the given
// unit and insatser.
func csvVisit(id, unit, insatser string) string {
	return csvHeader + "\n" + id + ";" + validPnr + ";04:a2:24:b2;2026-11-23 08:02;2026-11-23 08:34;TSTNMT2321000156-1024;omsorg-norr;" +
		unit + ";NFC;nej;UTFORD;" + insatser + "\n"
}

// xmlVisit is a TES XML visit with an XML declaration naming encoding
// (none when ""), a second staff member by staffId and a declined insats.
func xmlVisit(encoding, id, staffID, reason string) string {
	decl := `<?xml version="1.0"?>`
	if encoding != "" {
		decl = `<?xml version="1.0" encoding="` + encoding + `"?>`
	}
	return decl + `
<visit xmlns="urn:knutpunkt:tes:visit:1" id="` + id + `">
  <client>` + validPnr + `</client>
  <start>2026-11-23T07:02:00Z</start>
  <end>2026-11-23T07:34:00Z</end>
  <staff>TSTNMT2321000156-1024</staff>
  <staff staffId="` + staffID + `"/>
  <insatser><insats declined="true" declinedReason="` + reason + `"><code>FRUKOST</code></insats></insatser>
</visit>`
}

// TestIngestCharsets posts Swedish exports in ISO-8859-1 and Windows-1252
// over HTTP, as CSV (a pipeline with an http source and the TES CSV
// mapping) and as XML (the shipped tes_visits_xml): a CSV is read in the
// charset its content type names, or UTF-8 if its bytes are and
// Windows-1252 if not; an XML in the encoding its declaration names. The
// visit is stored with its text decoded, the message log keeps the bytes
// as sent, and what cannot be read is dead-lettered naming the line, the
// field, the byte's offset and why.
func TestIngestCharsets(t *testing.T) {
	shippedXML, err := os.ReadFile("../../pipelines/tes_visits_xml.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pipeline, contentType string
		body                        []byte
		// visit, unit, staffRef and reason are what the stored visit must
		// hold; with wantStep the message is dead at that step instead,
		// with every wantReason in the reason.
		visit, unit, staffRef, reason string
		wantStep                      string
		wantReason                    []string
	}{
		{name: "Latin-1 CSV, charset in the content type", pipeline: "tes_visits_csv_http", contentType: "text/csv; charset=ISO-8859-1",
			body:  latin1(t, csvVisit("TES-ENC-1", "Gärdet Södra", "DUSCH:20|FRUKOST:avböjd=Åt själv")),
			visit: "TES-ENC-1", unit: "Gärdet Södra", reason: "Åt själv"},
		{name: "Windows-1252 CSV, no charset", pipeline: "tes_visits_csv_http", contentType: "text/csv",
			body:  cp1252(t, csvVisit("TES-ENC-2", "Östermalm – team 2", "FRUKOST:avbojd=“Sover” – kom åter")),
			visit: "TES-ENC-2", unit: "Östermalm – team 2", reason: "“Sover” – kom åter"},
		{name: "Windows-1252 CSV, charset windows-1252", pipeline: "tes_visits_csv_http", contentType: "text/csv; charset=windows-1252",
			body:  cp1252(t, csvVisit("TES-ENC-3", "Ängby ‘2’", "FRUKOST:avbojd=Ej hemma")),
			visit: "TES-ENC-3", unit: "Ängby ‘2’", reason: "Ej hemma"},
		{name: "UTF-8 CSV with a byte order mark", pipeline: "tes_visits_csv_http", contentType: "text/csv; charset=utf-8",
			body:  []byte("\xEF\xBB\xBF" + csvVisit("TES-ENC-4", "Årsta", "FRUKOST:avbojd=Ej hemma")),
			visit: "TES-ENC-4", unit: "Årsta", reason: "Ej hemma"},
		{name: "Latin-1 CSV sent as charset=utf-8", pipeline: "tes_visits_csv_http", contentType: "text/csv; charset=utf-8",
			body:     latin1(t, csvVisit("TES-ENC-5", "Gärdet", "")),
			wantStep: "steps[0].map", wantReason: []string{"mapping tes/visit_csv_to_visit: read input: line 2, field 8 (enhet): invalid UTF-8 at byte offset"}},
		{name: "a byte Windows-1252 does not have", pipeline: "tes_visits_csv_http", contentType: "text/csv; charset=cp1252",
			body:     append(cp1252(t, strings.TrimSuffix(csvVisit("TES-ENC-6", "Öster", ""), ";NFC;nej;UTFORD;\n")), "\x81malm;NFC;nej;UTFORD;\n"...),
			wantStep: "steps[0].map", wantReason: []string{"line 2, field 8 (enhet): byte 0x81 at byte offset", "is not a character in Windows-1252"}},
		{name: "unsupported charset", pipeline: "tes_visits_csv_http", contentType: "text/csv; charset=shift_jis",
			body:     []byte(csvVisit("TES-ENC-7", "Gärdet", "")),
			wantStep: "steps[0].map", wantReason: []string{`content type: charset "shift_jis" is not supported`}},
		{name: "XML declaring ISO-8859-1", pipeline: "tes_visits_xml", contentType: "application/xml; charset=ISO-8859-1",
			body:  latin1(t, xmlVisit("ISO-8859-1", "TES-ENC-8", "Åsa Öberg", "Åt själv, är mätt")),
			visit: "TES-ENC-8", staffRef: "Åsa Öberg", reason: "Åt själv, är mätt"},
		{name: "XML declaring windows-1252", pipeline: "tes_visits_xml", contentType: "text/xml",
			body:  cp1252(t, xmlVisit("windows-1252", "TES-ENC-9", "André Ås", "“Sover” – kom åter")),
			visit: "TES-ENC-9", staffRef: "André Ås", reason: "“Sover” – kom åter"},
		{name: "XML undeclared but Latin-1", pipeline: "tes_visits_xml", contentType: "application/xml",
			body:     latin1(t, xmlVisit("", "TES-ENC-10", "Åsa Öberg", "Åt själv")),
			wantStep: "steps[0].validate", wantReason: []string{"schema tes/visit.xsd: line 7: invalid UTF-8 at byte offset", "XML that declares no encoding must be UTF-8"}},
	}
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = writePipelines(t, map[string]string{
				"tes_visits_xml": string(shippedXML),
				"tes_visits_csv_http": `
from:
  http: {source_system: tes, content_types: [text/csv]}
steps:
  - map: tes/visit_csv_to_visit
  - store: visit
`})
			logs, log := observedLogger(t)
			srv := startWith(t, cfg, server.Options{Logger: log})
			st := srv.Store()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					code, answer := postAs(t, "http://"+srv.Addr()+"/ingest/"+tc.pipeline, tc.contentType, "", tc.body)
					if code != http.StatusAccepted {
						t.Fatalf("POST = %d %s, want 202", code, answer)
					}
					var a struct{ ID string }
					if err := json.Unmarshal([]byte(answer), &a); err != nil {
						t.Fatal(err)
					}
					rec := waitDone(t, st, a.ID)
					if !bytes.Equal(rec.Body, tc.body) {
						t.Errorf("the message log holds %q, want the bytes as sent", rec.Body)
					}
					if tc.wantStep != "" {
						if rec.Status != store.StatusDead {
							t.Fatalf("message is %s, want dead", rec.Status)
						}
						checkDeadLetter(t, st, a.ID, tc.pipeline, tc.wantStep, tc.wantReason)
						for _, cell := range []string{"Gärdet", "G\xe4rdet", "Öster", "\xd6ster", "Åsa", "\xc5sa"} {
							checkNowhere(t, st, logs, a.ID, cell)
						}
						return
					}
					if rec.Status != store.StatusProcessed {
						t.Fatalf("message is %s, want processed (dead letters: %+v)", rec.Status, deadLetters(t, st, a.ID))
					}
					v, err := st.Visit(t.Context(), "tes", tc.visit)
					if err != nil {
						t.Fatal(err)
					}
					if v.UnitID != tc.unit {
						t.Errorf("unit_id = %q, want %q", v.UnitID, tc.unit)
					}
					var refs, reasons []string
					for _, s := range v.Staff {
						if s.StaffRef != "" {
							refs = append(refs, s.StaffRef)
						}
					}
					for _, in := range v.Insatser {
						if in.DeclinedReason != "" {
							reasons = append(reasons, in.DeclinedReason)
						}
					}
					if tc.staffRef != "" && (len(refs) != 1 || refs[0] != tc.staffRef) {
						t.Errorf("staff refs = %q, want [%q]", refs, tc.staffRef)
					}
					if len(reasons) != 1 || reasons[0] != tc.reason {
						t.Errorf("declined reasons = %q, want [%q]", reasons, tc.reason)
					}
				})
			}
		})
	}
}
