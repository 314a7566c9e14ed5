package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/memory"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// resources resolves against a registry holding only the memory adapter
// and the repository's real schemas.
func resources(t testing.TB) pipeline.Resources {
	t.Helper()
	reg := &adapters.Registry{}
	memory.Register(reg, memory.NewBroker())
	return pipeline.Resources{
		Registry: reg,
		Schema: func(name string) (pipeline.Validator, error) {
			return schema.Load("../../schemas/" + name)
		},
		Mapping: func(name string) (pipeline.Mapper, error) {
			if name == "upper" {
				return upperMapper{}, nil
			}
			return nil, errors.New("no such mapping")
		},
		Entities: map[string]pipeline.EntityDecoder{
			"note": func(b []byte) (any, error) {
				if len(b) == 0 {
					return nil, errors.New("note: empty")
				}
				return string(b), nil
			},
		},
	}
}

// upperMapper is a real (if tiny) mapping: it upper-cases the body. The
// mapping engine has tests of its own; here it only has to transform.
type upperMapper struct{}

func (upperMapper) Apply(in []byte) ([]byte, error) {
	if strings.Contains(string(in), "fail") {
		return nil, errors.New("field x: cannot map")
	}
	return []byte(strings.ToUpper(string(in))), nil
}
func (upperMapper) OutputContentType() string { return "text/plain" }

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown top-level key and missing from",
			yaml: "steps: []\nretries: 3\n",
			want: []string{"p.yaml:1: from: is required", "p.yaml:2: retries: unknown key"},
		},
		{
			name: "unknown adapter lists the registered ones",
			yaml: "from:\n  kafka: {}\n",
			want: []string{`p.yaml:2: from.kafka: unknown source adapter "kafka" (registered: memory; missing import in adapters/all?)`},
		},
		{
			name: "adapter config problems carry the pipeline file's line",
			yaml: "from:\n  memory:\n    topic: a.b\n    colour: red\n",
			want: []string{"p.yaml:4: from.memory: unknown key colour (known: topic, redelivery_delay)"},
		},
		{
			name: "every step problem at once",
			yaml: "from: {topic: in.x}\nsteps:\n  - validate: {schema: nope/missing.xsd}\n  - map: nope\n  - store: order\n  - transform: x\n  - split: words\n",
			want: []string{
				"p.yaml:3: steps[0].validate.schema:",
				"p.yaml:4: steps[1].map: no such mapping",
				`p.yaml:5: steps[2].store: unknown entity kind "order" (want one of: note)`,
				"p.yaml:6: steps[3].transform: unknown step",
				"p.yaml:7: steps[4].split: want `lines` or {path: $.field}",
			},
		},
		{
			name: "bad route expression and retry",
			yaml: "from: {topic: in.x}\nsteps:\n  - route:\n      - when: 'body.x ==='\n        to: {topic: out.y}\nretry: {attempts: 0, backoff: soon}\n",
			want: []string{"p.yaml:4: steps[0].route[0].when:", "p.yaml:6: retry.attempts: must be a whole number from 1 to 100", "p.yaml:6: retry.backoff: must be a positive duration"},
		},
		{
			name: "syntax error",
			yaml: "from: {topic: in.x\n",
			want: []string{"p.yaml:"},
		},
		{
			name: "bad topic name",
			yaml: "from: {topic: In-X}\n",
			want: []string{`p.yaml:1: from.topic: topic "In-X" must be dot-separated snake_case words`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pipeline.Parse("p.yaml", []byte(tt.yaml), resources(t))
			var ps pipeline.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse error = %v, want Problems", err)
			}
			lines := strings.Split(ps.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tt.want), ps.Error())
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParseResolvesPlan(t *testing.T) {
	src := `description: notes
from:
  memory: {topic: in.notes}
steps:
  - map: upper
  - route:
      - when: 'headers["kind"] == "urgent"'
        to: {topic: notes.urgent}
  - store: note
to:
  memory: {topic: out.notes}
retry: {attempts: 3, backoff: 10ms, max_backoff: 1s}
dead_letter: {topic: dead.notes}
order_by: {header: client, partitions: 3}
max_body: 1KiB
`
	p, err := pipeline.Parse("pipelines/notes.yaml", []byte(src), resources(t))
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Name, Description, Dead string
		Steps                   []string
		Retry                   pipeline.Retry
		OrderBy                 pipeline.OrderBy
		MaxBody                 int64
		Sinks                   []string
		Topics                  []string
	}{Name: p.Name, Description: p.Description, Dead: p.DeadLetterTopic, Retry: p.Retry, OrderBy: *p.OrderBy, MaxBody: p.MaxBody}
	for _, s := range p.Steps {
		got.Steps = append(got.Steps, s.Name())
	}
	for _, e := range p.Sinks() {
		got.Sinks = append(got.Sinks, e.Path+" "+e.String())
	}
	got.Topics = p.Topics()
	want := got
	want.Name, want.Description, want.Dead = "notes", "notes", "dead.notes"
	want.Steps = []string{"steps[0].map", "steps[1].route", "steps[2].store"}
	want.OrderBy = pipeline.OrderBy{Header: "client", Partitions: 3}
	want.MaxBody = 1024
	want.Sinks = []string{"to adapter memory"}
	want.Topics = []string{"notes.urgent", "dead.notes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan mismatch (-want +got):\n%s", diff)
	}
	if p.Retry.Attempts != 3 || p.Retry.Backoff.Milliseconds() != 10 {
		t.Errorf("retry = %+v", p.Retry)
	}
}

