package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// clientIDs are the identities the client link tests use: official test personnummer and
// samordningsnummer, and reserve numbers from the personnummer project's interim test data.
type clientIDs struct {
	pnr, pnr2, coord, res, res2 homecare.PersonID
}

func testClientIDs(t *testing.T) clientIDs {
	t.Helper()
	pids := homecare.OfficialTestPersonIDs()
	ids := clientIDs{pnr: pids[0], pnr2: pids[1]}
	for _, p := range pids {
		if p.Type() == homecare.Samordningsnummer {
			ids.coord = p
			break
		}
	}
	for s, p := range map[string]*homecare.PersonID{"20000101-T220": &ids.res, "20000101-R220": &ids.res2} {
		var err error
		if *p, err = homecare.ParsePersonID(s); err != nil {
			t.Fatalf("ParsePersonID(%s): %v", s, err)
		}
	}
	if ids.coord.IsZero() || ids.res.Type() != homecare.Reservnummer {
		t.Fatal("test identities: no samordningsnummer or reserve number")
	}
	return ids
}

// TestLinkClient: LinkClient ensures both clients rows and records a link once;
// ClientIdentities finds every identity linked to one, either way and transitively, and no
// other person's.
func TestLinkClient(t *testing.T) {
	ids := testClientIDs(t)
	type link struct{ current, previous homecare.PersonID }
	tests := []struct {
		name  string
		links []link
		oneTx bool // all links in one transaction (else one each)
		// want maps an identity to what ClientIdentities returns for it: itself first.
		want    map[homecare.PersonID][]homecare.PersonID
		rows    int            // client_links rows
		clients map[string]int // clients rows by person_id_type
	}{
		{
			name:  "reserve number, then personnummer",
			links: []link{{ids.pnr, ids.res}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr: {ids.pnr, ids.res},
				ids.res: {ids.res, ids.pnr},
			},
			rows:    1,
			clients: map[string]int{"personnummer": 1, "reservnummer": 1},
		},
		{
			name:  "samordningsnummer, then personnummer",
			links: []link{{ids.pnr, ids.coord}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr:   {ids.pnr, ids.coord},
				ids.coord: {ids.coord, ids.pnr},
			},
			rows:    1,
			clients: map[string]int{"personnummer": 1, "samordningsnummer": 1},
		},
		{
			name:  "reserve number, samordningsnummer, personnummer: transitive",
			links: []link{{ids.coord, ids.res}, {ids.pnr, ids.coord}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr:   {ids.pnr, ids.coord, ids.res},
				ids.coord: {ids.coord, ids.pnr, ids.res},
				ids.res:   {ids.res, ids.coord, ids.pnr},
			},
			rows:    2,
			clients: map[string]int{"personnummer": 1, "samordningsnummer": 1, "reservnummer": 1},
		},
		{
			name:  "the same chain in one transaction",
			links: []link{{ids.coord, ids.res}, {ids.pnr, ids.coord}},
			oneTx: true,
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.res: {ids.res, ids.coord, ids.pnr},
			},
			rows:    2,
			clients: map[string]int{"personnummer": 1, "samordningsnummer": 1, "reservnummer": 1},
		},
		{
			name:  "two reserve numbers for one person",
			links: []link{{ids.pnr, ids.res}, {ids.pnr, ids.res2}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr:  {ids.pnr, ids.res, ids.res2},
				ids.res2: {ids.res2, ids.pnr, ids.res},
			},
			rows:    2,
			clients: map[string]int{"personnummer": 1, "reservnummer": 2},
		},
		{
			name:  "linked again: idempotent",
			links: []link{{ids.pnr, ids.res}, {ids.pnr, ids.res}, {ids.pnr, ids.res}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr: {ids.pnr, ids.res},
			},
			rows:    1,
			clients: map[string]int{"personnummer": 1, "reservnummer": 1},
		},
		{
			name:  "linked both ways: each way recorded, one person",
			links: []link{{ids.pnr, ids.res}, {ids.res, ids.pnr}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr: {ids.pnr, ids.res},
				ids.res: {ids.res, ids.pnr},
			},
			rows:    2,
			clients: map[string]int{"personnummer": 1, "reservnummer": 1},
		},
		{
			name:  "two people stay apart",
			links: []link{{ids.pnr, ids.res}, {ids.pnr2, ids.res2}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr:  {ids.pnr, ids.res},
				ids.res2: {ids.res2, ids.pnr2},
			},
			rows:    2,
			clients: map[string]int{"personnummer": 2, "reservnummer": 2},
		},
		{
			name:  "linked to itself: nothing recorded",
			links: []link{{ids.pnr, ids.pnr}},
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.pnr: {ids.pnr},
			},
			rows:    0,
			clients: map[string]int{},
		},
		{
			name: "no links, no clients row",
			want: map[homecare.PersonID][]homecare.PersonID{
				ids.res: {ids.res},
			},
			rows:    0,
			clients: map[string]int{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
				ctx := context.Background()
				link := func(tx *store.Tx, l link) error { return tx.LinkClient(ctx, l.current, l.previous) }
				if tt.oneTx {
					if err := s.Tx(ctx, func(tx *store.Tx) error {
						for _, l := range tt.links {
							if err := link(tx, l); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						t.Fatalf("LinkClient: %v", err)
					}
				} else {
					for _, l := range tt.links {
						if err := s.Tx(ctx, func(tx *store.Tx) error { return link(tx, l) }); err != nil {
							t.Fatalf("LinkClient(%s, %s): %v", l.current, l.previous, err)
						}
					}
				}

				for pid, want := range tt.want {
					got, err := s.ClientIdentities(ctx, pid)
					if err != nil {
						t.Fatalf("ClientIdentities(%s): %v", pid, err)
					}
					if diff := cmp.Diff(identitySet(want), identitySet(got)); diff != "" {
						t.Errorf("ClientIdentities(%s) mismatch (-want +got):\n%s", pid, diff)
					}
				}

				var rows int
				if err := db.raw.QueryRow(`SELECT COUNT(*) FROM client_links`).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				if rows != tt.rows {
					t.Errorf("client_links has %d rows, want %d", rows, tt.rows)
				}
				clients := map[string]int{}
				r, err := db.raw.Query(`SELECT person_id_type, COUNT(*) FROM clients GROUP BY person_id_type`)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				for r.Next() {
					var typ string
					var n int
					if err := r.Scan(&typ, &n); err != nil {
						t.Fatal(err)
					}
					clients[typ] = n
				}
				if err := r.Err(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.clients, clients); diff != "" {
					t.Errorf("clients rows by type mismatch (-want +got):\n%s", diff)
				}
				// A client created by a link reads back with its own identity.
				for _, l := range tt.links {
					if l.current == l.previous {
						continue
					}
					for _, p := range []homecare.PersonID{l.current, l.previous} {
						c, err := s.ClientByPersonID(ctx, p)
						if err != nil || c.PersonID != p || c.PersonID.Type() != p.Type() {
							t.Errorf("ClientByPersonID(%s) = %s %s, %v", p, c.PersonID, c.PersonID.Type(), err)
						}
					}
				}
			})
		})
	}
}

