package ldap_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
)

const base = "directory: ldap-omsorg-norr\nurl: ldaps://ldap.example:636\nbind_dn: cn=knut,dc=example\npassword: env:PW\nbase_dn: ou=people,dc=example\n"

func TestSourceConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; none means valid
	}{
		{name: "the required keys", yaml: base},
		{name: "start_tls with a CA", yaml: strings.Replace(base, "ldaps://ldap.example:636", "ldap://ldap.example", 1) + "start_tls: true\nca_file: /etc/ca.pem\n"},
		{name: "another end attribute", yaml: base + "employment_end_attribute: shadowExpire\n"},
		{name: "empty", yaml: "", wantErr: []string{"directory: is required", "url: is required", "bind_dn: is required", "password: is required", "base_dn: is required"}},
		{name: "http url", yaml: strings.Replace(base, "ldaps://ldap.example:636", "https://ldap.example", 1), wantErr: []string{"url: must be ldap://"}},
		{name: "start_tls on ldaps", yaml: base + "start_tls: true\n", wantErr: []string{"start_tls: is for ldap://"}},
		{name: "literal password", yaml: strings.Replace(base, "env:PW", "hunter2", 1), wantErr: []string{"password: must be env:NAME or file:/path"}},
		{name: "bad base DN", yaml: strings.Replace(base, "ou=people,dc=example", "people", 1), wantErr: []string{"base_dn: is not a DN"}},
		{name: "bad filter", yaml: base + "filter: objectClass=person\n", wantErr: []string{"filter:"}},
		{name: "attribute with an option", yaml: base + "attributes: [userCertificate;binary]\n", wantErr: []string{"is not an attribute name"}},
		{name: "attribute twice", yaml: base + "attributes: [sn, SN]\n", wantErr: []string{`"SN" is listed twice`}},
		{name: "no attributes", yaml: base + "attributes: []\n", wantErr: []string{"attributes: list at least one"}},
		{name: "page size", yaml: base + "page_size: 0\n", wantErr: []string{"page_size: must be 1-100000"}},
		{name: "poll interval", yaml: base + "poll_interval: 1ms\n", wantErr: []string{"poll_interval: must be at least 10ms"}},
		{name: "directory with spaces", yaml: strings.Replace(base, "ldap-omsorg-norr", "'Omsorg Norr'", 1), wantErr: []string{"directory: is required"}},
		{name: "unknown key", yaml: base + "scope: one\n", wantErr: []string{"scope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapters.DecodeConfig(ldap.NewSourceConfig, []byte(tt.yaml))
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
	cfg, err := adapters.DecodeConfig(ldap.NewSourceConfig, []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*ldap.SourceConfig)
	if c.Filter != "(objectClass=person)" || c.PageSize != 500 || c.PollInterval != 15*time.Minute ||
		c.Timeout != 30*time.Second || c.EmploymentEndAttribute != "hsaEndDate" || !slices.Equal(c.Attributes, ldap.DefaultAttributes) {
		t.Errorf("defaults = %+v", c)
	}
}
