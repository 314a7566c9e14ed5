package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// TestOrdersShowAndReports: a case officer's and a report writer's view of two orders, one
// ended ahead of time, one never executed. The order shows as it stands on the day asked;
// the IVO report lists the decision without care; personnummer stay masked on screen and
// every read is in the audit trail.
func TestOrdersShowAndReports(t *testing.T) {
	t.Parallel()
	cfgPath, dir := repoConfig(t)
	pids := homecare.OfficialTestPersonIDs()
	seedOrders(t, cfgPath, pids)

	out := filepath.Join(dir, "ivo.csv")
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
		wantErr string
	}{
		{name: "before its end", args: []string{"orders", "show", "BEST-1", "--as-of", "2026-12-01"},
			want:    []string{"status    executed", "2026-11-10 – 2027-05-09", "2027-02-01  ended", "(not yet in force)", pids[0].Masked()},
			notWant: []string{pids[0].Reveal()}},
		{name: "after its end", args: []string{"orders", "show", "BEST-1", "--as-of", "2027-02-01"},
			want: []string{"status    ended", "ended     2027-01-31 (beslut_upphort)"}, notWant: []string{"not yet in force"}},
		{name: "before it was ordered", args: []string{"orders", "show", "BEST-1", "--as-of", "2026-01-01"},
			want: []string{"order BEST-1: not in force on 2026-01-01"}},
		{name: "unknown order", args: []string{"orders", "show", "BEST-404"}, wantErr: "not found"},
		{name: "bad date", args: []string{"orders", "show", "BEST-1", "--as-of", "2026-02-30"}, wantErr: "--as-of"},
		{name: "IVO report", args: []string{"report", "ivo", "--quarter", "2026Q4", "--as-of", "2026-12-15"},
			want:    []string{"quarter,source_system,decision_id,client_ref", "2026Q4,lifecare,BESL-2,", ",not_executed,2026-06-01,2026-09-01,197,"},
			notWant: []string{"BESL-1"}},
		{name: "IVO report to a file", args: []string{"report", "ivo", "--quarter", "2026Q4", "--as-of", "2026-12-15", "--out", out}},
		{name: "bad quarter", args: []string{"report", "ivo", "--quarter", "2026Q9"}, wantErr: "want YYYYQn"},
		{name: "statistics", args: []string{"report", "statistics", "--month", "2026-11"},
			want: []string{"month,kind,source_system,decision_id", "2026-11,ongoing,lifecare,BESL-1,"}, notWant: []string{"BESL-2"}},
		{name: "audit trail", args: []string{"audit", "list"}, want: []string{"order.show", "report.ivo", "report.statistics"}},
	}
	for _, tt := range tests { // in order: the audit trail comes last
		stdout, _, err := knut(t, append(tt.args, "--config", cfgPath)...)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, stdout)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(stdout, w) {
				t.Errorf("%s: output has %q:\n%s", tt.name, w, stdout)
			}
		}
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("--out file: %v, mode %v; want 0600 (it names clients)", err, fi)
	}
}

// seedOrders stores two orders through the store as the order pipeline would: BEST-1
// executed, its decision's end sent ahead; BEST-2 never executed.
func seedOrders(t *testing.T, cfgPath string, pids []homecare.PersonID) {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(t.Context(), cfg, adapters.EnvSecrets{}, func() time.Time {
		return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := func(s string) homecare.Date {
		d, err := homecare.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	at := func(s string) time.Time { return day(s).In(time.UTC).Add(9 * time.Hour) }
	created := func(id, decision, decided string, pid homecare.PersonID) homecare.OrderEvent {
		return homecare.OrderEvent{SourceSystem: "lifecare", EventID: id + "-c", Type: homecare.OrderCreated, OccurredAt: at(decided),
			Order: homecare.OrderSnapshot{ExternalID: id, DecisionID: decision, DecidedAt: day(decided), ProviderID: "omsorg-norr",
				Client: &homecare.OrderClient{PersonID: pid, PersonIDType: pid.Type(), GivenName: "Testa"}, ValidFrom: day("2026-11-10"),
				ValidTo: day("2027-05-09"), Insatser: []homecare.OrderInsats{{Code: "DUSCH", GrantedMinutes: 40, Period: homecare.PeriodWeek}}}}
	}
	for _, ev := range []homecare.OrderEvent{
		created("BEST-1", "BESL-1", "2026-11-02", pids[0]),
		{SourceSystem: "lifecare", EventID: "BEST-1-x", Type: homecare.OrderExecuted, OccurredAt: at("2026-11-10"),
			Order: homecare.OrderSnapshot{ExternalID: "BEST-1"}, ExecutedDate: day("2026-11-10"), By: "provider:omsorg-norr"},
		{SourceSystem: "lifecare", EventID: "BEST-1-e", Type: homecare.OrderEnded, OccurredAt: at("2026-11-20"),
			Order: homecare.OrderSnapshot{ExternalID: "BEST-1"}, End: &homecare.OrderEnd{Date: day("2027-01-31"), Reason: homecare.EndDecisionExpired}},
		created("BEST-2", "BESL-2", "2026-06-01", pids[1]),
	} {
		if _, err := st.ApplyOrderEvent(context.Background(), ev, ""); err != nil {
			t.Fatalf("%s: %v", ev.EventID, err)
		}
	}
}