// identitySet is what ClientIdentities' answer means: the identity asked for first, then
// the others in any order (sorted here).
func identitySet(ids []homecare.PersonID) []string {
	out := make([]string, len(ids))
	for i, p := range ids {
		out[i] = p.Reveal()
	}
	if len(out) > 1 {
		slices.Sort(out[1:])
	}
	return out
}

// TestLinkClientKeepsFirst: the link is dated by the store's clock, and linking the pair
// again later keeps the first date; the reserve number is stored sealed like any person id.
func TestLinkClientKeepsFirst(t *testing.T) {
	ids := testClientIDs(t)
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			db := newTestDB(t, d)
			at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			opts := testOptions()
			opts.Clock = func() time.Time { return at }
			s := db.openWith(t, opts)
			ctx := context.Background()
			for range 2 {
				if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.LinkClient(ctx, ids.pnr, ids.res) }); err != nil {
					t.Fatal(err)
				}
				at = at.Add(48 * time.Hour)
			}
			var linkedAt any
			if err := db.raw.QueryRow(`SELECT linked_at FROM client_links`).Scan(&linkedAt); err != nil {
				t.Fatal(err)
			}
			var got time.Time
			switch v := linkedAt.(type) {
			case time.Time:
				got = v
			case string:
				got, _ = time.Parse(time.RFC3339Nano, v)
			case []byte:
				got, _ = time.Parse(time.RFC3339Nano, string(v))
			}
			if want := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
				t.Errorf("linked_at = %v, want %v (the first link, by the store's clock)", linkedAt, want)
			}
			r, err := db.raw.Query(`SELECT person_id_enc FROM clients`)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for r.Next() {
				var enc []byte
				if err := r.Scan(&enc); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(enc), ids.res.Reveal()) || strings.Contains(string(enc), ids.pnr.Reveal()) {
					t.Error("a linked client's person id is stored in clear")
				}
			}
		})
	}
}

// TestLinkClientRefusesZero: a link needs two identities, and the transaction fails with
// nothing recorded.
func TestLinkClientRefusesZero(t *testing.T) {
	ids := testClientIDs(t)
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		for _, l := range [][2]homecare.PersonID{{ids.pnr, {}}, {{}, ids.res}, {{}, {}}} {
			if err := s.Tx(ctx, func(tx *store.Tx) error { return tx.LinkClient(ctx, l[0], l[1]) }); err == nil {
				t.Errorf("LinkClient(%q, %q) succeeded", l[0], l[1])
			}
		}
		var n int
		if err := db.raw.QueryRow(`SELECT (SELECT COUNT(*) FROM client_links) + (SELECT COUNT(*) FROM clients)`).Scan(&n); err != nil || n != 0 {
			t.Errorf("rows after refused links: %d, %v", n, err)
		}
		if _, err := s.ClientIdentities(ctx, homecare.PersonID{}); err == nil {
			t.Error("ClientIdentities(zero) succeeded")
		}
	})
}
