package demo

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	_ "github.com/knutpunkt/knutpunkt/adapters/all" // tes_visits has an http source
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// TestVisitCSVThroughPipeline runs generated rows through the real
// tes_visits_csv pipeline (the CSV mapping and the canonical visit's
// decoding and validation) and checks each visit against the same visit
// sent as a JSON line through tes_visits, changed only by what the row adds:
// so the generator cannot drift from the CSV contract or from Visits.
func TestVisitCSVThroughPipeline(t *testing.T) {
	const n = 600
	m := NewMunicipality(1)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, Stockholm())
	var csvOut, jsonOut bytes.Buffer
	if err := m.WriteVisitCSV(&csvOut, n, start, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteVisitLines(&jsonOut, n, start, 1); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(csvOut.String(), "\n"), "\n")
	jsonLines := strings.Split(strings.TrimSuffix(jsonOut.String(), "\n"), "\n")
	if len(lines) != n+1 || len(jsonLines) != n {
		t.Fatalf("%d CSV lines and %d JSON lines, want a header and %d rows, and %d", len(lines), len(jsonLines), n, n)
	}
	if lines[0] != strings.Join(VisitCSVColumns, ";") {
		t.Fatalf("header %q", lines[0])
	}

	csvPlan, jsonPlan := loadPlan(t, "tes_visits_csv"), loadPlan(t, "tes_visits")
	seen := map[string]int{}
	for i, line := range lines[1:] {
		r := csv.NewReader(strings.NewReader(line))
		r.Comma = ';'
		cells, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for j, c := range VisitCSVColumns {
			row[c] = cells[j]
		}
		got := process(t, csvPlan, "text/csv", lines[0]+"\n"+line)
		want := process(t, jsonPlan, "application/json", jsonLines[i])
		want.Version, _ = strconv.Atoi(row["version"])
		want.Staff = slices.Clone(want.Staff)
		want.Insatser = slices.Clone(want.Insatser)
		if ref := row["personal_id"]; ref != "" {
			want.Staff[0] = homecare.VisitStaff{StaffRef: ref, Role: homecare.RolePrimary}
			seen["staff id"]++
		}
		if row["hsa_id_2"] != "" || row["personal_id_2"] != "" {
			want.Staff = append(want.Staff, homecare.VisitStaff{
				HSAID: homecare.HSAID(row["hsa_id_2"]), StaffRef: row["personal_id_2"], Role: homecare.RoleSecond,
			})
			want.Insatser[0].DoubleStaffed = true
			seen["double staffed"]++
			if row["personal_id_2"] != "" {
				seen["double staffed by staff id"]++
			}
		}
		if row["status"] == "DELVIS_AVBOJD" {
			last := strings.Split(row["insatser"], "|")
			code, reason, _ := strings.Cut(last[len(last)-1], ":avbojd")
			want.Status = homecare.VisitStatus("partially_declined")
			want.Insatser = append(want.Insatser, homecare.VisitInsats{
				Code: code, Declined: true, DeclinedReason: strings.TrimPrefix(reason, "="),
			})
			seen["partly declined"]++
		}
		if want.Version == 2 {
			seen["version 2"]++
		}
		if d := cmp.Diff(asJSON(t, want), asJSON(t, got)); d != "" {
			t.Fatalf("row %d %q: canonical visit from CSV differs from the JSON line's, changed by the row (-want +got):\n%s", i+1, line, d)
		}
	}
	for _, k := range []string{"staff id", "double staffed", "double staffed by staff id", "partly declined", "version 2"} {
		if seen[k] == 0 {
			t.Errorf("no row in %d is %s: the benchmark would not exercise it", n, k)
		}
	}
	t.Logf("%d rows: %v", n, seen)
}

func loadPlan(t *testing.T, name string) *pipeline.Plan {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "..", "knut.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Load(filepath.Join(cfg.Path(cfg.Pipelines), name+".yaml"), server.Resources(cfg, adapters.Default))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// process runs body through p and returns the one visit it stores.
func process(t *testing.T, p *pipeline.Plan, contentType, body string) homecare.Visit {
	t.Helper()
	res, err := p.Process(t.Context(), knutpunkt.Message{
		ID:      "m",
		Headers: map[string]string{knutpunkt.HeaderContentType: contentType, knutpunkt.HeaderSourceSystem: "tes"},
		Body:    []byte(body),
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", p.Name, err, body)
	}
	if len(res.Writes) != 1 {
		t.Fatalf("%s: %d writes, want 1", p.Name, len(res.Writes))
	}
	v, ok := res.Writes[0].Entity.(homecare.Visit)
	if !ok {
		t.Fatalf("%s: wrote a %T", p.Name, res.Writes[0].Entity)
	}
	return v
}

func asJSON(t *testing.T, v homecare.Visit) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
