package ldap_test

import (
	"fmt"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
)

const passwordRef = adapters.Secret("env:KNUT_LDAP_TEST_PASSWORD")

// config points the source at s; extra YAML lines are appended.
func config(s *ldaptest.Server, extra string) []byte {
	return fmt.Appendf(nil, "directory: ldap-test\nurl: %s\nbind_dn: %s\npassword: %s\nbase_dn: %s\ntimeout: 5s\n%s",
		s.URL, ldaptest.ServiceDN, passwordRef, ldaptest.People, extra)
}

func secrets() adapters.MapSecrets {
	return adapters.MapSecrets{passwordRef: ldaptest.ServicePassword, "env:WRONG": "not-the-password-4e1f"}
}

func newSource(t testing.TB, s *ldaptest.Server, extra string) *ldap.Source {
	t.Helper()
	cfg, err := adapters.DecodeConfig(ldap.NewSourceConfig, config(s, extra))
	if err != nil {
		t.Fatal(err)
	}
	src, err := ldap.NewSource(*cfg.(*ldap.SourceConfig), adapters.Env{Secrets: secrets()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}
