package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// demoVisits writes `knut demo visits -n n` to dir/name and returns its
// path and lines.
func demoVisits(t *testing.T, dir, name string, n int) (string, []string) {
	t.Helper()
	out, _, err := knut(t, "demo", "visits", "-n", strconv.Itoa(n))
	if err != nil {
		t.Fatalf("knut demo visits: %v", err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("knut demo visits -n %d wrote %d lines", n, len(lines))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

// openStore opens the store of config file cfg as knut does, with the keys
// that decrypt personal identifiers.
func openStore(t *testing.T, cfg string) *store.Store {
	t.Helper()
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(t.Context(), c, adapters.EnvSecrets{}, nil)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestImportVisits imports 500 demo visits, then the same file again.
func TestImportVisits(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t, "log: {format: json, level: debug}")
	file, _ := demoVisits(t, dir, "visits.jsonl", 500)

	var logs strings.Builder
	steps := []struct {
		name string
		want string // in the last line
	}{
		{"first import", "messages=500 stored=500 dead=0 duplicate=0 "},
		{"same file again", "messages=500 stored=0 dead=0 duplicate=500 "},
	}
	for _, s := range steps {
		out, stderr, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file)
		logs.WriteString(stderr)
		if err != nil {
			t.Fatalf("%s: knut import: %v\n%s", s.name, err, stderr)
		}
		if !strings.HasPrefix(out, "imported "+file+": ") || !strings.Contains(lastLine(out), s.want) {
			t.Errorf("%s: last line %q, want it to contain %q", s.name, lastLine(out), s.want)
		}
	}

	st := openStore(t, cfg)
	c, err := st.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.Status]int64{store.StatusReceived: 0, store.StatusProcessed: 500, store.StatusDead: 0, store.StatusReplayed: 0}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("message counts after two imports (-want +got):\n%s", diff)
	}
	visits, err := st.ListVisits(t.Context(), store.VisitFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(visits) != 500 {
		t.Errorf("%d visits stored, want 500", len(visits))
	}
	assertNoPersonIDs(t, "knut import's log", logs.String())
}

// TestImportDeadLetters imports a file with good lines and bad ones; each
// bad line is dead-lettered with a reason naming pipeline, step and field.
func TestImportDeadLetters(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t, "log: {format: json, level: debug}")
	_, good := demoVisits(t, dir, "visits.jsonl", 4)
	modified := func(line string, change func(*demo.TESVisit)) string {
		var v demo.TESVisit
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		change(&v)
		b, _ := json.Marshal(v)
		return string(b)
	}
	type dead struct {
		step      string
		reasonHas []string
	}
	lines := []struct {
		body string
		dead *dead // nil: stored
	}{
		{body: good[0]},
		{body: good[1]},
		{ // fails its check digit: an official invalid test case
			body: modified(good[2], func(v *demo.TESVisit) { v.VisitID += "-BADPNR"; v.ClientPnr = "20150916-0006" }),
			dead: &dead{"steps[1].map", []string{"mapping tes/visit_json_to_visit", "field client.person_id", "personnummer: "}},
		},
		{
			body: `{"visitId": "TES-BROKEN", "clientPnr": `,
			dead: &dead{"steps[0].validate", []string{"schema tes/export.schema.json", "invalid JSON"}},
		},
		{
			body: modified(good[3], func(v *demo.TESVisit) { v.VisitID += "-BADMETHOD"; v.Method = "BLUETOOTH" }),
			dead: &dead{"steps[0].validate", []string{"schema tes/export.schema.json", "at '/method'"}},
		},
		{
			body: modified(good[3], func(v *demo.TESVisit) { v.VisitID += "-REVERSED"; v.Start, v.End = v.End, v.Start }),
			dead: &dead{"steps[1].map", []string{"mapping tes/visit_json_to_visit", "field duration_minutes", "end is before start"}},
		},
		{body: good[3]},
	}
	var body strings.Builder
	wantDead := map[string]dead{} // by external id
	for i, l := range lines {
		body.WriteString(l.body + "\n")
		if l.dead != nil {
			wantDead["bad.jsonl:"+strconv.Itoa(i+1)] = *l.dead
		}
	}
	file := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(file, []byte(body.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	for _, s := range []struct{ name, want string }{
		{"first import", "messages=7 stored=3 dead=4 duplicate=0 "},
		{"same file again", "messages=7 stored=0 dead=0 duplicate=7 "},
	} {
		out, stderr, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file)
		logs.WriteString(stderr)
		if err != nil {
			t.Fatalf("%s: knut import: %v\n%s", s.name, err, stderr)
		}
		if !strings.Contains(lastLine(out), s.want) {
			t.Errorf("%s: last line %q, want it to contain %q", s.name, lastLine(out), s.want)
		}
	}

	st := openStore(t, cfg)
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != len(wantDead) {
		t.Errorf("%d dead letters, want %d (none added by the second import)", len(dls), len(wantDead))
	}
	for _, d := range dls {
		rec, err := st.Message(t.Context(), d.MessageID)
		if err != nil {
			t.Fatalf("message of dead letter %s: %v", d.ID, err)
		}
		want, ok := wantDead[rec.ExternalID]
		if !ok {
			t.Errorf("unexpected dead letter for %s: %s", rec.ExternalID, d.Reason)
			continue
		}
		delete(wantDead, rec.ExternalID)
		if d.Pipeline != "tes_visits" || d.Step != want.step || rec.Status != store.StatusDead {
			t.Errorf("dead letter for %s: pipeline %q step %q message %s, want tes_visits, %q, dead",
				rec.ExternalID, d.Pipeline, d.Step, rec.Status, want.step)
		}
		for _, s := range append([]string{"pipeline tes_visits: " + want.step + ": message " + d.MessageID + ": "}, want.reasonHas...) {
			if !strings.Contains(d.Reason, s) {
				t.Errorf("dead letter for %s: reason %q does not contain %q", rec.ExternalID, d.Reason, s)
			}
		}
		if strings.Contains(d.Reason, "20150916") || strings.Contains(d.Reason, "150916") {
			t.Errorf("dead letter for %s: reason %q contains the personnummer", rec.ExternalID, d.Reason)
		}
	}
	for id := range wantDead {
		t.Errorf("no dead letter for %s", id)
	}
	assertNoPersonIDs(t, "knut import's log", logs.String())
}

// assertNoPersonIDs fails if text holds any personnummer of the demo
// municipality's clients, in any of the usual written forms, or the invalid
// one the bad visits carry.
func assertNoPersonIDs(t *testing.T, what, text string) {
	t.Helper()
	forms := []string{"20150916-0006", "201509160006", "150916-0006"}
	for _, c := range demo.NewMunicipality(1).Clients {
		d := c.PersonID.Reveal()
		forms = append(forms, d, d[:8]+"-"+d[8:], d[2:], d[2:8]+"-"+d[8:])
	}
	for _, f := range forms {
		if i := strings.Index(text, f); i >= 0 {
			t.Errorf("%s contains personnummer %s unmasked: …%s…", what, f, text[max(0, i-200):min(len(text), i+len(f)+50)])
		}
	}
}

// TestImportCSVQuotedLineBreak: a quoted CSV field may hold a line break,
// and the record is one message, not one dead letter per physical line
// (a 4,000-line quoted field gave 4,000 dead letters). A quote never
// closed ends the file's last record.
func TestImportCSVQuotedLineBreak(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	const header = "besok_id;personnummer;tagg;start;slut;hsa_id;utforare;enhet;metod;offline;status;insatser\n"
	row := func(id, unit string) string {
		return id + ";198207062392;;2026-11-23 08:02;2026-11-23 08:34;TSTNMT2321000156-1024;omsorg-norr;" + unit + ";NFC;nej;UTFORD;\n"
	}
	file := filepath.Join(dir, "quoted.csv")
	body := header + row("TES-Q-1", "norr-team-1") + row("TES-Q-2", "\"norr\nteam \"\"2\"\"\n\"") + row("TES-Q-3", "norr-team-1") + row("TES-Q-4", "\"never closed")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits_csv", file)
	if err != nil {
		t.Fatal(err)
	}
	if want := "messages=4 "; !strings.Contains(out, want) {
		t.Errorf("knut import said %q, want %q: a record per message", lastLine(out), want)
	}
	st := openStore(t, cfg)
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || !strings.Contains(dls[0].Reason, "quote") {
		t.Errorf("dead letters %+v, want one, the record whose quote never closed", dls)
	}
}

// TestImportLatin1CSV imports TES CSV exports the way Swedish systems
// write them: Windows-1252 without a byte order mark (read as such, as its
// bytes are not UTF-8), and UTF-8 with one (a Latin-1 row in it is not
// UTF-8 and is dead-lettered). A byte that is no character in
// Windows-1252 costs its row, named by file:line, field and offset.
func TestImportLatin1CSV(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t, "log: {format: json, level: debug}")
	const header = "besok_id;personnummer;tagg;start;slut;hsa_id;utforare;enhet;metod;offline;status;insatser\n"
	row := func(id, unit, insatser string) string {
		return id + ";198207062392;;2026-11-23 08:02;2026-11-23 08:34;TSTNMT2321000156-1024;omsorg-norr;" + unit + ";NFC;nej;DELVIS_AVBOJD;" + insatser + "\n"
	}
	cp1252, err := charmap.Windows1252.NewEncoder().String(header +
		row("TES-L1-1", "Gärdet Södra", "DUSCH:20|FRUKOST:avböjd=“Sover” – kom åter") +
		row("TES-L1-2", "Östermalm", "TILLSYN:10|DUSCH:avböjd=Åt själv, är mätt") +
		row("TES-L1-3", "Öster", ""))
	if err != nil {
		t.Fatal(err)
	}
	// 0x81 is no character in Windows-1252: TES-L1-3's unit becomes "Öster\x81".
	cp1252 = strings.Replace(cp1252, "\xd6ster;", "\xd6ster\x81;", 1)
	latin1Row, err := charmap.ISO8859_1.NewEncoder().String(row("TES-L1-5", "Årsta", ""))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"export.csv":     cp1252,
		"export_bom.csv": "\xEF\xBB\xBF" + header + row("TES-L1-4", "Ängby", "DUSCH:avböjd=Ej hemma") + latin1Row,
	}
	var paths []string
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	out, stderr, err := knut(t, append([]string{"import", "--config", cfg, "--pipeline", "tes_visits_csv"}, paths...)...)
	if err != nil {
		t.Fatalf("knut import: %v\n%s", err, stderr)
	}
	if want := "messages=5 stored=3 dead=2 "; !strings.Contains(lastLine(out), want) {
		t.Errorf("last line %q, want it to contain %q", lastLine(out), want)
	}
	for _, at := range []string{`"at":"export.csv:4"`, `"at":"export_bom.csv:3"`} {
		if !strings.Contains(stderr, at) {
			t.Errorf("knut import's log does not name the dead row %s:\n%s", at, stderr)
		}
	}

	st := openStore(t, cfg)
	for id, want := range map[string][2]string{
		"TES-L1-1": {"Gärdet Södra", "“Sover” – kom åter"},
		"TES-L1-2": {"Östermalm", "Åt själv, är mätt"},
		"TES-L1-4": {"Ängby", "Ej hemma"},
	} {
		v, err := st.Visit(t.Context(), "tes", id)
		if err != nil {
			t.Errorf("visit %s: %v", id, err)
			continue
		}
		var reason string
		for _, in := range v.Insatser {
			reason += in.DeclinedReason
		}
		if got := [2]string{v.UnitID, reason}; got != want {
			t.Errorf("visit %s: unit and declined reason %q, want %q", id, got, want)
		}
	}
	dls, err := st.ListDeadLetters(t.Context(), store.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	wantReasons := map[string]string{
		"export.csv:4":     "mapping tes/visit_csv_to_visit: read input: line 2, field 8 (enhet): not UTF-8 (invalid at byte offset 181), and byte 0x81 at byte offset 186 is not a character in Windows-1252",
		"export_bom.csv:3": "mapping tes/visit_csv_to_visit: read input: line 2, field 8 (enhet): invalid UTF-8 at byte offset 184",
	}
	for _, dl := range dls {
		m, err := st.Message(t.Context(), dl.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := wantReasons[m.ExternalID]
		if !ok || dl.Step != "steps[0].map" || !strings.HasSuffix(dl.Reason, want) {
			t.Errorf("dead letter of %s at %s: %q, want one ending %q", m.ExternalID, dl.Step, dl.Reason, want)
		}
		delete(wantReasons, m.ExternalID)
		for _, cell := range []string{"\xd6ster", "Öster", "\xc5rsta", "Årsta"} {
			if strings.Contains(dl.Reason, cell) {
				t.Errorf("dead letter of %s quotes a cell: %q", m.ExternalID, dl.Reason)
			}
		}
	}
	for ref := range wantReasons {
		t.Errorf("no dead letter for %s", ref)
	}
}
