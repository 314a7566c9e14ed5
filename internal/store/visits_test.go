package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Skatteverket test personnummer (DOMAIN.md §5.2); never real people.
const (
	testPNR1 = "194001042383"
	testPNR2 = "198207062392"
)

func mustPID(t testing.TB, s string) homecare.PersonID {
	t.Helper()
	p, err := homecare.ParsePersonID(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustDate(t testing.TB, s string) homecare.Date {
	t.Helper()
	d, err := homecare.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sampleVisit is the canonical schema's full example, decoded as the pipeline would.
func sampleVisit(t testing.TB) homecare.Visit {
	t.Helper()
	b, err := os.ReadFile("../../schemas/canonical/testdata/valid/visit_full.json")
	if err != nil {
		t.Fatal(err)
	}
	var v homecare.Visit
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode visit_full.json: %v", err)
	}
	return v
}

// cmpVisit compares visits; PersonID is a comparable value type with unexported fields.
var cmpVisit = cmp.Comparer(func(a, b homecare.PersonID) bool { return a == b })

func TestUpsertVisitIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, _ := openAt(t, db, "2026-11-23") // received the day it was made: not late
		v := sampleVisit(t)
		id1, err := s.UpsertVisit(ctx, v)
		if err != nil {
			t.Fatalf("UpsertVisit: %v", err)
		}
		got, err := s.Visit(ctx, "tes", "TES-2026-000001")
		if err != nil {
			t.Fatalf("Visit: %v", err)
		}
		if diff := cmp.Diff(v, got, cmpVisit); diff != "" {
			t.Errorf("Visit after first upsert mismatch (-want +got):\n%s", diff)
		}

		// The same visit again, then a corrected one: double staffing, one insats declined, no device times.
		if id, err := s.UpsertVisit(ctx, v); err != nil || id != id1 {
			t.Fatalf("second UpsertVisit = %s, %v; want %s", id, err, id1)
		}
		v2 := v
		v2.DeviceStartAt, v2.DeviceEndAt = time.Time{}, time.Time{}
		v2.Status = homecare.VisitPartiallyDeclined
		v2.Staff = []homecare.VisitStaff{
			{HSAID: "TSTNMT2321000156-1024", Role: homecare.RolePrimary},
			{StaffRef: "tes-user-77", Role: homecare.RoleSecond},
		}
		v2.Insatser = []homecare.VisitInsats{{Code: "DUSCH", Declined: true, DeclinedReason: "brukaren avböjde", DoubleStaffed: true}}
		if id, err := s.UpsertVisit(ctx, v2); err != nil || id != id1 {
			t.Fatalf("corrected UpsertVisit = %s, %v; want %s", id, err, id1)
		}
		got, err = s.Visit(ctx, "tes", "TES-2026-000001")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v2, got, cmpVisit); diff != "" {
			t.Errorf("Visit after corrected upsert mismatch (-want +got):\n%s", diff)
		}
		// The correction is kept: what changed, from and to what.
		_, hist, err := s.VisitHistory(ctx, "tes", "TES-2026-000001")
		if err != nil || len(hist) != 1 {
			t.Fatalf("VisitHistory = %d corrections, %v; want 1", len(hist), err)
		}
		if got := strings.Join(fieldsChanged(hist[0]), ","); got != "device_end_at,device_start_at,insatser,staff,status" {
			t.Errorf("correction changed %s", got)
		}
		for table, want := range map[string]int{"visits": 1, "visit_staff": 2, "visit_insatser": 1, "clients": 1} {
			var n int
			if err := db.raw.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s has %d rows, want %d", table, n, want)
			}
		}
		if _, err := s.Visit(ctx, "tes", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Visit(unknown) err = %v, want ErrNotFound", err)
		}
	})
}

func fieldsChanged(c store.VisitCorrection) []string {
	var out []string
	for _, f := range c.Changes {
		out = append(out, f.Field)
	}
	return out
}

