package ldap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
)

// vendor is a slapd whose people the kit's messages become: Emit adds an
// entry uid=<message id> whose description is the message body, byte for
// byte (UTF-8, CRLF and all), and Unpack reads the descriptions back out of
// a delivered snapshot.
type vendor struct {
	t   testing.TB
	srv *ldaptest.Server
}

func (v *vendor) Secrets() adapters.MapSecrets { return secrets() }
func (v *vendor) Down()                        { v.srv.Down() }
func (v *vendor) Up()                          { v.srv.Up() }

// Acked and Pending: LDAP has no acknowledgement (Features.Snapshot).
func (v *vendor) Acked() int   { return 0 }
func (v *vendor) Pending() int { return 0 }

func (v *vendor) Emit(_ context.Context, m knutpunkt.Message) error {
	c, err := goldap.DialURL(v.srv.URL)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Bind(ldaptest.AdminDN, ldaptest.AdminPassword); err != nil {
		return err
	}
	add := goldap.NewAddRequest("uid="+m.ID+","+ldaptest.People, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{m.ID})
	add.Attribute("cn", []string{m.ID})
	add.Attribute("sn", []string{m.ID})
	add.Attribute("description", []string{string(m.Body)})
	return c.Add(add)
}

func (v *vendor) Unpack(m knutpunkt.Message) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(m.Body))
	for sc.Scan() {
		var e struct {
			DN         string              `json:"dn"`
			Attributes map[string][]string `json:"attributes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, err
		}
		for _, d := range e.Attributes["description"] {
			out = append(out, []byte(d))
		}
	}
	return out, sc.Err()
}

func TestSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: ldap.SourceDef,
		// A directory is a state, not a queue: one snapshot per poll, no
		// acknowledgement, the snapshot's own headers. Not Ordered: a
		// snapshot carries every entry at once, sorted by DN.
		Features: adapterstest.Features{Snapshot: true, Check: true, LazyConnect: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			v := &vendor{t: t, srv: ldaptest.Start(t, ldaptest.Options{})}
			return config(v.srv, "attributes: [description]\npoll_interval: 20ms\n"), v
		},
	})
}
