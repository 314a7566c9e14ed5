package sftp_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	const base = "host: h\nuser: u\nhost_key: SHA256:pl5MWzJiTcOVQ7FMDMb6ZYr+KnBdNJkZd2hLqhAsxs8\ndir: d\n"
	tests := []struct {
		name     string
		config   func() adapters.Config
		yaml     string
		wantErrs []string
	}{
		{"source password", sftp.NewSourceConfig, base + "password: env:P", nil},
		{"sink private key", sftp.NewSinkConfig, base + "private_key: file:/k", nil},
		{"nothing set", sftp.NewSinkConfig, "",
			[]string{"host: is required", "user: is required", "password: is required unless private_key", "host_key: is required", "dir: is required"}},
		{"both auth", sftp.NewSinkConfig, base + "password: env:P\nprivate_key: file:/k", []string{"password: set either password or private_key"}},
		{"literal password", sftp.NewSinkConfig, base + "password: hunter2", []string{"password: must be env:NAME or file:/path"}},
		{"bad port and timeout", sftp.NewSourceConfig, base + "password: env:P\nport: 0\ntimeout: 0s", []string{"port: must be 1-65535", "timeout: must be positive"}},
		{"bad host key", sftp.NewSinkConfig, "host: h\nuser: u\npassword: env:P\ndir: d\nhost_key: SHA256:short", []string{"host_key: fingerprint"}},
		{"no insecure switch", sftp.NewSinkConfig, base + "password: env:P\ninsecure_ignore_host_key: true", []string{"unknown key insecure_ignore_host_key (known: host, port,"}},
		{"source drop dir problems", sftp.NewSourceConfig, base + "password: env:P\npoll_interval: 0s", []string{"poll_interval: must be positive"}},
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
