package ldap_test

import (
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
)

// TestTLS: ldaps and StartTLS against slapd with a certificate from the
// test's CA; without that CA the server is not trusted.
func TestTLS(t *testing.T) {
	s := ldaptest.Start(t, ldaptest.Options{TLS: true})
	s.Add(t, ldaptest.Entries(people...))
	tests := []struct {
		name, url, extra string
		wantErr          string
	}{
		{name: "ldaps with ca_file", url: s.LDAPSURL, extra: "ca_file: " + s.CAFile + "\n"},
		{name: "start_tls with ca_file", url: s.URL, extra: "start_tls: true\nca_file: " + s.CAFile + "\n"},
		{name: "ldaps, the system's CAs", url: s.LDAPSURL, wantErr: "certificate signed by unknown authority"},
		{name: "start_tls, the system's CAs", url: s.URL, extra: "start_tls: true\n", wantErr: "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := strings.Replace(string(config(s, tt.extra)), "url: "+s.URL, "url: "+tt.url, 1)
			cfg, err := adapters.DecodeConfig(ldap.NewSourceConfig, []byte(yml))
			if err != nil {
				t.Fatal(err)
			}
			src, err := ldap.NewSource(*cfg.(*ldap.SourceConfig), adapters.Env{Secrets: secrets()})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := src.Snapshot(t.Context())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Snapshot: %v", err)
			case tt.wantErr == "" && snap.Count != len(people):
				t.Errorf("snapshot of %d entries, want %d", snap.Count, len(people))
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Snapshot = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
