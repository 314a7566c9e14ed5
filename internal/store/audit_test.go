package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

func TestAuditTrail(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		pids := homecare.OfficialTestPersonIDs()
		alice, bob := pids[0].Reveal(), pids[1].Reveal()
		entries := []store.AuditEntry{
			{Actor: "os:anna", Action: "message.show", Outcome: store.AuditOK, Resource: "message:m1", ClientPersonID: alice, Purpose: "felsökning"},
			{Actor: "provider:hemtjanst-soder", Action: "order_event.apply", Outcome: store.AuditDenied, Resource: "order:lifecare/O1", ClientPersonID: bob, Detail: "order of provider omsorg-norr"},
			{Actor: "hsa:SE2321000016-A1B2", Action: "dead_letter.show", Outcome: store.AuditOK, Resource: "message:m2", ClientPersonID: alice},
			{Actor: "os:anna", Action: "audit.list", Outcome: store.AuditOK, Detail: strings.Repeat("x", 5000)},
		}
		for _, e := range entries {
			if _, err := s.Audit(ctx, e); err != nil {
				t.Fatalf("Audit(%s): %v", e.Action, err)
			}
		}

		all, err := s.ListAudit(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(entries) {
			t.Fatalf("ListAudit: %d records, want %d", len(all), len(entries))
		}
		for i, r := range all {
			if r.Seq != int64(i+1) || r.Action != entries[i].Action || r.Actor != entries[i].Actor {
				t.Errorf("record %d: seq %d %s by %s, want seq %d %s by %s", i, r.Seq, r.Action, r.Actor, i+1, entries[i].Action, entries[i].Actor)
			}
		}
		if got, want := all[0].Client, alice[:8]+"-****"; got != want {
			t.Errorf("client shown as %q, want %q", got, want)
		}
		if len(all[3].Detail) > 1024 {
			t.Errorf("detail of %d bytes kept, want it capped at 1024", len(all[3].Detail))
		}

		tests := []struct {
			name string
			f    store.AuditFilter
			want []string // actions
		}{
			{"one client", store.AuditFilter{ClientPersonID: alice}, []string{"message.show", "dead_letter.show"}},
			{"other client", store.AuditFilter{ClientPersonID: bob}, []string{"order_event.apply"}},
			{"one actor", store.AuditFilter{Actor: "os:anna"}, []string{"message.show", "audit.list"}},
			{"before the first", store.AuditFilter{To: all[0].At}, nil},
			{"from the last", store.AuditFilter{From: all[3].At}, []string{"audit.list"}},
		}
		for _, tt := range tests {
			got, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var actions []string
			for _, r := range got {
				actions = append(actions, r.Action)
			}
			if strings.Join(actions, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%s: %v, want %v", tt.name, actions, tt.want)
			}
		}

		v, err := s.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v.Records != 4 || len(v.Problems) > 0 || v.Head != all[3].Hash {
			t.Fatalf("VerifyAudit of an intact trail = %+v, want 4 records, no problems, head %s", v, all[3].Hash)
		}

		// Append-only: the store's own connection is refused both ways.
		for _, q := range []string{`UPDATE audit_log SET actor = 'os:mallory' WHERE seq = 2`, `DELETE FROM audit_log WHERE seq = 2`} {
			if err := s.ExecRaw(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only", q, err)
			}
		}
	})
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	drop := map[string]string{
		store.DialectSQLite:   `DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete`,
		store.DialectPostgres: `DROP TRIGGER audit_log_append_only ON audit_log`,
	}
	tests := []struct {
		name   string
		tamper string
		want   string
	}{
		{"altered", `UPDATE audit_log SET actor = 'os:mallory' WHERE seq = 2`, "record 2: altered"},
		{"removed", `DELETE FROM audit_log WHERE seq = 2`, "records 2 to 2 are missing"},
		{"removed and relinked", `DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3`, "record 2: does not follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
				ctx := context.Background()
				for i := range 3 {
					if _, err := s.Audit(ctx, store.AuditEntry{Actor: "os:anna", Action: "message.show", Outcome: store.AuditOK,
						Resource: "message:" + string(rune('a'+i))}); err != nil {
						t.Fatal(err)
					}
				}
				for _, q := range strings.Split(drop[db.dialect]+"; "+tt.tamper, "; ") {
					if err := s.ExecRaw(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				v, err := s.VerifyAudit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(strings.Join(v.Problems, "\n"), tt.want) {
					t.Errorf("problems %q, want one containing %q", v.Problems, tt.want)
				}
			})
		})
	}
}

func TestAuditRefusesIncompleteEntries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		for _, e := range []store.AuditEntry{
			{Action: "message.show", Outcome: store.AuditOK},
			{Actor: "os:anna", Outcome: store.AuditOK},
			{Actor: "os:anna", Action: "message.show", Outcome: "maybe"},
			{Actor: "os:anna", Action: "message.show", Outcome: store.AuditOK, ClientPersonID: "1912121212"},
		} {
			if _, err := s.Audit(context.Background(), e); err == nil {
				t.Errorf("Audit(%+v) accepted", e)
			}
		}
	})
}

func TestSeeSignature(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store, db testDB) {
		ctx := context.Background()
		later := time.Now().Add(time.Hour)
		steps := []struct {
			scope, sig string
			expires    time.Time
			wantSeen   bool
		}{
			{"acks", "sig1", later, false},
			{"acks", "sig1", later, true},   // the replay
			{"other", "sig1", later, false}, // another endpoint's own window
			{"acks", "old", time.Now().Add(-time.Minute), false},
			{"acks", "sig2", later, false}, // clears "old", past its window
			{"acks", "old", later, false},
		}
		for i, st := range steps {
			seen, err := s.SeeSignature(ctx, st.scope, st.sig, st.expires)
			if err != nil {
				t.Fatal(err)
			}
			if seen != st.wantSeen {
				t.Errorf("step %d: SeeSignature(%s, %s) seen = %v, want %v", i, st.scope, st.sig, seen, st.wantSeen)
			}
		}
	})
}
