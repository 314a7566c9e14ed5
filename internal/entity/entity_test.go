package entity_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/entity"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
)

func readCanonical(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../schemas/canonical/testdata/valid/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecodersRefuseDuplicateKeys: a repeated key reaches neither the fast
// visit decoder nor encoding/json, which would keep the last value.
func TestDecodersRefuseDuplicateKeys(t *testing.T) {
	visit := readCanonical(t, "visit_full.json")
	created := readCanonical(t, "order_event_created.json")
	tests := []struct {
		name, kind, body string
		want             string // "" decodes
	}{
		{"visit", "visit", visit, ""},
		{"visit, repeated top-level key", "visit", strings.Replace(visit, `"unit_id": "norr-team-1"`, `"unit_id": "`+strings.Repeat("x", 5000)+`", "unit_id": "norr-team-1"`, 1), "/unit_id: duplicate key"},
		{"visit, repeated by escape", "visit", strings.Replace(visit, `"unit_id": "norr-team-1"`, `"unit_id": "norr-team-1", "\u0075nit_id": "x"`, 1), "/unit_id: duplicate key"},
		{"visit, repeated nested key", "visit", strings.Replace(visit, `"person_id_type": "personnummer"`, `"person_id_type": "personnummer", "person_id_type": "personnummer"`, 1), "/client/person_id_type: duplicate key"},
		{"order event", "order_event", created, ""},
		{"order event, repeated nested key", "order_event", strings.Replace(created, `"city": "Demostad"`, `"city": "Demostad", "city": "x"`, 1), "/order/client/address/city: duplicate key"},
	}
	decoders := entity.Decoders(homecare.ValidateOptions{AllowTestHSAIDs: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decoders[tt.kind]([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			if _, ok := errors.AsType[*jsonscan.DuplicateKeyError](err); !ok || err.Error() != tt.kind+": "+tt.want {
				t.Fatalf("decode = %v, want %q", err, tt.kind+": "+tt.want)
			}
		})
	}
}

// TestVisitFlagsAreTheHubs: the store step decides a visit's flags from the visit, whatever
// the canonical JSON says (issue 10). A sender's flags are neither refused nor trusted: they
// are recomputed, and ambiguous_time, which only a mapping reading a zone-less local time can
// know, is kept where a time lies in the repeated autumn hour.
func TestVisitFlagsAreTheHubs(t *testing.T) {
	visit := readCanonical(t, "visit_full.json")
	// The autumn night: 02:40 CEST is 00:40 UTC, and the local date is the 25th.
	autumn := strings.NewReplacer(
		`"2026-11-23T07:02:00Z"`, `"2026-10-25T00:40:00Z"`, `"2026-11-23T07:34:00Z"`, `"2026-10-25T01:10:00Z"`,
		`"2026-11-23T07:02:05Z"`, `"2026-10-25T00:40:05Z"`, `"2026-11-23T07:33:58Z"`, `"2026-10-25T01:09:58Z"`,
		`"local_date": "2026-11-23"`, `"local_date": "2026-10-25"`, `"duration_minutes": 32`, `"duration_minutes": 30`,
	).Replace(visit)
	tooLong := strings.NewReplacer(
		`"end_at": "2026-11-23T07:34:00Z"`, `"end_at": "2026-11-24T08:34:00Z"`,
		`"device_end_at": "2026-11-23T07:33:58Z"`, `"device_end_at": "2026-11-24T08:33:58Z"`,
		`"duration_minutes": 32`, `"duration_minutes": 1532`,
	).Replace(visit)
	overrun := strings.NewReplacer(`"minutes": 20`, `"minutes": 45`, `"minutes": 12`, `"minutes": 60`).Replace(visit)
	withFlags := func(body, flags string) string {
		return strings.Replace(body, `"is_extra": false,`, `"is_extra": false, "flags": `+flags+`,`, 1)
	}
	tests := []struct {
		name, body string
		want       []homecare.VisitFlag
	}{
		{"no flags", visit, nil},
		{"a sender's flags are dropped", withFlags(visit, `["late", "no_order", "too_long"]`), nil},
		{"a sender's made-up flag is dropped", withFlags(visit, `["made_up"]`), nil},
		{"a 25-hour visit is stored, flagged too_long", tooLong, []homecare.VisitFlag{homecare.FlagTooLong}},
		{"a sender's empty list does not hide too_long", withFlags(tooLong, `[]`), []homecare.VisitFlag{homecare.FlagTooLong}},
		{"105 insats minutes on a 32-minute visit", overrun, []homecare.VisitFlag{homecare.FlagInsatsOverrun}},
		{"ambiguous_time on an ordinary visit is dropped", withFlags(visit, `["ambiguous_time"]`), nil},
		{"ambiguous_time in the repeated hour is kept", withFlags(autumn, `["ambiguous_time"]`), []homecare.VisitFlag{homecare.FlagAmbiguousTime}},
		{"the repeated hour without the claim", autumn, nil},
	}
	decode := entity.Decoders(homecare.ValidateOptions{AllowTestHSAIDs: true})["visit"]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := e.(homecare.Visit).Flags; !slices.Equal(got, tt.want) {
				t.Errorf("flags = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestVisitDecodeLimits: a visit longer than MaxVisitDays, or ending before it starts, is
// still refused.
func TestVisitDecodeLimits(t *testing.T) {
	visit := readCanonical(t, "visit_full.json")
	tests := []struct{ name, body, want string }{
		{"longer than a week", strings.NewReplacer(
			`"end_at": "2026-11-23T07:34:00Z"`, `"end_at": "2026-11-30T07:34:00Z"`,
			`"device_end_at": "2026-11-23T07:33:58Z"`, `"device_end_at": "2026-11-30T07:33:58Z"`,
			`"duration_minutes": 32`, `"duration_minutes": 10112`,
		).Replace(visit), "visit: visit TES-2026-000001: end_at: more than 7 days after start_at"},
		{"end before start", strings.NewReplacer(
			`"end_at": "2026-11-23T07:34:00Z"`, `"end_at": "2026-11-23T07:00:00Z"`,
		).Replace(visit), "visit: visit TES-2026-000001: end_at: before start_at"},
	}
	decode := entity.Decoders(homecare.ValidateOptions{AllowTestHSAIDs: true})["visit"]
	for _, tt := range tests {
		if tt.body == visit {
			t.Fatalf("%s: the fixture did not change", tt.name)
		}
		if _, err := decode([]byte(tt.body)); err == nil || err.Error() != tt.want {
			t.Errorf("%s: decode = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestStaffSnapshotDecode: a directory snapshot is JSON lines of canonical staff
// records, each strict and valid; an empty one is refused, never taken as "nobody works
// here any more".
func TestStaffSnapshotDecode(t *testing.T) {
	hsa := strings.Join(strings.Fields(readCanonical(t, "staff_hsa.json")), " ")
	lov := strings.Join(strings.Fields(readCanonical(t, "staff_lov.json")), " ")
	decode := entity.Decoders(homecare.ValidateOptions{AllowTestHSAIDs: true})["staff"]
	tests := []struct {
		name, body string
		want       int
		wantErr    string
	}{
		{"two records", hsa + "\n" + lov + "\n", 2, ""},
		{"empty", "\n\n", 0, "staff: an empty snapshot"},
		{"an unknown field", `{"directory":"hsa","provider_id":"p","staff_ref":"x","nick":"y"}`, 0, `staff: record 1: json: unknown field "nick"`},
		{"a malformed HSA-ID", lov + "\n" + `{"directory":"hsa","provider_id":"p","hsa_ids":["SE-1"]}`, 0, "staff: record 2: hsa_ids[0]: hsa-id:"},
		{"an HSA-ID twice", `{"directory":"hsa","provider_id":"p","hsa_ids":["TSTNMT2321000156-1","TSTNMT2321000156-1"]}`, 0, "hsa_ids[1]: listed twice"},
		{"nobody to know them by", `{"directory":"hsa","provider_id":"p"}`, 0, "hsa_ids or staff_ref is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decode([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.([]homecare.DirectoryPerson); len(got) != tt.want {
				t.Errorf("%d records, want %d", len(got), tt.want)
			}
		})
	}
}
