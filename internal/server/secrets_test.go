package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// A pipeline whose secret is missing is out of service and says so, in the
// log and on /readyz, naming the pipeline and the secret; the others run.
func TestMissingSecretTakesOnlyItsPipelineOut(t *testing.T) {
	const ref = "env:KNUT_TEST_NOT_SET_ANYWHERE"
	if _, set := os.LookupEnv(strings.TrimPrefix(ref, "env:")); set {
		t.Fatalf("%s is set; this test needs it missing", ref)
	}
	tes, err := os.ReadFile("../../pipelines/tes_visits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := repoConfig(t, "")
	cfg.Pipelines = writePipelines(t, map[string]string{
		"tes_visits": string(tes),
		"to_vendor": `
from:
  http: {source_system: tes}
to:
  http: {url: "http://127.0.0.1:9/orders", bearer_token: ` + ref + `}
`})
	logs, log := observedLogger(t)
	srv := startWith(t, cfg, server.Options{Logger: log, Secrets: demo.Secrets(nil)})
	base := "http://" + srv.Addr()

	lines := logs.FilterMessage("pipeline not ready: a secret it needs is missing; the other pipelines run").All()
	if len(lines) != 1 || lines[0].ContextMap()["pipeline"] != "to_vendor" || !strings.Contains(lines[0].ContextMap()["error"].(string), ref) {
		t.Errorf("log lines about the missing secret: %v, want one naming to_vendor and %s", lines, ref)
	}

	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "pipeline to_vendor is not ready") || !strings.Contains(string(body), ref) {
		t.Errorf("/readyz = %d %s, want 503 naming to_vendor and %s", resp.StatusCode, body, ref)
	}

	code, answer := postAs(t, base+"/ingest/tes_visits", jsonCT, "TES-SECRET-1", tesJSON("TES-SECRET-1", nil))
	if code != http.StatusAccepted {
		t.Fatalf("POST to the pipeline that runs = %d %s, want 202", code, answer)
	}
	var a struct{ ID string }
	json.Unmarshal([]byte(answer), &a)
	if rec := waitDone(t, srv.Store(), a.ID); rec.Status != store.StatusProcessed {
		t.Errorf("message of the pipeline that runs is %s, want processed", rec.Status)
	}

	code, answer = postAs(t, base+"/ingest/to_vendor", jsonCT, "V-1", []byte(`{}`))
	if code != http.StatusServiceUnavailable {
		t.Errorf("POST to the pipeline without its secret = %d %s, want 503 (the sender retries)", code, answer)
	}
}

// A disabled pipeline is loaded and checked but not run: its ingest path is not
// mounted, the others are. A name that is no pipeline stops a production hub.
func TestDisabledPipelines(t *testing.T) {
	tes, err := os.ReadFile("../../pipelines/tes_visits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := repoConfig(t, "")
	cfg.Pipelines = writePipelines(t, map[string]string{"tes_visits": string(tes), "tes_off": string(tes)})
	cfg.DisabledPipelines = []string{"tes_off"}
	srv := startWith(t, cfg, server.Options{Secrets: demo.Secrets(nil)})
	base := "http://" + srv.Addr()
	if code, answer := postAs(t, base+"/ingest/tes_visits", jsonCT, "TES-ON-1", tesJSON("TES-ON-1", nil)); code != http.StatusAccepted {
		t.Errorf("POST to the enabled pipeline = %d %s, want 202", code, answer)
	}
	if code, answer := postAs(t, base+"/ingest/tes_off", jsonCT, "TES-OFF-1", tesJSON("TES-OFF-1", nil)); code != http.StatusNotFound {
		t.Errorf("POST to the disabled pipeline = %d %s, want 404", code, answer)
	}

	prod := repoConfig(t, "")
	prod.Pipelines = cfg.Pipelines
	prod.Environment = config.Production
	prod.DisabledPipelines = []string{"tes_of"}
	if _, err := server.New(t.Context(), prod, server.Options{Secrets: demo.Secrets(nil)}); err == nil ||
		!strings.Contains(err.Error(), `disabled_pipelines: "tes_of": no such pipeline`) {
		t.Errorf("a production hub disabling a pipeline that does not exist: %v, want an error naming it", err)
	}
}