func TestProcess(t *testing.T) {
	src := `from: {topic: in.notes}
steps:
  - validate: {schema: canonical/visit.schema.json}
  - split: {path: $.staff}
  - route:
      - when: 'body.role == "second"'
        to: {topic: notes.second}
  - store: note
to: {topic: notes.all}
`
	p, err := pipeline.Parse("visits_staff.yaml", []byte(src), resources(t))
	if err != nil {
		t.Fatal(err)
	}
	visit := `{"source_system":"tes","external_id":"V1","client":{"person_id":"194001042383","person_id_type":"personnummer"},
	"start_at":"2026-11-23T07:00:00Z","end_at":"2026-11-23T07:30:00Z","local_date":"2026-11-23","duration_minutes":30,
	"start_method":"tag","end_method":"tag","status":"completed",
	"staff":[{"hsa_id":"TSTNMT2321000156-1024","role":"primary"},{"hsa_id":"TSTNMT2321000156-1025","role":"second"}]}`
	res, err := p.Process(context.Background(), knutpunkt.Message{ID: "m1", Headers: map[string]string{}, Body: []byte(visit)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range res.Outputs {
		got = append(got, o.Msg.ID+" → "+o.To.Topic+" (corr "+o.Msg.Headers[knutpunkt.HeaderCorrelationID]+")")
	}
	want := []string{"m1-1 → notes.all (corr m1)", "m1-2 → notes.second (corr m1)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if len(res.Writes) != 2 || res.Writes[1].MessageID != "m1-2" || res.Writes[0].Kind != "note" {
		t.Errorf("writes = %+v, want one note per part", res.Writes)
	}

	t.Run("invalid input is a permanent error naming pipeline, step and field", func(t *testing.T) {
		_, err := p.Process(context.Background(), knutpunkt.Message{ID: "m2", Headers: map[string]string{}, Body: []byte(`{"external_id": 7}`)})
		var se *pipeline.StepError
		if !errors.As(err, &se) || se.Step != "steps[0].validate" || !adapters.IsPermanent(err) {
			t.Fatalf("err = %v, want a permanent StepError from steps[0].validate", err)
		}
		for _, w := range []string{"pipeline visits_staff", "message m2", "/external_id"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %q", err, w)
			}
		}
	})
	t.Run("oversize body", func(t *testing.T) {
		p.MaxBody = 10
		defer func() { p.MaxBody = pipeline.DefaultMaxBody }()
		_, err := p.Process(context.Background(), knutpunkt.Message{ID: "m3", Headers: map[string]string{}, Body: []byte(visit)})
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "over the limit of 10") {
			t.Fatalf("err = %v, want permanent over-the-limit error", err)
		}
	})
}

