package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestTry runs the repository's sample files and broken ones through
// pipelines with knut try: ok with the canonical output, dead with step,
// field and reason, exit 1 if any is dead, and nothing stored.
func TestTry(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	root := filepath.Join("..", "..")
	broken := filepath.Join(dir, "broken.jsonl")
	good, err := os.ReadFile(filepath.Join(root, "schemas/tes/testdata/valid/export_nfc.json"))
	if err != nil {
		t.Fatal(err)
	}
	goodLine := strings.Join(strings.Fields(strings.ReplaceAll(string(good), "\": ", "\":")), " ")
	badLine := strings.Replace(goodLine, `"method":"`, `"method":"X`, 1)
	if badLine == goodLine {
		t.Fatal("sample has no method to break")
	}
	if err := os.WriteFile(broken, []byte(goodLine+"\n\n"+badLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
		dead    bool
	}{
		{name: "a vendor's JSON sample", args: []string{"--pipeline", "tes_visits", filepath.Join(root, "schemas/tes/testdata/valid/export_nfc.json")},
			want: []string{"ok    export_nfc.json", "visit: {", `"external_id"`, "1 ok, 0 dead"}},
		{name: "XML samples", args: []string{"--pipeline", "tes_visits_xml", filepath.Join(root, "schemas/tes/testdata/valid/visit_full.xml"), filepath.Join(root, "schemas/tes/testdata/valid/visit_minimal_prefixed.xml")},
			want: []string{"ok    visit_full.xml", "ok    visit_minimal_prefixed.xml", "2 ok, 0 dead"}},
		{name: "JSON lines, one broken", args: []string{"--pipeline", "tes_visits", broken},
			want: []string{"ok    broken.jsonl:1", "dead  broken.jsonl:3  step steps[0].validate  field /method", "1 ok, 1 dead"}, dead: true},
		{name: "a sample through the wrong pipeline", args: []string{"--pipeline", "tes_visits_xml", filepath.Join(root, "schemas/tes/testdata/valid/export_nfc.json")},
			want: []string{"dead  export_nfc.json  step steps[0].validate", "0 ok, 1 dead"}, dead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := knut(t, append([]string{"try", "--config", cfg}, tt.args...)...)
			if tt.dead != (err != nil) {
				t.Errorf("knut try: error %v, want one: %v\n%s", err, tt.dead, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
	if _, _, err := knut(t, "try", "--config", cfg, "--pipeline", "no_such_pipeline", broken); err == nil || !strings.Contains(err.Error(), "no_such_pipeline") {
		t.Errorf("unknown pipeline: error %v, want it named", err)
	}
	st := openStore(t, cfg)
	if c, err := st.Counts(t.Context()); err != nil || c[store.StatusReceived]+c[store.StatusProcessed]+c[store.StatusDead] != 0 {
		t.Errorf("store after knut try: %v %v, want nothing stored", c, err)
	}
}

// TestTryLatin1 runs the XML and CSV exports of a Swedish system in
// ISO-8859-1 and Windows-1252 through knut try: an XML document is read in
// the encoding its declaration names and must be UTF-8 without one; a CSV
// is UTF-8 if its bytes are and Windows-1252 if not.
func TestTryLatin1(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	visit := func(decl, id string) string {
		return decl + `
<visit xmlns="urn:knutpunkt:tes:visit:1" id="` + id + `">
  <client>198207062392</client>
  <start>2026-11-23T07:02:00Z</start>
  <end>2026-11-23T07:34:00Z</end>
  <staff>TSTNMT2321000156-1024</staff>
  <insatser><insats declined="true" declinedReason="Åt själv – “mätt”"><code>FRUKOST</code></insats></insatser>
</visit>
`
	}
	csv := "besok_id;personnummer;tagg;start;slut;hsa_id;utforare;enhet;metod;offline;status;insatser\n" +
		"TES-T-4;198207062392;;2026-11-23 08:02;2026-11-23 08:34;TSTNMT2321000156-1024;omsorg-norr;Gärdet – Södra;NFC;nej;UTFORD;DUSCH:20\n"
	files := []struct{ name, text string }{
		{"cp1252.xml", visit(`<?xml version="1.0" encoding="windows-1252"?>`, "TES-T-1")},
		{"latin1.xml", strings.ReplaceAll(visit(`<?xml version="1.0" encoding="ISO-8859-1"?>`, "TES-T-2"), " – “mätt”", "")},
		{"undeclared.xml", strings.ReplaceAll(visit(`<?xml version="1.0"?>`, "TES-T-3"), " – “mätt”", "")},
		{"export.csv", csv},
	}
	var paths []string
	for _, f := range files {
		b, err := charmap.Windows1252.NewEncoder().String(f.text)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	out, _, err := knut(t, "try", "--config", cfg, "--pipeline", "tes_visits_xml", paths[0], paths[1], paths[2])
	if err == nil {
		t.Error("knut try succeeded, want exit 1 for the undeclared document")
	}
	for _, want := range []string{
		"ok    cp1252.xml", `"declined_reason": "Åt själv – “mätt”"`,
		"ok    latin1.xml", `"declined_reason": "Åt själv"`,
		"dead  undeclared.xml  step steps[0].validate",
		"schema tes/visit.xsd: line 7: invalid UTF-8 at byte offset 272: XML that declares no encoding must be UTF-8",
		"2 ok, 1 dead",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("knut try output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = knut(t, "try", "--config", cfg, "--pipeline", "tes_visits_csv", paths[3])
	if err != nil || !strings.Contains(out, "ok    export.csv:2") || !strings.Contains(out, `"unit_id": "Gärdet – Södra"`) {
		t.Errorf("knut try of a Windows-1252 CSV: %v\n%s", err, out)
	}
}