// TestVisitVersions: a source that numbers its records gets idempotency by version — the
// same version again is nothing, a changed one under the same version is refused (a
// correction needs a new version), an older one changes nothing, a newer one is a
// correction; and a record received days late is flagged and its day queued.
func TestVisitVersions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, _ *store.Store, db testDB) {
		ctx := context.Background()
		s, clock := openAt(t, db, "2026-11-23")
		v := sampleVisit(t)
		v.Version = 2
		if _, err := s.UpsertVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
		same := v
		same.Status = homecare.VisitCancelled
		_, err := s.UpsertVisit(ctx, same)
		var ve *store.VisitVersionError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "status") || strings.Contains(err.Error(), "194001042383") {
			t.Errorf("a change under the same version = %v, want a VisitVersionError naming status", err)
		}
		older := same
		older.Version = 1
		if _, err := s.UpsertVisit(ctx, older); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Visit(ctx, "tes", v.ExternalID); got.Status != homecare.VisitCompleted || got.Version != 2 {
			t.Errorf("after an older version: %s v%d, want completed v2", got.Status, got.Version)
		}
		newer := same
		newer.Version = 3
		clock.set(t, "2026-11-27") // the supervisor's correction, days later
		if _, err := s.UpsertVisit(ctx, newer); err != nil {
			t.Fatal(err)
		}
		got, hist, err := s.VisitHistory(ctx, "tes", v.ExternalID)
		if err != nil || got.Status != homecare.VisitCancelled || len(hist) != 1 || hist[0].FromVersion != 2 || hist[0].ToVersion != 3 {
			t.Fatalf("after version 3: %s, %+v, %v", got.Status, hist, err)
		}

		late := sampleVisit(t)
		late.ExternalID = "TES-LATE"
		if _, err := s.UpsertVisit(ctx, late); err != nil { // ended 2026-11-23, received 2026-11-27
			t.Fatal(err)
		}
		if got, _ := s.Visit(ctx, "tes", "TES-LATE"); !slices.Contains(got.Flags, homecare.FlagLate) {
			t.Errorf("a record four days late has flags %v, want late", got.Flags)
		}
		days, err := s.ReconcileDays(ctx)
		if err != nil || len(days) != 1 || days[0].LocalDate != mustDate(t, "2026-11-23") {
			t.Errorf("reconcile days = %+v, %v; want 2026-11-23 once (correction and late record)", days, err)
		}
	})
}

func TestUpsertVisitRejects(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		tests := []struct {
			name   string
			change func(*homecare.Visit)
		}{
			{"no external id", func(v *homecare.Visit) { v.ExternalID = "" }},
			{"no source system", func(v *homecare.Visit) { v.SourceSystem = "" }},
			{"no person id", func(v *homecare.Visit) { v.Client.PersonID = homecare.PersonID{} }},
			{"no local date", func(v *homecare.Visit) { v.LocalDate = homecare.Date{} }},
		}
		for _, tt := range tests {
			v := sampleVisit(t)
			tt.change(&v)
			_, err := s.UpsertVisit(context.Background(), v)
			if err == nil {
				t.Errorf("%s: UpsertVisit succeeded", tt.name)
				continue
			}
			if strings.Contains(err.Error(), "2383") {
				t.Errorf("%s: error %q leaks the person id", tt.name, err)
			}
		}
	})
}

