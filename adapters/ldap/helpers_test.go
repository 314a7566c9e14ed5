package ldap_test

import (
	"reflect"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
)

const passwordRef = adapters.Secret("env:KNUT_LDAP_TEST_PASSWORD")

// config points the source at s; extra YAML lines are appended, replacing
// the defaults' keys they name.
func config(s *ldaptest.Server, extra string) []byte {
	lines := []string{"directory: ldap-test", "url: " + s.URL, "bind_dn: " + ldaptest.ServiceDN,
		"password: " + string(passwordRef), "base_dn: " + ldaptest.People, "timeout: 5s"}
	var out []string
	for _, l := range lines {
		key, _, _ := strings.Cut(l, ":")
		if !strings.Contains("\n"+extra, "\n"+key+":") {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n" + extra)
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

func goldapDel(dn string) *goldap.DelRequest { return goldap.NewDelRequest(dn, nil) }

func reflectLen(v any) int { return reflect.ValueOf(v).Len() }
