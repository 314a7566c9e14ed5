package http_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   func() adapters.Config
		yaml     string
		wantErrs []string
	}{
		{"source defaults", kphttp.NewSourceConfig, "", nil},
		{"source size units", kphttp.NewSourceConfig, "max_body_size: 512KiB", nil},
		{"source bad size", kphttp.NewSourceConfig, "max_body_size: 10 megs", []string{"invalid size"}},
		{"source everything wrong", kphttp.NewSourceConfig, "path: a/b\nmax_body_size: 0\ncontent_types: ['text/xml; charset=utf-8']\nretry_after: 0s",
			[]string{"path: must be one URL path segment", "max_body_size: must be positive", "content_types[0]", "retry_after: must be at least 1s"}},
		{"sink minimal", kphttp.NewSinkConfig, "url: https://x.example/a", nil},
		{"sink basic auth", kphttp.NewSinkConfig, "url: https://x.example/a\nusername: u\npassword: env:P", nil},
		{"sink nothing", kphttp.NewSinkConfig, "", []string{"url: is required"}},
		{"sink everything wrong", kphttp.NewSinkConfig,
			"url: ftp://x\nmethod: GET\nbearer_token: literal\npassword: env:P\ntimeout: 0s\nhealth_url: /health",
			[]string{"url: must be an absolute http or https URL", "method: must be POST, PUT or PATCH", "bearer_token: must be env:NAME", "bearer_token: set either", "username: is required with password", "timeout: must be positive", "health_url:"}},
		{"sink credentials in url", kphttp.NewSinkConfig, "url: https://u:hunter2@x.example/", []string{"url: must not contain credentials"}},
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
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
			}
		})
	}
}
