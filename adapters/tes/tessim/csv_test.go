package tessim_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// readmeColumns are the columns schemas/tes/README.md names, in its order.
var readmeColumns = []string{
	"besok_id", "version", "personnummer", "tagg", "start", "slut", "hsa_id", "personal_id",
	"hsa_id_2", "personal_id_2", "utforare", "enhet", "metod", "offline", "status", "insatser",
}

// nightlies returns the month's exports, concatenated.
func nightlies() []tessim.Visit {
	var out []tessim.Visit
	for _, d := range month().days {
		out = append(out, d.Nightly...)
	}
	return out
}

// readCSV reads an export back with encoding/csv, decoding Windows-1252
// when asked.
func readCSV(t *testing.T, b []byte, cs tessim.Charset) [][]string {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	if cs == tessim.Windows1252 {
		r = charmap.Windows1252.NewDecoder().Reader(r)
	}
	cr := csv.NewReader(r)
	cr.Comma = ';'
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return rows
}

func TestWriteNightlyCSV(t *testing.T) {
	visits := nightlies()
	for _, cs := range []tessim.Charset{tessim.UTF8, tessim.Windows1252} {
		t.Run(map[tessim.Charset]string{tessim.UTF8: "utf-8", tessim.Windows1252: "windows-1252"}[cs], func(t *testing.T) {
			var buf bytes.Buffer
			if err := tessim.WriteNightlyCSV(&buf, visits, cs); err != nil {
				t.Fatal(err)
			}
			// The units' ö: two bytes in UTF-8, one in Windows-1252.
			if utf := bytes.Contains(buf.Bytes(), []byte("söder")); utf != (cs == tessim.UTF8) {
				t.Errorf("UTF-8 ö present: %v", utf)
			}
			if cs == tessim.Windows1252 && !bytes.Contains(buf.Bytes(), []byte("s\xf6der")) {
				t.Error("no Windows-1252 ö")
			}
			rows := readCSV(t, buf.Bytes(), cs)
			if diff := cmp.Diff(tessim.CSVColumns, rows[0]); diff != "" {
				t.Fatalf("header (-want +got):\n%s", diff)
			}
			if !slices.Equal(rows[0][:len(readmeColumns)], readmeColumns) {
				t.Errorf("the first columns are not the README's")
			}
			if len(rows)-1 != len(visits) {
				t.Fatalf("%d rows for %d visits", len(rows)-1, len(visits))
			}
			for i, v := range visits {
				checkRow(t, rows[0], rows[i+1], v)
			}
		})
	}
}

// checkRow checks that row says what v does.
func checkRow(t *testing.T, header, row []string, v tessim.Visit) {
	t.Helper()
	cell := map[string]string{}
	for i, h := range header {
		cell[h] = row[i]
	}
	when := func(col string, want time.Time) {
		if cell[col] == "" && want.IsZero() {
			return
		}
		got, err := time.Parse(time.RFC3339, cell[col])
		if err != nil || !got.Equal(want) || !strings.HasSuffix(cell[col], want.Format("-07:00")) {
			t.Errorf("%s %s = %q, want %s", v.VisitID, col, cell[col], want)
		}
	}
	when("start", v.Start)
	when("slut", v.End)
	when("enhet_start", v.DeviceStart)
	when("enhet_slut", v.DeviceEnd)
	when("mottagen", v.ReceivedAt)
	second := tessim.Staff{}
	if len(v.Staff) > 1 {
		second = v.Staff[1].Staff
	}
	offline := map[bool]string{true: "ja", false: "nej"}[v.Offline]
	want := map[string]string{
		"besok_id": v.VisitID, "version": strconv.Itoa(v.Version), "personnummer": v.ClientPnr, "tagg": v.TagUID,
		"hsa_id": v.Staff[0].HSAID, "personal_id": v.Staff[0].StaffID, "hsa_id_2": second.HSAID, "personal_id_2": second.StaffID,
		"utforare": v.Provider, "enhet": v.Unit, "metod": string(v.Method), "offline": offline, "status": string(v.Status),
		"start_metod": string(v.StartMethod), "slut_metod": string(v.EndMethod), "start_tagg": v.StartTagUID, "slut_tagg": v.EndTagUID,
		"planerat_besok": v.PlannedVisitID, "sambo_besok": v.SharedVisitID,
	}
	for col, w := range want {
		if cell[col] != w {
			t.Errorf("%s %s = %q, want %q", v.VisitID, col, cell[col], w)
		}
	}
	// insatser: KOD[:MIN][:dubbel][:avbojd[=ORSAK]] joined by |.
	packed := strings.Split(cell["insatser"], "|")
	if len(packed) != len(v.Insatser) {
		t.Fatalf("%s insatser %q for %d", v.VisitID, cell["insatser"], len(v.Insatser))
	}
	for i, in := range v.Insatser {
		parts := strings.Split(packed[i], ":")
		got := tessim.Insats{Code: parts[0]}
		for _, p := range parts[1:] {
			switch {
			case p == "dubbel":
				got.DoubleStaffed = true
			case strings.HasPrefix(p, "avbojd"):
				got.Declined = true
				got.DeclinedReason = strings.TrimPrefix(strings.TrimPrefix(p, "avbojd"), "=")
			default:
				got.Minutes, _ = strconv.Atoi(p)
			}
		}
		if got != in {
			t.Errorf("%s insats %q, want %+v", v.VisitID, packed[i], in)
		}
	}
}

func TestWriteNightlyCSVCharsetLacks(t *testing.T) {
	v := nightlies()[0]
	v.Unit = "team ✓"
	err := tessim.WriteNightlyCSV(io.Discard, []tessim.Visit{v}, tessim.Windows1252)
	if err == nil {
		t.Fatal("a character Windows-1252 lacks was written")
	}
	if strings.Contains(err.Error(), v.ClientPnr) {
		t.Errorf("the error names the person: %v", err)
	}
	if err := tessim.WriteNightlyCSV(io.Discard, []tessim.Visit{v}, tessim.UTF8); err != nil {
		t.Errorf("UTF-8: %v", err)
	}
}

func TestDropNightly(t *testing.T) {
	dir := t.TempDir()
	r := month()
	day := r.days[3]
	for range 2 { // the second replaces the first
		path, err := tessim.DropNightly(dir, day.Date, day.Nightly, tessim.Windows1252)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "tes-export-2026-11-05.csv"); path != want {
			t.Errorf("path %s, want %s", path, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != tessim.ExportName(homecare.Date{Year: 2026, Month: 11, Day: 5}) {
		t.Fatalf("drop directory holds %v, want the export alone", entries)
	}
	b, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, b, tessim.Windows1252); len(rows) != len(day.Nightly)+1 {
		t.Errorf("%d rows, want %d and the header", len(rows), len(day.Nightly))
	}
	if _, err := tessim.DropNightly(filepath.Join(dir, "missing"), day.Date, day.Nightly, tessim.UTF8); err == nil {
		t.Error("a missing directory: no error")
	}
}
