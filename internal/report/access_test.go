package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestAccessFlags: each flag of the access review from the facts that call for it, and
// none where nothing does.
func TestAccessFlags(t *testing.T) {
	q, _ := report.ParseQuarter("2026Q4")
	day := func(s string) homecare.Date { d, _ := homecare.ParseDate(s); return d }
	at := func(s string) time.Time { return day(s).In(homecare.Stockholm()).Add(10 * time.Hour) }
	valid := []homecare.Commission{{HSAID: "TSTNMT2321000156-U1", ValidFrom: day("2026-01-01"), ValidTo: day("2027-12-31")}}
	ended := []homecare.Commission{{HSAID: "TSTNMT2321000156-U1", ValidFrom: day("2026-01-01"), ValidTo: day("2026-09-30")}}
	endedOnLeaving := []homecare.Commission{{HSAID: "TSTNMT2321000156-U1", ValidFrom: day("2026-01-01"), ValidTo: day("2026-11-14")}}
	call := func(s, outcome string) store.AuditRecord {
		return store.AuditRecord{At: at(s), Action: "http.POST", Outcome: outcome, Resource: "pipeline:tes_sync"}
	}
	base := store.AccessFacts{Directory: "hsa", Key: "hsa:A", ProviderID: "omsorg-norr", HSAIDs: []string{"TSTNMT2321000156-1001"},
		Commissions: valid, LastActivity: at("2026-12-20"), Visits: 40}
	tests := []struct {
		name  string
		edit  func(f *store.AccessFacts)
		flags string
	}{
		{"working as they should", func(*store.AccessFacts) {}, ""},
		{"left, a commission still running", func(f *store.AccessFacts) { f.LeftOn = day("2026-11-15") }, report.FlagLeftWithAccess},
		{"left, commissions ended before, no calls after", func(f *store.AccessFacts) {
			f.LeftOn, f.Commissions = day("2026-11-15"), endedOnLeaving
			f.Log = []store.AuditRecord{call("2026-11-10", store.AuditOK)}
		}, ""},
		{"left, and let in after", func(f *store.AccessFacts) {
			f.LeftOn, f.Commissions = day("2026-11-15"), endedOnLeaving
			f.Log = []store.AuditRecord{call("2026-11-20", store.AuditOK)}
		}, report.FlagLeftWithAccess},
		{"left, refused after", func(f *store.AccessFacts) {
			f.LeftOn, f.Commissions = day("2026-11-15"), endedOnLeaving
			f.Log = []store.AuditRecord{call("2026-11-20", store.AuditDenied)}
		}, ""},
		{"no commission in the quarter", func(f *store.AccessFacts) { f.Commissions = ended }, report.FlagNoCommission},
		{"inactive for 90 days", func(f *store.AccessFacts) { f.LastActivity = at("2026-09-15") }, report.FlagInactive},
		{"never active", func(f *store.AccessFacts) { f.LastActivity = time.Time{} }, report.FlagInactive},
		{"never active, known for 90 days", func(f *store.AccessFacts) { f.LastActivity, f.Since = time.Time{}, at("2026-10-02") }, report.FlagInactive},
		{"never active, joined within 90 days", func(f *store.AccessFacts) { f.LastActivity, f.Since = time.Time{}, at("2026-10-03") }, ""},
		{"another provider's clients", func(f *store.AccessFacts) { f.ForeignVisits = 2 }, report.FlagOtherProvider},
		{"left, a key still granted", func(f *store.AccessFacts) {
			f.LeftOn, f.Commissions, f.Keys, f.KeysAfterLeaving = day("2026-11-15"), endedOnLeaving, 1, 1
		}, report.FlagLeftWithAccess},
		{"left, keys revoked before", func(f *store.AccessFacts) { f.LeftOn, f.Commissions, f.Keys = day("2026-11-15"), endedOnLeaving, 1 }, ""},
		{"opened a door without a grant", func(f *store.AccessFacts) { f.OpenedWithoutGrant = 1 }, report.FlagDoorWithoutGrant},
		{"opened a door with no visit near", func(f *store.AccessFacts) { f.OpenedWithoutVisit = 2 }, report.FlagDoorWithoutVisit},
		{"registered visits, in no directory", func(f *store.AccessFacts) {
			*f = store.AccessFacts{HSAIDs: []string{"TSTNMT2321000156-2001"}, ProviderID: "hemtjanst-soder", LastActivity: at("2026-12-01"), Visits: 3}
		}, report.FlagNotInDirectory},
		{"not in any directory", func(f *store.AccessFacts) {
			*f = store.AccessFacts{HSAIDs: []string{"SE2321000016-SYS1"}, LastActivity: at("2026-12-01")}
		}, report.FlagNotInDirectory},
	}
	// A directory keeps commissions when someone in it has one: the base person's.
	keeper := base
	keeper.Key = "hsa:K"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			tt.edit(&f)
			lines := report.Access([]store.AccessFacts{f, keeper}, q)
			if got := strings.Join(lines[0].Flags, "+"); got != tt.flags {
				t.Errorf("flags %q, want %q", got, tt.flags)
			}
		})
	}
	// A directory without commissions (an LDAP tree) does not make everyone no_commission.
	ldap := store.AccessFacts{Directory: "ldap", Key: "ref:x/1", ProviderID: "omsorg-norr", LastActivity: at("2026-12-01")}
	if l := report.Access([]store.AccessFacts{ldap}, q); len(l[0].Flags) != 0 {
		t.Errorf("an LDAP person: %v", l[0].Flags)
	}
	// A protected person's name stays out of the review.
	prot := base
	prot.GivenName, prot.FamilyName, prot.Protected = "Hemlig", "Person", true
	var buf bytes.Buffer
	lines := report.Access([]store.AccessFacts{prot}, q)
	if err := report.WriteAccessCSV(&buf, lines); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteAccessTable(&buf, lines, map[string][]string{"omsorg-norr": {"SE2321000016-CHEF at 2027-01-10T09:00:00Z"}}, true); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "Hemlig") || !strings.Contains(out, "(skyddad personuppgift)") || !strings.Contains(out, "signed off by SE2321000016-CHEF") {
		t.Errorf("review:\n%s", out)
	}
}
