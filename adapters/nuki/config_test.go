package nuki_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/nuki"
)

func TestConfig(t *testing.T) {
	const sink = "token: env:T\nuser_email_domain: nyckel.kommun.example\n"
	const source = "token: env:T\nread: events\n"
	tests := []struct {
		name    string
		cfg     func() adapters.Config
		yml     string
		wantErr []string // substrings; none: valid
	}{
		{"sink defaults", nuki.NewSinkConfig, sink, nil},
		{"sink token literal", nuki.NewSinkConfig, "token: abc123\nuser_email_domain: k.example\n",
			[]string{"token: must be env:NAME or file:/path"}},
		{"sink no email domain", nuki.NewSinkConfig, "token: env:T\n", []string{"user_email_domain: is required"}},
		{"sink email domain with @", nuki.NewSinkConfig, "token: env:T\nuser_email_domain: '@k.example'\n", []string{"user_email_domain"}},
		{"sink base_url", nuki.NewSinkConfig, sink + "base_url: api.nuki.io\n", []string{"base_url: must be an http(s):// URL"}},
		{"sink create_poll above create_timeout", nuki.NewSinkConfig, sink + "create_timeout: 1s\ncreate_poll: 2s\n", []string{"create_poll"}},
		{"sink zero timeouts", nuki.NewSinkConfig, sink + "timeout: 0s\ncreate_timeout: 0s\n", []string{"timeout: must be positive", "create_timeout: must be positive"}},
		{"sink source key", nuki.NewSinkConfig, sink + "read: events\n", []string{"unknown key read"}},
		{"source events", nuki.NewSourceConfig, source, nil},
		{"source grants of two locks", nuki.NewSourceConfig, "token: env:T\nread: grants\nlocks: [1001, 1002]\n", nil},
		{"source read missing", nuki.NewSourceConfig, "token: env:T\n", []string{"read: is required: events or grants"}},
		{"source read unknown", nuki.NewSourceConfig, "token: env:T\nread: locks\n", []string{`read: is required: events or grants, got "locks"`}},
		{"source lock twice", nuki.NewSourceConfig, source + "locks: [5, 5]\n", []string{"locks[1]"}},
		{"source lock not positive", nuki.NewSourceConfig, source + "locks: [0]\n", []string{"locks[0]"}},
		{"source poll too fast", nuki.NewSourceConfig, source + "poll_interval: 1ms\n", []string{"poll_interval"}},
		{"source since and overlap", nuki.NewSourceConfig, source + "since: 0s\noverlap: -1s\n", []string{"since: must be positive", "overlap: must not be negative"}},
		{"source system", nuki.NewSourceConfig, source + "source_system: Nuki\n", []string{"source_system"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(tc.cfg, []byte(tc.yml))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("DecodeConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeConfig = nil, want errors %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("DecodeConfig = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