func TestListVisits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		mk := func(ext, date, provider, pnr string, hour int) homecare.Visit {
			v := sampleVisit(t)
			v.ExternalID, v.LocalDate, v.ProviderID, v.Client.PersonID = ext, mustDate(t, date), provider, mustPID(t, pnr)
			v.StartAt = v.LocalDate.In(time.UTC).Add(time.Duration(hour) * time.Hour)
			v.EndAt = v.StartAt.Add(30 * time.Minute)
			return v
		}
		for _, v := range []homecare.Visit{
			mk("V3", "2026-11-24", "omsorg-norr", testPNR1, 9),
			mk("V1", "2026-11-23", "omsorg-norr", testPNR1, 8),
			mk("V2", "2026-11-23", "omsorg-syd", testPNR2, 7),
			mk("V4", "2026-11-25", "omsorg-syd", testPNR2, 7),
		} {
			if _, err := s.UpsertVisit(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			f    store.VisitFilter
			want []string
		}{
			{"all", store.VisitFilter{}, []string{"V2", "V1", "V3", "V4"}},
			{"one day", store.VisitFilter{LocalDateFrom: mustDate(t, "2026-11-23"), LocalDateTo: mustDate(t, "2026-11-23")}, []string{"V2", "V1"}},
			{"from", store.VisitFilter{LocalDateFrom: mustDate(t, "2026-11-24")}, []string{"V3", "V4"}},
			{"provider", store.VisitFilter{Provider: "omsorg-syd"}, []string{"V2", "V4"}},
			{"provider and range", store.VisitFilter{Provider: "omsorg-norr", LocalDateTo: mustDate(t, "2026-11-23")}, []string{"V1"}},
			{"limit", store.VisitFilter{Limit: 1}, []string{"V2"}},
			{"none", store.VisitFilter{Provider: "nobody"}, nil},
		}
		for _, tt := range tests {
			got, err := s.ListVisits(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var ids []string
			for _, v := range got {
				ids = append(ids, v.ExternalID)
				if len(v.Staff) != 1 || len(v.Insatser) != 2 {
					t.Errorf("%s: %s has %d staff and %d insatser, want 1 and 2", tt.name, v.ExternalID, len(v.Staff), len(v.Insatser))
				}
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("ListVisits(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		}
		got, _ := s.ListVisits(ctx, store.VisitFilter{LocalDateFrom: mustDate(t, "2026-11-25")})
		if len(got) != 1 || got[0].Client.PersonID.Reveal() != testPNR2 {
			t.Errorf("ListVisits person id = %+v, want %s", got, testPNR2)
		}
	})
}

func TestPersonIDNotStoredInClear(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		if _, err := s.UpsertVisit(ctx, sampleVisit(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertClient(ctx, homecare.ExternalID{System: "lifecare", ID: "KUND-2"}, homecare.Client{
			PersonID: mustPID(t, testPNR2), GivenName: "Tolvan", FamilyName: "Tolvansson",
		}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.raw.Query(`SELECT * FROM clients`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var b []byte
				switch x := v.(type) {
				case []byte:
					b = x
				case string:
					b = []byte(x)
				default:
					continue
				}
				for _, pnr := range []string{testPNR1, testPNR2, testPNR1[2:], testPNR2[2:]} {
					if bytes.Contains(b, []byte(pnr)) {
						t.Errorf("clients.%s holds a person id in clear text", cols[i])
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("clients has %d rows, want 2", n)
		}

		// The lookup works with the same keys, and fails closed with another encryption key.
		c, err := s.ClientByPersonID(ctx, mustPID(t, testPNR2))
		if err != nil {
			t.Fatalf("ClientByPersonID: %v", err)
		}
		if c.PersonID.Reveal() != testPNR2 || c.GivenName != "Tolvan" {
			t.Errorf("ClientByPersonID = %+v", c)
		}
		if _, err := s.ClientByPersonID(ctx, mustPID(t, "191212121212")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ClientByPersonID(unknown) err = %v, want ErrNotFound", err)
		}
		opts := testOptions()
		opts.PersonIDEncryptionKey = bytes.Repeat([]byte("x"), 32)
		other := db.openWith(t, opts)
		if _, err := other.ClientByPersonID(ctx, mustPID(t, testPNR2)); err == nil {
			t.Error("ClientByPersonID with the wrong encryption key succeeded")
		}
	})
}

func TestUpsertParties(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		tenant := uuid.MustParse("0190f3a2-0000-7000-8000-000000000184")
		if err := s.UpsertMunicipality(ctx, homecare.Municipality{ID: tenant, Name: "Solna", MunicipalityCode: "0184"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertMunicipality(ctx, homecare.Municipality{ID: tenant, Name: "Solna stad", MunicipalityCode: "0184"}); err != nil {
			t.Fatal(err)
		}
		psrc := homecare.ExternalID{System: "lifecare", ID: "omsorg-norr"}
		p := homecare.Provider{TenantID: tenant, Name: "Omsorg Norr AB", OrgNo: "5560000000", Kind: homecare.ProviderLOV}
		pid, err := s.UpsertProvider(ctx, psrc, p)
		if err != nil {
			t.Fatal(err)
		}
		p.Name = "Omsorg Norr i Kommunen AB"
		if again, err := s.UpsertProvider(ctx, psrc, p); err != nil || again != pid {
			t.Fatalf("second UpsertProvider = %s, %v; want %s", again, err, pid)
		}
		ssrc := homecare.ExternalID{System: "hsa", ID: "TSTNMT2321000156-1024"}
		st := homecare.Staff{ProviderID: pid, HSAIDs: []homecare.HSAID{"TSTNMT2321000156-1024"}, GivenName: "Test", FamilyName: "Testsson"}
		sid, err := s.UpsertStaff(ctx, ssrc, st)
		if err != nil {
			t.Fatal(err)
		}
		st.FamilyName = "Testsson-Prov"
		if again, err := s.UpsertStaff(ctx, ssrc, st); err != nil || again != sid {
			t.Fatalf("second UpsertStaff = %s, %v; want %s", again, err, sid)
		}
		csrc := homecare.ExternalID{System: "lifecare", ID: "KUND-1"}
		c := homecare.Client{TenantID: tenant, PersonID: mustPID(t, testPNR1), GivenName: "A"}
		cid, err := s.UpsertClient(ctx, csrc, c)
		if err != nil {
			t.Fatal(err)
		}
		// A visit for the same person finds the same client.
		if _, err := s.UpsertVisit(ctx, sampleVisit(t)); err != nil {
			t.Fatal(err)
		}
		c.GivenName = "B"
		if again, err := s.UpsertClient(ctx, csrc, c); err != nil || again != cid {
			t.Fatalf("second UpsertClient = %s, %v; want %s", again, err, cid)
		}
		got, err := s.ClientByPersonID(ctx, mustPID(t, testPNR1))
		if err != nil {
			t.Fatal(err)
		}
		want := homecare.Client{ID: cid, TenantID: tenant, PersonID: mustPID(t, testPNR1), GivenName: "B", Status: homecare.StatusActive}
		if diff := cmp.Diff(want, got, cmpVisit); diff != "" {
			t.Errorf("ClientByPersonID mismatch (-want +got):\n%s", diff)
		}
		for _, q := range []struct {
			query string
			want  string
		}{
			{`SELECT name FROM municipalities`, "Solna stad"},
			{`SELECT name FROM providers`, "Omsorg Norr i Kommunen AB"},
			{`SELECT family_name FROM staff`, "Testsson-Prov"},
			{`SELECT hsa_id FROM staff`, "TSTNMT2321000156-1024"},
			{`SELECT COUNT(*) FROM clients`, "1"},
			{`SELECT COUNT(*) FROM providers`, "1"},
			{`SELECT COUNT(*) FROM staff`, "1"},
		} {
			var got string
			if err := db.raw.QueryRow(q.query).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != q.want {
				t.Errorf("%s = %q, want %q", q.query, got, q.want)
			}
		}
		if _, err := s.UpsertProvider(ctx, homecare.ExternalID{}, p); err == nil {
			t.Error("UpsertProvider without a source key succeeded")
		}
	})
}

// A visit with more child rows than one INSERT may bind (SQLite takes
// 32,766 variables, PostgreSQL 65,535) is stored whole: the rows go in
// bounded statements.
func TestUpsertVisitManyInsatser(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, _ testDB) {
		ctx := context.Background()
		v := sampleVisit(t)
		v.Insatser = make([]homecare.VisitInsats, 12000)
		for i := range v.Insatser {
			v.Insatser[i] = homecare.VisitInsats{Code: fmt.Sprintf("K%05d", i)}
		}
		if _, err := s.UpsertVisit(ctx, v); err != nil {
			t.Fatalf("UpsertVisit with %d insatser: %v", len(v.Insatser), err)
		}
		got, err := s.Visit(ctx, v.SourceSystem, v.ExternalID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Insatser) != len(v.Insatser) || got.Insatser[11999].Code != "K11999" {
			t.Errorf("stored %d insatser, want %d in order", len(got.Insatser), len(v.Insatser))
		}
	})
}
