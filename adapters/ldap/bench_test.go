package ldap_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot/snapshottest"

	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
)

// BenchmarkSync20000 is a full sync of a directory of 20,000 persons from
// slapd (loaded with ldapadd in the setup): bind, the paged search (500 a
// page), the sorted JSON lines and their digest. The adapter's part; what
// slapd spends serving the search is inside it, as in production.
//
//	go test -run '^$' -bench Sync20000 -benchmem -benchtime 5x ./adapters/ldap/
func BenchmarkSync20000(b *testing.B) {
	const n = 20_000
	s := ldaptest.Start(b, ldaptest.Options{})
	ldif := filepath.Join(b.TempDir(), "people.ldif")
	f, err := os.Create(ldif)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		p := ldaptest.Person{
			UID: fmt.Sprintf("p%05d", i), GivenName: "Förnamn", SN: fmt.Sprintf("Efternamn%05d", i),
			HSAIDs: []string{fmt.Sprintf("SE2321000016-%05d", i)}, PersonalID: "198207062392",
			Mail: fmt.Sprintf("p%05d@kommun.example", i), Title: "Undersköterska",
			OUs: []string{"Hemtjänst Norr", fmt.Sprintf("Grupp %d", i%40)}, EmployeeNumber: fmt.Sprint(10000 + i),
		}
		if i%10 == 0 {
			p.EndDate = "20261231000000Z"
		}
		fmt.Fprintf(f, "%s\n", p.LDIF())
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	s.AddFile(b, ldif)
	src := newSource(b, s, "")
	snapshottest.Bench(b, n, func(ctx context.Context) ([]byte, int, error) {
		snap, err := src.Snapshot(ctx)
		return snap.Body, snap.Count, err
	})
}
