package hsa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/hsa"
)

const base = "provider_id: omsorg-norr\nurl: https://hsa.example/vp\nlogical_address: SE165565594230-1000\n" +
	"contracts: /usr/share/knut/riv-ta-hsa\ncert_file: /etc/knut/f.pem\nkey: env:KEY\nca_file: /etc/knut/ca.pem\n" +
	"commissions: [{unit: SE2321000016-HT01, purpose: Vård och behandling}]\n"

func TestSourceConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; none means valid
	}{
		{name: "the required keys", yaml: base},
		{name: "test ids allowed", yaml: strings.Replace(base, "SE2321000016-HT01", "TSTNMT2321000156-U001", 1) + "allow_test_ids: true\n"},
		{name: "empty", yaml: "", wantErr: []string{"provider_id: is required", "url: is required", "logical_address: is required",
			"contracts: is required", "cert_file: is required", "key: is required", "ca_file: is required", "commissions: list at least one"}},
		{name: "http url", yaml: strings.Replace(base, "https://", "http://", 1), wantErr: []string{"url: is required: an https:// URL"}},
		{name: "literal key", yaml: strings.Replace(base, "env:KEY", "-----BEGIN", 1), wantErr: []string{"key: must be env:NAME or file:/path"}},
		{name: "test unit without allow_test_ids", yaml: strings.Replace(base, "SE2321000016-HT01", "TSTNMT2321000156-U001", 1), wantErr: []string{"commissions[0].unit:"}},
		{name: "no purpose", yaml: strings.Replace(base, ", purpose: Vård och behandling", "", 1), wantErr: []string{"commissions[0].purpose: is required"}},
		{name: "negative pause", yaml: base + "pause: -1s\n", wantErr: []string{"pause: must not be negative"}},
		{name: "poll interval", yaml: base + "poll_interval: 1ms\n", wantErr: []string{"poll_interval: must be at least 10ms"}},
		{name: "directory with spaces", yaml: base + "directory: 'H S A'\n", wantErr: []string{"directory:"}},
		{name: "unknown key", yaml: base + "password: env:X\n", wantErr: []string{"password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(hsa.NewSourceConfig, []byte(tt.yaml))
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
	cfg, err := adapters.DecodeConfig(hsa.NewSourceConfig, []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*hsa.SourceConfig)
	if c.Directory != "hsa" || c.Pause != 100*time.Millisecond || c.PollInterval != time.Hour || c.Timeout != 30*time.Second || c.AllowTestIDs {
		t.Errorf("defaults = %+v", c)
	}
}
