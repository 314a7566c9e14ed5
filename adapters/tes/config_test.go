package tes_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/tes"
)

func TestSourceConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; none means valid
	}{
		{name: "empty is the push API with defaults", yaml: ""},
		{name: "push", yaml: "transport: http\npath: tes_sync\nmax_visits: 200\n"},
		{name: "nightly CSV in a directory", yaml: "transport: file\ndir: /tmp/in\npattern: tes-export-*.csv\n"},
		{name: "nightly JSON lines over SFTP", yaml: "transport: sftp\ndir: export\npattern: '*.ndjson'\nhost: h\nuser: u\npassword: env:PW\nhost_key: SHA256:pl5MWzJiTcOVQ7FMDMb6ZYr+KnBdNJkZd2hLqhAsxs8\n"},
		{name: "a pattern that names no format", yaml: "transport: file\ndir: /tmp/in\npattern: '*'\n", wantErr: []string{"pattern: must end in .csv, .json, .jsonl or .ndjson"}},
		{name: "another source system", yaml: "source_system: phoniro\n", wantErr: []string{`source_system: is always "tes"`}},
		{name: "max_visits out of range", yaml: "max_visits: 0\n", wantErr: []string{"max_visits: must be 1-100000"}},
		{name: "push with a drop directory", yaml: "dir: /tmp/in\n", wantErr: []string{"dir: is not used with transport http"}},
		{name: "unknown key", yaml: "max_visit: 3\n", wantErr: []string{"max_visit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(tes.NewSourceConfig, []byte(tt.yaml))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSourceConfigDefaults(t *testing.T) {
	cfg, err := adapters.DecodeConfig(tes.NewSourceConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*tes.SourceConfig)
	if c.Transport != "http" || c.SourceSystem != "tes" || c.Pattern != "*.csv" || c.ContentType != "text/csv" ||
		strings.Join(c.ContentTypes, ",") != "application/json" || c.MaxVisits != 1000 {
		t.Errorf("defaults = %+v", c)
	}
}
