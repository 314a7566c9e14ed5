package provider_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/provider"
)

const webhookBase = "name: omsorg_nord\nwebhook:\n  url: https://orders.omsorg-nord.example/v1\n  secret: env:S\n"

const sftpBase = "name: omsorg_nord\ntransport: sftp\nsftp:\n  host: sftp.omsorg-nord.example\n  user: knut\n  password: env:P\n" +
	"  host_key: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n  dir: in\n"

func TestSinkConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings, all required; none means valid
	}{
		{"sample", string(provider.SinkDef.Sample), nil},
		{"webhook minimal", webhookBase, nil},
		{"sftp minimal", sftpBase, nil},
		{"http on loopback", "name: p\nwebhook: {url: 'http://127.0.0.1:8080/x', secret: env:S}\n", nil},
		{"empty", "", []string{"name: is required", "webhook.url: is required", "webhook.secret: is required"}},
		{"bad name", strings.Replace(webhookBase, "omsorg_nord", "omsorg nord", 1), []string{"name: \"omsorg nord\""}},
		{"unknown transport", webhookBase + "transport: ftp\n", []string{"transport: must be"}},
		{"source transport", webhookBase + "transport: callback\n", []string{`transport: must be "webhook" or "sftp" for a sink`}},
		{"http elsewhere", "name: p\nwebhook: {url: 'http://orders.example/x', secret: env:S}\n", []string{"webhook.url: must be https"}},
		{"credentials in url", "name: p\nwebhook: {url: 'https://u:pw@orders.example/x', secret: env:S}\n", []string{"webhook.url: must not contain credentials"}},
		{"literal secret", "name: p\nwebhook: {url: 'https://orders.example/x', secret: hemligt}\n", []string{"webhook.secret: must be env:NAME or file:/path"}},
		{"zero timeout", webhookBase + "  timeout: 0s\n", []string{"webhook.timeout: must be positive"}},
		{"upper-case header", webhookBase + "  event_header: Event-Type\n", []string{"webhook.event_header:"}},
		{"cert without key", webhookBase + "  tls: {client_cert: file:/c.pem}\n", []string{"webhook.tls.client_cert: set client_cert and client_key together"}},
		{"literal ca", webhookBase + "  tls: {ca: '-----BEGIN'}\n", []string{"webhook.tls.ca:"}},
		{"unknown webhook key", webhookBase + "  retries: 3\n", []string{"retries"}},
		{"sftp block with webhook", webhookBase + "sftp: {host: h}\n", []string{"sftp: is set, but transport is webhook"}},
		{"webhook block with sftp", sftpBase + "webhook: {url: 'https://x.example'}\n", []string{"webhook: is set, but transport is sftp"}},
		{"sftp missing keys", "name: p\ntransport: sftp\n", []string{"sftp.host: is required", "sftp.user: is required", "sftp.host_key: is required", "sftp.dir: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(provider.NewSinkConfig, []byte(tt.yaml))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestSourceConfig(t *testing.T) {
	base := "name: omsorg_nord\ncallback:\n  secret: env:S\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"sample", string(provider.SourceDef.Sample), nil},
		{"minimal", base, nil},
		{"empty", "", []string{"name: is required", "callback.secret: is required"}},
		{"sink transport", base + "transport: webhook\n", []string{`transport: must be "callback" for a source`}},
		{"path with slash", base + "  path: a/b\n", []string{"callback.path: must be one URL path segment"}},
		{"no skew", base + "  max_clock_skew: 0s\n", []string{"callback.max_clock_skew: must be 1s-1h"}},
		{"skew of a day", base + "  max_clock_skew: 24h\n", []string{"callback.max_clock_skew: must be 1s-1h"}},
		{"bad size", base + "  max_body_size: 1 MB-ish\n", []string{"invalid size"}},
		{"short retry_after", base + "  retry_after: 10ms\n", []string{"callback.retry_after: must be at least 1s"}},
		{"webhook key", base + "webhook: {}\n", []string{"webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(provider.NewSourceConfig, []byte(tt.yaml))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("DecodeConfig = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("DecodeConfig = nil, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("DecodeConfig error %q does not contain %q", err, w)
		}
	}
}
