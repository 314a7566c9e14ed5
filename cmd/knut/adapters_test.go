package main

import (
	"strings"
	"testing"
)

func TestAdapters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		golden string // stdout compared with testdata/<golden>
		errHas []string
	}{
		{name: "list", args: []string{"adapters", "list"}, golden: "adapters_list.golden"},
		{name: "sample http", args: []string{"adapters", "sample", "http"}, golden: "adapters_sample_http.golden"},
		{name: "sample file", args: []string{"adapters", "sample", "file"}, golden: "adapters_sample_file.golden"},
		{
			name:   "sample unknown",
			args:   []string{"adapters", "sample", "kafka"},
			errHas: []string{`unknown adapter "kafka"`, "registered:", "file", "http", "memory", "sftp"},
		},
		{name: "sample without name", args: []string{"adapters", "sample"}, errHas: []string{"accepts 1 arg(s), received 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := knut(t, tt.args...)
			if tt.errHas != nil {
				if err == nil {
					t.Fatalf("knut %s succeeded, want an error; output:\n%s", strings.Join(tt.args, " "), out)
				}
				for _, want := range tt.errHas {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("knut %s: error %q does not mention %q", strings.Join(tt.args, " "), err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("knut %s: %v", strings.Join(tt.args, " "), err)
			}
			golden(t, tt.golden, out)
		})
	}
}

// TestAdaptersListDirections checks the rows themselves, so that a golden
// file regenerated with -update cannot quietly drop an adapter.
func TestAdaptersListDirections(t *testing.T) {
	t.Parallel()
	out, _, err := knut(t, "adapters", "list")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		got[f[0]] = f[1]
	}
	for _, name := range []string{"memory", "http", "file", "sftp", "lifecare", "provider"} {
		if got[name] != "source+sink" {
			t.Errorf("adapter %s: direction %q, want source+sink; output:\n%s", name, got[name], out)
		}
	}
}