func TestProcessMapAndLines(t *testing.T) {
	src := "from: {topic: in.notes}\nsteps:\n  - split: lines\n  - map: upper\n  - store: note\n"
	p, err := pipeline.Parse("notes.yaml", []byte(src), resources(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Process(context.Background(), knutpunkt.Message{ID: "m", Headers: map[string]string{}, Body: []byte("a\n\nb\n")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Writes {
		got = append(got, w.Entity.(string))
	}
	if diff := cmp.Diff([]string{"A", "B"}, got); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if len(res.Outputs) != 0 {
		t.Errorf("a store-only pipeline produced outputs: %+v", res.Outputs)
	}
	_, err = p.Process(context.Background(), knutpunkt.Message{ID: "m", Headers: map[string]string{}, Body: []byte("ok\nfail\n")})
	if err == nil || !strings.Contains(err.Error(), "steps[1].map: message m: part m-2: field x: cannot map") {
		t.Errorf("err = %v, want the failing part named", err)
	}
}

func TestParseVars(t *testing.T) {
	res := resources(t)
	res.Vars = map[string]string{"orders_topic": "orders.in"}
	p, err := pipeline.Parse("v.yaml", []byte("from: {topic: ${orders_topic}}\nto: {topic: ${nope}}\n"), res)
	var ps pipeline.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), "v.yaml:2: ${nope}: undefined var") {
		t.Fatalf("Parse = %v, %v; want one problem for ${nope} on line 2", p, err)
	}
	p, err = pipeline.Parse("v.yaml", []byte("from: {topic: ${orders_topic}}\n"), res)
	if err != nil || p.From.Topic != "orders.in" {
		t.Fatalf("Parse = %+v, %v; want from topic orders.in", p, err)
	}
}

func TestRouteReject(t *testing.T) {
	src := `from: {topic: in.orders}
steps:
  - route:
      - when: 'body.provider == "a"'
        to: {topic: orders.a}
      - when: 'true'
        reject: 'unknown provider'
`
	p, err := pipeline.Parse("orders.yaml", []byte(src), resources(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Process(context.Background(), knutpunkt.Message{ID: "m", Headers: map[string]string{}, Body: []byte(`{"provider":"a"}`)})
	if err != nil || len(res.Outputs) != 1 || res.Outputs[0].To.Topic != "orders.a" {
		t.Fatalf("Process = %+v, %v; want routed to orders.a", res, err)
	}
	_, err = p.Process(context.Background(), knutpunkt.Message{ID: "m", Headers: map[string]string{}, Body: []byte(`{"provider":"x"}`)})
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "steps[0].route: message m: routes[1]: unknown provider") {
		t.Fatalf("err = %v, want a permanent rejection naming the route", err)
	}
	_, err = pipeline.Parse("orders.yaml", []byte("from: {topic: in.orders}\nsteps:\n  - route:\n      - when: 'true'\n"), resources(t))
	if err == nil || !strings.Contains(err.Error(), "needs exactly one of to and reject") {
		t.Errorf("a route with neither to nor reject: err = %v", err)
	}
}

// TestBodyDuplicateKeys: route and split decode JSON with encoding/json,
// which keeps a repeated key's last value; they refuse it instead, naming
// the key's pointer and not its value.
func TestBodyDuplicateKeys(t *testing.T) {
	tests := []struct {
		name, steps, body, want string
	}{
		{"route", "  - route:\n      - when: 'body.provider == \"a\"'\n        to: {topic: orders.a}\n",
			`{"provider":"x","provider":"a"}`, `steps[0].route: message m: body: /provider: duplicate key`},
		{"route, escaped twin", "  - route:\n      - when: 'body.provider == \"a\"'\n        to: {topic: orders.a}\n",
			`{"provider":"x","\u0070rovider":"a"}`, `steps[0].route: message m: body: /provider: duplicate key`},
		{"split", "  - split: {path: $.staff}\n",
			`{"staff":[{"role":"a"},{"role":"secret","role":"b"}]}`, `steps[0].split: message m: body: /staff/1/role: duplicate key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pipeline.Parse("p.yaml", []byte("from: {topic: in.x}\nsteps:\n"+tt.steps+"to: {topic: out}\n"), resources(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Process(context.Background(), knutpunkt.Message{ID: "m", Headers: map[string]string{"content-type": "application/json"}, Body: []byte(tt.body)})
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Process = %v, want a permanent error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q quotes a value", err)
			}
		})
	}
}
