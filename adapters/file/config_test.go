package file_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/file"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   func() adapters.Config
		yaml     string
		wantErrs []string
	}{
		{"source minimal", file.NewSourceConfig, "dir: /in", nil},
		{"source everything wrong", file.NewSourceConfig,
			"pattern: '['\nignore: ['[']\npoll_interval: 0s\nsettle_time: -1s\ndone_dir: ''\nfailed_dir: ''",
			[]string{"dir: is required", "pattern: invalid glob", "ignore[0]: invalid glob", "poll_interval: must be positive", "settle_time: must not be negative", "done_dir: is required", "failed_dir: is required"}},
		{"source delete needs no done_dir", file.NewSourceConfig, "dir: /in\nafter_delivery: delete\ndone_dir: ''", nil},
		{"source bad disposal", file.NewSourceConfig, "dir: /in\nafter_delivery: archive", []string{`after_delivery: must be "move" or "delete"`}},
		{"sink minimal", file.NewSinkConfig, "dir: /out", nil},
		{"sink bad template", file.NewSinkConfig, "filename: '{{.ID'", []string{"dir: is required", "filename: template"}},
		{"sink empty template", file.NewSinkConfig, "dir: /out\nfilename: ''", []string{"filename: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := adapters.DecodeConfig(tt.config, []byte(tt.yaml))
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Errorf("error = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("error = nil, want %q", tt.wantErrs)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
