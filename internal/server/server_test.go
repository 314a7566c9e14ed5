package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	_ "github.com/knutpunkt/knutpunkt/adapters/all"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
	"github.com/knutpunkt/knutpunkt/internal/store/storetest"
)

// repoConfig is the embedded default pointed at the repository's content
// and a store in a fresh directory; dsn overrides the store (PostgreSQL).
func repoConfig(t testing.TB, dsn string) *config.Config {
	t.Helper()
	cfg, err := config.Load("../../knut.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Environment = config.Test
	cfg.Store.DSN = filepath.Join(t.TempDir(), "knut.db")
	if dsn != "" {
		cfg.Store.DSN = dsn
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	return cfg
}

// start runs a hub until the test ends.
func start(t *testing.T, cfg *config.Config, log *zap.Logger) *server.Server {
	t.Helper()
	return startWith(t, cfg, server.Options{Logger: log})
}

// settle waits until every message is processed or dead.
func settle(t *testing.T, st *store.Store, want int64) map[store.Status]int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := st.Counts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if c[store.StatusReceived] == 0 && c[store.StatusProcessed]+c[store.StatusDead] >= want {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages not settled after 20s: %v (want %d done)", c, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func post(t *testing.T, url, externalID string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-External-Id", externalID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestVisitsEndToEnd pushes TES visits over HTTP into a running hub, on
// SQLite and (when configured) PostgreSQL, and checks what it stored and
// dead-lettered.
func TestVisitsEndToEnd(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			srv := start(t, repoConfig(t, db.DSN), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
			url := "http://" + srv.Addr() + "/ingest/tes_visits"
			m := demo.NewMunicipality(1)
			seq := 0
			visits := m.Visits(time.Date(2026, 11, 20, 0, 0, 0, 0, demo.Stockholm()), 1, &seq)[:10]
			for _, v := range visits {
				body, _ := json.Marshal(v)
				if code, msg := post(t, url, v.VisitID, body); code != http.StatusAccepted {
					t.Fatalf("POST visit %s = %d %s, want 202", v.VisitID, code, msg)
				}
			}
			// The same visit again (a phone that synced twice) is recognised.
			body, _ := json.Marshal(visits[0])
			if code, msg := post(t, url, visits[0].VisitID, body); code >= 300 {
				t.Fatalf("POST duplicate = %d %s", code, msg)
			}
			bad := visits[1]
			bad.VisitID += "-BAD"
			bad.ClientPnr = "20150916-0006" // fails its check digit (official invalid test case)
			body, _ = json.Marshal(bad)
			post(t, url, bad.VisitID, body)
			post(t, url, "not-json", []byte(`{"visitId": `))

			c := settle(t, srv.Store(), 12)
			if c[store.StatusProcessed] != 10 || c[store.StatusDead] != 2 {
				t.Errorf("counts = %v, want 10 processed and 2 dead", c)
			}
			got, err := srv.Store().Visit(t.Context(), "tes", visits[3].VisitID)
			if err != nil {
				t.Fatalf("stored visit: %v", err)
			}
			if got.Client.PersonID.Reveal() != m.Clients[0].PersonID.Reveal() && got.Staff[0].HSAID == "" {
				t.Errorf("visit %s stored wrongly: %+v", visits[3].VisitID, got)
			}
			totals, err := srv.Store().VisitTotals(t.Context(), store.VisitFilter{})
			if err != nil {
				t.Fatal(err)
			}
			// No order is in force for these clients: the visits are shown apart, not counted.
			var n int64
			for _, tot := range totals {
				n += tot.NoOrder
				if tot.LocalDate != "2026-11-20" || tot.NoOrderMinutes <= 0 || tot.Visits != 0 || tot.Minutes != 0 {
					t.Errorf("total %+v: want day 2026-11-20, minutes without an order, none counted", tot)
				}
			}
			if n != 10 {
				t.Errorf("visit totals show %d visits without an order, want 10", n)
			}
			dls, err := srv.Store().ListDeadLetters(t.Context(), store.DeadLetterFilter{Pipeline: "tes_visits"})
			if err != nil {
				t.Fatal(err)
			}
			reasons := ""
			for _, d := range dls {
				reasons += d.Step + ": " + d.Reason + "\n"
			}
			for _, want := range []string{"pipeline tes_visits", "field client.person_id: personnummer: ", "schema tes/export.schema.json: at '': invalid JSON", "steps[0].validate"} {
				if !strings.Contains(reasons, want) {
					t.Errorf("dead letter reasons do not mention %q:\n%s", want, reasons)
				}
			}
			if strings.Contains(reasons, "201509160006") || strings.Contains(reasons, "20150916-0006") {
				t.Errorf("a dead-letter reason contains the personnummer:\n%s", reasons)
			}
		})
	}
}

// databases are SQLite always, and PostgreSQL when the test cluster is
// there (storetest.Databases).
func databases(t *testing.T) []storetest.Database { return storetest.Databases(t) }
