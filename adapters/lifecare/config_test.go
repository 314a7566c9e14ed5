package lifecare_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare"
)

const sftpConn = "host: sftp.example\nuser: knut\npassword: env:PW\nhost_key: SHA256:pl5MWzJiTcOVQ7FMDMb6ZYr+KnBdNJkZd2hLqhAsxs8\n"

func TestSourceConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; none means valid
	}{
		{name: "empty is http with defaults", yaml: ""},
		{name: "http", yaml: "transport: http\npath: lifecare-orders\n"},
		{name: "file", yaml: "transport: file\ndir: /tmp/in\n"},
		{name: "sftp", yaml: "transport: sftp\ndir: out/orders\n" + sftpConn},
		{name: "unknown transport", yaml: "transport: soap\n", wantErr: []string{"transport:"}},
		{name: "unknown key", yaml: "transprot: http\n", wantErr: []string{"transprot"}},
		{name: "file without dir", yaml: "transport: file\n", wantErr: []string{"dir: is required"}},
		{name: "sftp without connection", yaml: "transport: sftp\ndir: x\n", wantErr: []string{"host: is required", "user: is required", "host_key: is required"}},
		{name: "http with drop-dir and sftp keys", yaml: "dir: /tmp/in\nhost: h\n", wantErr: []string{"dir: is not used with transport http", "host: is not used with transport http"}},
		{name: "file with path", yaml: "transport: file\ndir: /tmp/in\npath: x\n", wantErr: []string{"path: is not used with transport file"}},
		{name: "http bad path", yaml: "path: a/b\n", wantErr: []string{"path: must be one URL path segment"}},
		{name: "http bad content type", yaml: "content_types: ['application/xml; charset=utf-8']\n", wantErr: []string{"content_types[0]"}},
		{name: "literal secret", yaml: "transport: sftp\ndir: x\nhost: h\nuser: u\npassword: hunter2\nhost_key: SHA256:pl5MWzJiTcOVQ7FMDMb6ZYr+KnBdNJkZd2hLqhAsxs8\n", wantErr: []string{"password: must be env:NAME or file:/path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(lifecare.NewSourceConfig, []byte(tt.yaml))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestSourceConfigDefaults(t *testing.T) {
	cfg, err := adapters.DecodeConfig(lifecare.NewSourceConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*lifecare.SourceConfig)
	if c.Transport != lifecare.HTTP || c.SourceSystem != "lifecare" || c.Pattern != "*.xml" ||
		c.ContentType != "application/xml" || strings.Join(c.ContentTypes, ",") != "application/xml,text/xml" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSinkConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{name: "http", yaml: "url: https://lifecare.example/kvittens\n"},
		{name: "http with token and mutual TLS", yaml: "url: https://lifecare.example/kvittens\nbearer_token: env:T\nclient_cert: c.pem\nclient_key: file:k.pem\nca_file: ca.pem\n"},
		{name: "file", yaml: "transport: file\ndir: /tmp/out\n"},
		{name: "sftp", yaml: "transport: sftp\ndir: in\n" + sftpConn},
		{name: "http without url", yaml: "", wantErr: []string{"url: is required"}},
		{name: "http url with credentials", yaml: "url: https://u:p@lifecare.example/\n", wantErr: []string{"url: must not contain credentials"}},
		{name: "cert without key", yaml: "url: https://x.example/\nclient_cert: c.pem\n", wantErr: []string{"client_cert: client_cert and client_key go together"}},
		{name: "key without cert", yaml: "url: https://x.example/\nclient_key: file:k.pem\n", wantErr: []string{"client_key"}},
		{name: "literal key", yaml: "url: https://x.example/\nclient_cert: c.pem\nclient_key: '-----BEGIN'\n", wantErr: []string{"client_key: must be env:NAME or file:/path"}},
		{name: "literal token", yaml: "url: https://x.example/\nbearer_token: abc\n", wantErr: []string{"bearer_token: must be env:NAME or file:/path"}},
		{name: "file with http keys", yaml: "transport: file\ndir: /tmp/out\nurl: https://x.example/\nclient_cert: c.pem\n", wantErr: []string{"url: is not used with transport file", "client_cert: is not used with transport file"}},
		{name: "sftp with url", yaml: "transport: sftp\ndir: in\nurl: https://x.example/\n" + sftpConn, wantErr: []string{"url: is not used with transport sftp"}},
		{name: "bad filename template", yaml: "transport: file\ndir: /tmp/out\nfilename: '{{.ID'\n", wantErr: []string{"filename:"}},
		{name: "zero timeout", yaml: "url: https://x.example/\ntimeout: 0s\n", wantErr: []string{"timeout: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(lifecare.NewSinkConfig, []byte(tt.yaml))
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
