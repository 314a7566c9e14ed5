package ldap_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	_ "github.com/knutpunkt/knutpunkt/adapters/all"
	"github.com/knutpunkt/knutpunkt/adapters/ldap"
	"github.com/knutpunkt/knutpunkt/adapters/ldap/ldaptest"
	knutconfig "github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// pipelineVars are the knut.yaml vars testdata/pipelines/ldap_staff.yaml
// needs; the repository's knut.yaml does not have them yet, which is why
// the pipeline waits in testdata rather than in pipelines/.
var pipelineVars = map[string]string{
	"ldap_omsorg_norr_url":      "ldap://127.0.0.1:3890",
	"ldap_omsorg_norr_bind_dn":  "cn=knutpunkt,ou=services,dc=omsorg-norr,dc=example",
	"ldap_omsorg_norr_password": "env:KNUT_LDAP_OMSORG_NORR_PASSWORD",
	"ldap_omsorg_norr_base_dn":  "ou=people,dc=omsorg-norr,dc=example",
}

// loadPipeline loads testdata/pipelines/ldap_staff.yaml against the
// repository's knut.yaml, mappings and schemas, with pipelineVars, and
// extra steps appended (the staff store step, to see the records decoded).
func loadPipeline(t *testing.T, extraSteps string) *pipeline.Plan {
	t.Helper()
	cfg, err := knutconfig.Load("../../knut.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vars == nil {
		cfg.Vars = map[string]string{}
	}
	for k, v := range pipelineVars {
		cfg.Vars[k] = v
	}
	src, err := os.ReadFile("testdata/pipelines/ldap_staff.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), "  - map: ldap/entry_to_staff\n", "  - map: ldap/entry_to_staff\n"+extraSteps, 1)
	path := filepath.Join(t.TempDir(), "ldap_staff.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Load(path, server.Resources(cfg, adapters.Default))
	if err != nil {
		t.Fatalf("pipeline.Load: %v", err)
	}
	return p
}

// TestPipeline runs snapshots from slapd through the pipeline's steps.
func TestPipeline(t *testing.T) {
	loadPipeline(t, "") // as shipped: the map step and no destination
	p := loadPipeline(t, "  - store: staff\n")
	tests := []struct {
		name    string
		people  []ldaptest.Person
		want    int    // staff records
		wantErr string // dead letter
	}{
		{name: "three people", people: people, want: 3},
		{name: "the same HSA-ID twice maps (the store's sync refuses it)", people: append(append([]ldaptest.Person(nil), people...),
			ldaptest.Person{UID: "d.dubblett", SN: "Dubblett", HSAIDs: people[0].HSAIDs}), want: 4},
		{name: "an invalid HSA-ID", people: append(append([]ldaptest.Person(nil), people...),
			ldaptest.Person{UID: "e.fel", SN: "Fel", HSAIDs: []string{"SE-not-an-hsa-id"}}), wantErr: "field hsa_ids"},
		// The snapshot of nobody is delivered; the map step dead-letters it
		// before the store's guard would (an empty snapshot ends nobody).
		{name: "nobody", wantErr: "input holds no record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ldaptest.Start(t, ldaptest.Options{})
			if len(tt.people) > 0 {
				s.Add(t, ldaptest.Entries(tt.people...))
			}
			snap, err := newSource(t, s, "").Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			m := knutpunkt.Message{ID: "snap-1", Body: snap.Body, Headers: map[string]string{
				knutpunkt.HeaderContentType:       ldap.ContentType,
				knutpunkt.HeaderSourceSystem:      "ldap-omsorg-norr",
				knutpunkt.HeaderExternalID:        "ldap-test",
				ldap.HeaderSnapshotCount:          strconv.Itoa(snap.Count),
				ldap.HeaderEmploymentEndAttribute: "hsaEndDate",
			}}
			res, err := p.Process(t.Context(), m)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !adapters.IsPermanent(err) {
					t.Fatalf("Process = %v, want a permanent error containing %q", err, tt.wantErr)
				}
				if personal(err.Error()) {
					t.Errorf("the dead letter's reason holds personal data: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Writes) != 1 {
				t.Fatalf("writes = %+v, want one staff snapshot", res.Writes)
			}
			if got := reflectLen(res.Writes[0].Entity); got != tt.want {
				t.Errorf("staff records = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPipelineSamples runs testdata/pipelines/testdata/ldap_staff, the
// samples pipelines/testdata/ldap_staff will hold once the pipeline moves
// to pipelines/ (its golden is written there by go test ./pipelines
// -update): NAME.json with NAME.headers.json, and NAME.err for bad input.
func TestPipelineSamples(t *testing.T) {
	p := loadPipeline(t, "")
	inputs, err := filepath.Glob("testdata/pipelines/testdata/ldap_staff/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".headers.json") || strings.HasSuffix(in, ".golden.json") {
			continue
		}
		base := strings.TrimSuffix(in, ".json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			m := knutpunkt.Message{ID: filepath.Base(base), Body: body, Headers: map[string]string{knutpunkt.HeaderExternalID: "sample"}}
			hdr, err := os.ReadFile(base + ".headers.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(hdr, &m.Headers); err != nil {
				t.Fatal(err)
			}
			_, err = p.Process(t.Context(), m)
			want, readErr := os.ReadFile(base + ".err")
			switch {
			case readErr == nil && (err == nil || !strings.Contains(err.Error(), strings.TrimSpace(string(want))) || !adapters.IsPermanent(err)):
				t.Errorf("Process = %v, want a permanent error containing %q", err, strings.TrimSpace(string(want)))
			case readErr != nil && err != nil:
				t.Errorf("Process: %v", err)
			}
		})
	}
}
