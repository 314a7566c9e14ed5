package config_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/config"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{name: "empty file gives defaults", yaml: ""},
		{name: "postgres store", yaml: "store: {dsn: 'postgres://u@127.0.0.1/db'}\n"},
		{name: "unknown key", yaml: "stor: {dsn: x}\n", wantErr: []string{"field stor not found"}},
		{name: "every problem at once",
			yaml:    "environment: production\nbus: {kind: kafka}\nhttp: {max_body: lots}\nlog: {level: loud}\n",
			wantErr: []string{"store.key: is required in production", "bus.kind", "http.max_body", "log.level", "http.tls.client_ca: is required in production"}},
		{name: "bad environment", yaml: "environment: staging\n", wantErr: []string{`environment "staging"`}},
		{name: "literal secret refused", yaml: "store: {dsn: x.db, key: hunter2}\n", wantErr: []string{"store.key: must be env:NAME or file:/path"}},
		{name: "client ca needs cert", yaml: "http: {tls: {client_ca: ca.pem}}\n", wantErr: []string{"http.tls.client_ca: needs cert and key"}},
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

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10MiB", 10 << 20, true}, {"512KiB", 512 << 10, true}, {"1GiB", 1 << 30, true}, {"100", 100, true},
		{"100B", 100, true}, {"10x", 0, false}, {"-1MiB", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := config.ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
