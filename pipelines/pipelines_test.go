// Package pipelines_test checks the shipped pipeline files under go test:
// every file loads against the real mappings, schemas and adapters, so a
// broken pipeline fails `go test ./...` as well as `knut validate`, and
// every pipeline runs its samples in testdata/<pipeline>/ through its steps.
//
// A sample is testdata/<pipeline>/NAME.json, NAME.xml or NAME.csv (one
// message body, as the pipeline's source hands it over: for the CSV import
// pipeline the header line and one row). Beside it is either
// NAME.golden.json, the outcome (the entities the store steps write and the
// messages the pipeline sends), or NAME.err, a substring of the error for a
// bad input, which must also be a permanent failure (a dead letter, not a
// retry). go test ./pipelines -update rewrites the golden files.
package pipelines_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	_ "github.com/knutpunkt/knutpunkt/adapters/all"
	adhttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

var update = flag.Bool("update", false, "rewrite golden files with the actual outcome")

// contentTypes are the sample extensions and the content type the message
// carries, as the http source and knut import set it.
var contentTypes = map[string]string{
	".json": "application/json",
	".xml":  "application/xml",
	".csv":  "text/csv",
}

// resources are what knut serve and knut validate resolve pipelines against:
// the repository's knut.yaml (its vars), mappings and schemas, and every
// built-in adapter.
func resources() pipeline.Resources {
	cfg, err := config.Load("../knut.yaml")
	if err != nil {
		panic(err)
	}
	return server.Resources(cfg, adapters.Default)
}

// TestPipelinesLoad loads every pipeline file, one subtest each, and then
// the directory as the hub does; any problem fails with its file:line.
func TestPipelinesLoad(t *testing.T) {
	files, err := pipeline.Files(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no pipeline files in pipelines/")
	}
	res := resources()
	for _, f := range files {
		t.Run(strings.TrimSuffix(f, ".yaml"), func(t *testing.T) {
			if _, err := pipeline.Load(f, res); err != nil {
				t.Errorf("pipeline.Load(%s):\n%v", f, err)
			}
		})
	}
	plans, err := pipeline.LoadDir(".", res)
	if err != nil {
		t.Fatalf("pipeline.LoadDir(pipelines):\n%v", err)
	}
	if len(plans) != len(files) {
		t.Errorf("LoadDir loaded %d plans from %d files", len(plans), len(files))
	}
}

// TestIngestPathsAreUnique catches two http-source pipelines mounted on the
// same /ingest path, which loading alone does not see but knut serve
// refuses at start.
func TestIngestPathsAreUnique(t *testing.T) {
	plans, err := pipeline.LoadDir(".", resources())
	if err != nil {
		t.Fatal(err)
	}
	mounted := map[string]string{}
	for _, p := range plans {
		if p.From.Adapter != adhttp.Name {
			continue
		}
		cfg, err := adapters.ConfigOf[*adhttp.SourceConfig](p.From.Config)
		if err != nil {
			t.Fatalf("pipeline %s: %v", p.Name, err)
		}
		path := cfg.Path
		if path == "" {
			path = p.Name
		}
		if other, dup := mounted[path]; dup {
			t.Errorf("pipelines %s and %s are both served at /ingest/%s", other, p.Name, path)
		}
		mounted[path] = p.Name
	}
}

// TestPipelineSamples runs every sample through its pipeline's steps
// (Plan.Process: no adapters, no store) and compares the outcome with the
// golden file or the expected error.
func TestPipelineSamples(t *testing.T) {
	plans, err := pipeline.LoadDir(".", resources())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range plans {
		names[p.Name] = true
		t.Run(p.Name, func(t *testing.T) {
			inputs := samples(t, p.Name)
			if len(inputs) == 0 {
				t.Fatalf("pipeline %s has no samples: add testdata/%s/NAME.{json,xml,csv} with NAME.golden.json or NAME.err",
					p.Name, p.Name)
			}
			for _, in := range inputs {
				name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					runSample(t, p, in)
				})
			}
		})
	}
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !names[d.Name()] {
			t.Errorf("testdata/%s has samples for a pipeline that does not exist (no %s.yaml)", d.Name(), d.Name())
		}
	}
}

