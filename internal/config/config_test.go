package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{name: "empty file gives defaults", yaml: ""},
		{name: "postgres store", yaml: "store: {dsn: 'postgres://u@127.0.0.1/db'}\n"},
		{name: "unknown key", yaml: "stor: {dsn: x}\n", wantErr: []string{"unknown key stor"}},
		{name: "every problem at once",
			yaml:    "environment: production\nbus: {kind: kafka}\nhttp: {max_body: lots}\nlog: {level: loud}\n",
			wantErr: []string{"store.key: is required in production", "bus.kind", `knut.yaml:3: invalid size "lots"`, "log.level", "http.tls.client_ca: is required in production"}},
		{name: "bad environment", yaml: "environment: staging\n", wantErr: []string{`environment "staging"`}},
		{name: "literal secret refused", yaml: "store: {dsn: x.db, key: hunter2}\n", wantErr: []string{"store.key: must be env:NAME or file:/path"}},
		{name: "shutdown timeout", yaml: "shutdown_timeout: 5s\n"},
		{name: "visits split at midnight", yaml: "visits: {across_midnight: split, executed_pipeline: lifecare_executed}\n"},
		{name: "visits on the start day", yaml: "visits:\n  across_midnight: start_day\n"},
		{name: "visits bad midnight rule", yaml: "log: {level: info}\nvisits:\n  across_midnight: halves\n",
			wantErr: []string{`knut.yaml:3: visits.across_midnight: "halves": want start_day or split`}},
		{name: "visits midnight rule not a word", yaml: "visits:\n  across_midnight: [split]\n",
			wantErr: []string{"knut.yaml:2: visits.across_midnight: want start_day or split"}},
		{name: "visits unknown key", yaml: "visits:\n  midnight: split\n",
			wantErr: []string{"knut.yaml:2: unknown key visits.midnight (known: across_midnight, executed_pipeline)"}},
		{name: "shutdown timeout must be positive", yaml: "shutdown_timeout: 0s\n", wantErr: []string{"shutdown_timeout: must be a positive duration"}},
		{name: "client ca needs cert", yaml: "http: {tls: {client_ca: ca.pem}}\n", wantErr: []string{"http.tls.client_ca: needs cert and key"}},
		{name: "operators", yaml: "http:\n  operators:\n    - {hsa_id: SE2120001234-OPS1}\n    - {org_no: '2120001234'}\n    - {subject: 'CN=Prometheus,O=Nacka kommun,C=SE'}\n"},
		{name: "operators any", yaml: "http: {operators: any}\n"},
		{name: "operators bad entry", yaml: "http:\n  operators:\n    - {org_no: 212000-1234}\n", wantErr: []string{"knut.yaml:3", "[0].org_no: must be a 10-digit organisationsnummer"}},
		{name: "operators unknown key", yaml: "http:\n  operators:\n    - {hsaid: SE2120001234-OPS1}\n", wantErr: []string{"[0].hsaid: unknown key (known: hsa_id, org_no, subject, provider)"}},
		{name: "operators required in production", yaml: "environment: production\nstore: {dsn: x.db, key: 'env:K'}\nhttp: {tls: {cert: c.pem, key: k.pem, client_ca: ca.pem}}\n",
			wantErr: []string{"http.operators: is required in production"}},
		{name: "operators any refused in production", yaml: "environment: production\nstore: {dsn: x.db, key: 'env:K'}\nhttp: {operators: any, tls: {cert: c.pem, key: k.pem, client_ca: ca.pem}}\n",
			wantErr: []string{"http.operators: any is refused in production"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("/etc/knut/knut.yaml", []byte(tt.yaml))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.Pipelines == "" || c.Path(c.Pipelines) != "/etc/knut/pipelines" && c.Path(c.Pipelines) != "/etc/knut/"+c.Pipelines {
					t.Errorf("Path(pipelines) = %q, want it under /etc/knut", c.Path(c.Pipelines))
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestSizes checks the one size syntax of knut.yaml (the same parser reads
// a pipeline's max_body and an adapter's max_body_size): binary units or
// bytes, never a guess at MB.
func TestSizes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10MiB", 10 << 20, true}, {"512KiB", 512 << 10, true}, {"1GiB", 1 << 30, true}, {"100", 100, true},
		{"100B", 100, true}, {"10x", 0, false}, {"-1MiB", 0, false}, {"''", 0, false}, {"0", 0, false},
		{"10MB", 0, false}, {"1 GB", 0, false}, {"[1]", 0, false},
	}
	for _, tt := range tests {
		c, err := config.Parse("/etc/knut/knut.yaml", []byte("http:\n  max_body: "+tt.in+"\n"))
		if (err == nil) != tt.ok {
			t.Errorf("max_body: %s: error %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "512KiB or 10MiB") || !strings.Contains(err.Error(), "knut.yaml:2: ") && !strings.Contains(err.Error(), "http.max_body") {
				t.Errorf("max_body: %s: error %q, want the line or key and an example of the syntax", tt.in, err)
			}
			continue
		}
		if int64(c.HTTP.MaxBody) != tt.want {
			t.Errorf("max_body: %s = %d, want %d", tt.in, c.HTTP.MaxBody, tt.want)
		}
	}
}

// TestUnknownKeys checks that a misspelt key is named with its full path,
// its line, and the keys that would have been known there.
func TestUnknownKeys(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"environment: test\nhttp:\n  listen: ':0'\n  max_body_size: 1MiB\n",
			"/etc/knut/knut.yaml:4: unknown key http.max_body_size (known: listen, disabled, tls, max_body, operators)"},
		{"stor: {dsn: x}\n",
			"/etc/knut/knut.yaml:1: unknown key stor (known: environment, store, bus, http, pipelines, disabled_pipelines, mappings, schemas, log, memory_limit, shutdown_timeout, orders, visits, locks, reconciliation, vars)"},
		{"http:\n  tls:\n    ca: x.pem\n", "/etc/knut/knut.yaml:3: unknown key http.tls.ca (known: cert, key, client_ca)"},
	}
	for _, tt := range tests {
		_, err := config.Parse("/etc/knut/knut.yaml", []byte(tt.yaml))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tt.yaml, err, tt.want)
		}
	}
}

// TestYAMLSyntaxLines parses each file under testdata/yaml-syntax, whose
// first line says on which line its mistake is, and checks the error names
// that line: the YAML library counts some syntax errors from zero.
func TestYAMLSyntaxLines(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "yaml-syntax", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want int
			if _, err := fmt.Sscanf(string(data), "# mistake on line %d", &want); err != nil {
				t.Fatalf("first line must be \"# mistake on line N\": %v", err)
			}
			_, err = config.Parse(f, data)
			if err == nil {
				t.Fatal("Parse succeeded, want a syntax error")
			}
			if prefix := fmt.Sprintf("%s:%d: ", f, want); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q, want it to start with %q", err, prefix)
			}
		})
	}
}

// TestVisitsDefault: without visits: a visit across midnight counts on its start day and
// no executed time is sent.
func TestVisitsDefault(t *testing.T) {
	c, err := config.Parse("/etc/knut/knut.yaml", []byte("environment: test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Visits.AcrossMidnight.Rule() != homecare.StartDay || c.Visits.ExecutedPipeline != "" {
		t.Errorf("visits = %+v, want start_day and no executed pipeline", c.Visits)
	}
	c, err = config.Parse("/etc/knut/knut.yaml", []byte("visits: {across_midnight: split}\n"))
	if err != nil || c.Visits.AcrossMidnight.Rule() != homecare.Split {
		t.Errorf("visits = %+v, %v; want split", c.Visits, err)
	}
}
