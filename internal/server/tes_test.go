package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestTESSyncAndNightlyEndToEnd: a phone's sync pushed to /ingest/tes_sync (one bad
// visit in it) and sent again, then the nightly CSV export dropped in the hub's drop
// directory with a visit already pushed, a correction and a visit the phones never
// pushed, on SQLite and (when configured) PostgreSQL: every visit is stored once, the bad
// one is one dead letter, the correction is kept, the file is taken.
func TestTESSyncAndNightlyEndToEnd(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			cfg := repoConfig(t, db.DSN)
			exportDir := t.TempDir()
			cfg.Vars["tes_export_dir"] = exportDir
			srv := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
			url := "http://" + srv.Addr() + "/ingest/tes_sync"

			m := demo.NewMunicipality(1)
			seq := 0
			visits := m.Visits(time.Date(2026, 11, 20, 0, 0, 0, 0, demo.Stockholm()), 1, &seq)[:6]
			bad := visits[4]
			bad.VisitID += "-BAD"
			bad.ClientPnr = "20150916-0006" // fails its check digit (official invalid test case)
			sync, _ := json.Marshal(map[string]any{"syncId": "PHONE-0001-1", "deviceId": "PHONE-0001",
				"visits": []demo.TESVisit{visits[0], visits[1], visits[2], visits[3], bad}})
			for i, wantDup := range []bool{false, true} { // a phone that synced twice
				code, msg := post(t, url, "", sync)
				if code != http.StatusAccepted {
					t.Fatalf("POST sync %d = %d %s, want 202", i+1, code, msg)
				}
				var answer struct {
					Messages []struct {
						ID        string `json:"id"`
						Duplicate bool   `json:"duplicate"`
					} `json:"messages"`
				}
				if err := json.Unmarshal([]byte(msg), &answer); err != nil || len(answer.Messages) != 5 {
					t.Fatalf("answer %s: %v", msg, err)
				}
				for _, p := range answer.Messages {
					if p.Duplicate != wantDup || p.ID == "" {
						t.Errorf("sync %d: part %+v, want duplicate=%v", i+1, p, wantDup)
					}
				}
			}

			// The nightly export: visit 0 as pushed, visit 1 corrected (version 2, ended
			// ten minutes later), visit 5 never pushed.
			corrected := visits[1]
			corrected.Version = 2
			end, _ := time.ParseInLocation("2006-01-02 15:04:05", corrected.End, demo.Stockholm())
			corrected.End = end.Add(10 * time.Minute).Format("2006-01-02 15:04:05")
			var csv strings.Builder
			csv.WriteString("besok_id;version;personnummer;tagg;start;slut;hsa_id;utforare;enhet;metod;offline;status;insatser\n")
			for _, v := range []demo.TESVisit{visits[0], corrected, visits[5]} {
				var ins []string
				for _, in := range v.Insatser {
					ins = append(ins, fmt.Sprintf("%s:%d", in.Code, in.Minutes))
				}
				offline, version := "nej", ""
				if v.Offline {
					offline = "ja"
				}
				if v.Version > 0 {
					version = fmt.Sprint(v.Version)
				}
				fmt.Fprintf(&csv, "%s;%s;%s;%s;%s;%s;%s;%s;%s;%s;%s;%s;%s\n", v.VisitID, version, v.ClientPnr, v.TagUID,
					v.Start, v.End, v.StaffHSAID, v.Provider, v.Unit, v.Method, offline, v.Status, strings.Join(ins, "|"))
			}
			name := "tes-export-2026-11-20.csv"
			if err := os.WriteFile(filepath.Join(exportDir, "."+name), []byte(csv.String()), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(exportDir, "."+name), filepath.Join(exportDir, name)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for _, err := os.Stat(filepath.Join(exportDir, "done", name)); err != nil; _, err = os.Stat(filepath.Join(exportDir, "done", name)) {
				if time.Now().After(deadline) {
					t.Fatal("the nightly export was not taken within 20s")
				}
				time.Sleep(20 * time.Millisecond) // the drop directory is polled: nothing to wait on
			}

			c := settle(t, srv.Store(), 5+3)
			if c[store.StatusDead] != 1 {
				t.Errorf("counts = %v, want one dead letter", c)
			}
			for i, v := range visits {
				_, hist, err := srv.Store().VisitHistory(t.Context(), "tes", v.VisitID)
				switch {
				case i == 4:
					if err == nil {
						t.Errorf("visit %s stored: it was only sent bad", v.VisitID)
					}
				case err != nil:
					t.Errorf("visit %s: %v", v.VisitID, err)
				case i == 1 && len(hist) != 1, i != 1 && len(hist) != 0:
					t.Errorf("visit %s has %d corrections", v.VisitID, len(hist))
				}
			}
			dls, err := srv.Store().ListDeadLetters(t.Context(), store.DeadLetterFilter{Pipeline: "tes_sync"})
			if err != nil || len(dls) != 1 || !strings.Contains(dls[0].Reason, "field client.person_id: personnummer: ") {
				t.Errorf("dead letters of tes_sync = %+v, %v; want the bad personnummer's", dls, err)
			}
		})
	}
}