// samples lists the sample inputs of pipeline name, sorted.
func samples(t *testing.T, name string) []string {
	t.Helper()
	var inputs []string
	for ext := range contentTypes {
		m, err := filepath.Glob(filepath.Join("testdata", name, "*"+ext))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".golden.json") && !strings.HasSuffix(f, ".headers.json") {
				inputs = append(inputs, f)
			}
		}
	}
	slices.Sort(inputs)
	return inputs
}

func runSample(t *testing.T, p *pipeline.Plan, in string) {
	body, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	ext := filepath.Ext(in)
	base := strings.TrimSuffix(in, ext)
	id := filepath.Base(base)
	m := knutpunkt.Message{
		ID: id,
		Headers: map[string]string{
			knutpunkt.HeaderContentType:  contentTypes[ext],
			knutpunkt.HeaderSourceSystem: "sample",
			knutpunkt.HeaderExternalID:   id,
		},
		Body: body,
	}
	// NAME.headers.json, if there, sets headers the transport would (a
	// provider's signed source-system, say).
	if b, err := os.ReadFile(base + ".headers.json"); err == nil {
		if err := json.Unmarshal(b, &m.Headers); err != nil {
			t.Fatalf("%s.headers.json: %v", base, err)
		}
	}
	goldenPath, errPath := base+".golden.json", base+".err"
	wantErr, err := os.ReadFile(errPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		wantErr = nil
	case err != nil:
		t.Fatal(err)
	default:
		if _, err := os.Stat(goldenPath); err == nil {
			t.Fatalf("%s has both %s and %s: keep one", in, goldenPath, errPath)
		}
	}

	res, err := p.Process(t.Context(), m)
	if wantErr != nil {
		want := strings.TrimSpace(string(wantErr))
		if err == nil {
			t.Fatalf("Process(%s) succeeded, want an error containing %q; outcome:\n%s", in, want, outcomeJSON(t, res))
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Process(%s) error mismatch\n got: %v\nwant substring: %s", in, err, want)
		}
		var se *pipeline.StepError
		if !errors.As(err, &se) || se.Pipeline != p.Name || se.MessageID != id {
			t.Errorf("Process(%s) error is not a StepError naming pipeline %s and message %s: %#v", in, p.Name, id, err)
		}
		if !adapters.IsPermanent(err) {
			t.Errorf("Process(%s) error is transient, so bad input would be retried instead of dead-lettered: %v", in, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Process(%s): %v (add %s with a substring of the error if this input is meant to fail)", in, err, errPath)
	}
	got := outcomeJSON(t, res)
	if *update {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./pipelines -update to create it, then review it)", err)
	}
	if diff := cmp.Diff(canonical(t, want), canonical(t, got)); diff != "" {
		t.Errorf("Process(%s) mismatch with %s (-want +got):\n%s", in, goldenPath, diff)
	}
}

// outcome is the golden form of a pipeline.Result.
type outcome struct {
	Writes  []write  `json:"writes"`
	Outputs []output `json:"outputs,omitempty"`
}

type write struct {
	Kind      string `json:"kind"`
	MessageID string `json:"message_id"`
	Entity    any    `json:"entity"`
}

type output struct {
	To      string            `json:"to"`
	Headers map[string]string `json:"headers"`
	// Body is the JSON value for a JSON body, else the text.
	Body any `json:"body"`
}

func outcomeJSON(t *testing.T, res pipeline.Result) []byte {
	t.Helper()
	o := outcome{Writes: []write{}}
	for _, w := range res.Writes {
		o.Writes = append(o.Writes, write{Kind: w.Kind, MessageID: w.MessageID, Entity: w.Entity})
	}
	for _, out := range res.Outputs {
		var body any = string(out.Msg.Body)
		if json.Valid(out.Msg.Body) {
			body = json.RawMessage(out.Msg.Body)
		}
		o.Outputs = append(o.Outputs, output{To: out.To.String(), Headers: out.Msg.Headers, Body: body})
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		t.Fatalf("encode outcome: %v", err)
	}
	return append(b, '\n')
}

// canonical decodes JSON so that key order and spacing do not matter.
func canonical(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode outcome: %v\n%s", err, b)
	}
	return v
}
