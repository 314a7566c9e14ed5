package homecare_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

const (
	visitSchemaFile = "../../schemas/canonical/visit.schema.json"
	visitFullFile   = "../../schemas/canonical/testdata/valid/visit_full.json"
)

func decodeStrict(t *testing.T, b []byte, v any) error {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func loadVisitFull(t *testing.T) (homecare.Visit, []byte) {
	t.Helper()
	b, err := os.ReadFile(visitFullFile)
	if err != nil {
		t.Fatal(err)
	}
	var v homecare.Visit
	if err := decodeStrict(t, b, &v); err != nil {
		t.Fatalf("decode %s: %v", visitFullFile, err)
	}
	return v, b
}

func TestVisitJSONRoundTrip(t *testing.T) {
	t.Parallel()
	v, in := loadVisitFull(t)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("re-encoded visit mismatch (-file +encoded):\n%s", diff)
	}
	if err := v.ValidateWith(homecare.ValidateOptions{AllowTestHSAIDs: true, RequireTestPersonIDs: true}); err != nil {
		t.Errorf("ValidateWith(test rules): %v", err)
	}
}

// TestVisitMatchesSchema checks that every object in visit.schema.json has exactly the JSON
// fields of its Go struct, so the two cannot drift apart.
func TestVisitMatchesSchema(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(visitSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Items      *struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"items"`
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	sub := func(name string) []string {
		var o object
		if err := json.Unmarshal(schema.Properties[name], &o); err != nil {
			t.Fatal(err)
		}
		if o.Items != nil {
			return keys(o.Items.Properties)
		}
		return keys(o.Properties)
	}
	tests := []struct {
		name   string
		typ    reflect.Type
		schema []string
	}{
		{"visit", reflect.TypeFor[homecare.Visit](), keys(schema.Properties)},
		{"client", reflect.TypeFor[homecare.VisitClient](), sub("client")},
		{"staff", reflect.TypeFor[homecare.VisitStaff](), sub("staff")},
		{"insatser", reflect.TypeFor[homecare.VisitInsats](), sub("insatser")},
	}
	for _, tt := range tests {
		var fields []string
		for f := range tt.typ.Fields() {
			fields = append(fields, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		slices.Sort(fields)
		if diff := cmp.Diff(tt.schema, fields); diff != "" {
			t.Errorf("%s: JSON fields mismatch (-schema +Go):\n%s", tt.name, diff)
		}
	}
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestVisitDecodeRejects(t *testing.T) {
	t.Parallel()
	_, in := loadVisitFull(t)
	tests := []struct{ name, old, new string }{
		{"unknown field", `"is_extra": false,`, `"is_extra": false, "colour": "red",`},
		{"bad status", `"status": "completed"`, `"status": "done"`},
		{"bad method", `"start_method": "tag"`, `"start_method": "nfc"`},
		{"bad role", `"role": "primary"`, `"role": "boss"`},
		{"bad person id", `"194001042383"`, `"194001042384"`},
		{"bad person id type", `"person_id_type": "personnummer"`, `"person_id_type": "pseudo"`},
		{"bad date", `"local_date": "2026-11-23"`, `"local_date": "2026-11-31"`},
	}
	for _, tt := range tests {
		b := bytes.Replace(in, []byte(tt.old), []byte(tt.new), 1)
		if bytes.Equal(b, in) {
			t.Fatalf("%s: %q not found in fixture", tt.name, tt.old)
		}
		var v homecare.Visit
		err := decodeStrict(t, b, &v)
		if err == nil {
			t.Errorf("%s: decoded without error", tt.name)
		} else if strings.Contains(err.Error(), "194001042384") {
			t.Errorf("%s: error %q leaks the person id", tt.name, err)
		}
	}
}

func TestVisitValidate(t *testing.T) {
	t.Parallel()
	testRules := homecare.ValidateOptions{AllowTestHSAIDs: true}
	other, err := homecare.ParsePersonID("197302889931") // valid samordningsnummer, not a test number
	if err != nil {
		t.Fatal(err)
	}
	minutes := func(n int) *int { return &n }
	tests := []struct {
		name   string
		opts   homecare.ValidateOptions
		change func(v *homecare.Visit)
		want   []string
	}{
		{name: "valid", opts: testRules, change: func(v *homecare.Visit) {}},
		{name: "test hsa-id in production", change: func(v *homecare.Visit) {},
			want: []string{"visit TES-2026-000001: staff[0].hsa_id: hsa-id: want prefix SE (test prefixes are not allowed here)"}},
		{name: "production hsa-id", change: func(v *homecare.Visit) { v.Staff[0].HSAID = "SE2321000016-F835" }},
		{name: "end before start", opts: testRules, change: func(v *homecare.Visit) { v.EndAt = v.StartAt.Add(-time.Minute) },
			want: []string{"visit TES-2026-000001: end_at: before start_at"}},
		{name: "duration off", opts: testRules, change: func(v *homecare.Visit) { v.DurationMinutes = 31 },
			want: []string{"visit TES-2026-000001: duration_minutes: is 31, want 32 (end_at − start_at)"}},
		{name: "duration rounds half up", opts: testRules, change: func(v *homecare.Visit) { v.EndAt = v.EndAt.Add(30 * time.Second); v.DurationMinutes = 33 }},
		{name: "duration rounds down", opts: testRules, change: func(v *homecare.Visit) { v.EndAt = v.EndAt.Add(29 * time.Second) }},
		{name: "zero duration", opts: testRules, change: func(v *homecare.Visit) { v.EndAt = v.StartAt; v.DurationMinutes = 0 }},
		{name: "local date is UTC date", opts: testRules, change: func(v *homecare.Visit) {
			// 23:30 UTC on 22 November is 00:30 on 23 November in Stockholm (CET).
			v.StartAt = time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)
			v.EndAt = v.StartAt.Add(32 * time.Minute)
			v.LocalDate = homecare.Date{Year: 2026, Month: 11, Day: 22}
		}, want: []string{"visit TES-2026-000001: local_date: is 2026-11-22, want 2026-11-23 (start_at in Europe/Stockholm)"}},
		{name: "local date in summer time", opts: testRules, change: func(v *homecare.Visit) {
			// 22:30 UTC on 30 June is 00:30 on 1 July in Stockholm (CEST).
			v.StartAt = time.Date(2026, 6, 30, 22, 30, 0, 0, time.UTC)
			v.EndAt = v.StartAt.Add(32 * time.Minute)
			v.LocalDate = homecare.Date{Year: 2026, Month: 7, Day: 1}
		}},
		{name: "visit over midnight counts for start day", opts: testRules, change: func(v *homecare.Visit) {
			v.StartAt = time.Date(2026, 11, 23, 22, 50, 0, 0, time.UTC) // 23:50 local
			v.EndAt = v.StartAt.Add(32 * time.Minute)
		}},
		{name: "person id type mismatch", opts: testRules, change: func(v *homecare.Visit) { v.Client.PersonIDType = homecare.Samordningsnummer },
			want: []string{`visit TES-2026-000001: client.person_id_type: is "samordningsnummer" but person_id is a personnummer`}},
		{name: "missing person id", opts: testRules, change: func(v *homecare.Visit) { v.Client.PersonID = homecare.PersonID{} },
			want: []string{"visit TES-2026-000001: client.person_id: empty"}},
		{name: "real-looking person id outside production", opts: homecare.ValidateOptions{AllowTestHSAIDs: true, RequireTestPersonIDs: true},
			change: func(v *homecare.Visit) {
				v.Client = homecare.VisitClient{PersonID: other, PersonIDType: homecare.Samordningsnummer}
			},
			want: []string{"visit TES-2026-000001: client.person_id: not an official test number (refused outside production)"}},
		{name: "staff without id", opts: testRules, change: func(v *homecare.Visit) { v.Staff[0].HSAID = "" },
			want: []string{"visit TES-2026-000001: staff[0]: want hsa_id or staff_ref"}},
		{name: "staff ref only", opts: testRules, change: func(v *homecare.Visit) {
			v.Staff[0] = homecare.VisitStaff{StaffRef: "u-17", Role: homecare.RolePrimary}
		}},
		{name: "double staffed", opts: testRules, change: func(v *homecare.Visit) {
			v.Staff = append(v.Staff, homecare.VisitStaff{HSAID: "TSTNMT2321000156-1002", Role: homecare.RoleSecond})
		}},
		{name: "two primaries and a duplicate", opts: testRules, change: func(v *homecare.Visit) { v.Staff = append(v.Staff, v.Staff[0]) },
			want: []string{"visit TES-2026-000001: staff[1].hsa_id: listed twice", "visit TES-2026-000001: staff: want exactly one primary, have 2"}},
		{name: "no staff", opts: testRules, change: func(v *homecare.Visit) { v.Staff = nil },
			want: []string{"visit TES-2026-000001: staff: empty"}},
		{name: "bad enums from Go", opts: testRules, change: func(v *homecare.Visit) { v.Status = "done"; v.EndMethod = "" },
			want: []string{
				`visit TES-2026-000001: end_method: registration method: unknown value (want tag, lock, manual, outside_home)`,
				`visit TES-2026-000001: status: visit status: unknown value (want completed, declined, partially_declined, cancelled, in_progress)`,
			}},
		{name: "tag uid lower case", opts: testRules, change: func(v *homecare.Visit) { v.EndTagUID = "04a224b2c15e80" },
			want: []string{"visit TES-2026-000001: end_tag_uid: not canonical (want upper-case hex without separators)"}},
		{name: "insats rules", opts: testRules, change: func(v *homecare.Visit) {
			v.Insatser[0].DeclinedReason = "sov"
			v.Insatser[1].Code = ""
			v.Insatser[1].Minutes = minutes(-1)
		}, want: []string{
			"visit TES-2026-000001: insatser[0].declined_reason: set but declined is false",
			"visit TES-2026-000001: insatser[1].code: empty",
			"visit TES-2026-000001: insatser[1].minutes: want 0-1440",
		}},
		{name: "device clock reversed", opts: testRules, change: func(v *homecare.Visit) { v.DeviceEndAt = v.DeviceStartAt.Add(-time.Second) },
			want: []string{"visit TES-2026-000001: device_end_at: before device_start_at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := loadVisitFull(t)
			tt.change(&v)
			var got []string
			if err := v.ValidateWith(tt.opts); err != nil {
				got = strings.Split(err.Error(), "\n")
				if strings.Contains(err.Error(), v.Client.PersonID.Reveal()) && !v.Client.PersonID.IsZero() {
					t.Errorf("error leaks the person id: %v", err)
				}
			}
			slices.Sort(got)
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ValidateWith mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStockholm(t *testing.T) {
	t.Parallel()
	loc := homecare.Stockholm()
	if loc.String() != "Europe/Stockholm" || homecare.Stockholm() != loc {
		t.Fatalf("Stockholm() = %v, not loaded once", loc)
	}
	tests := []struct {
		in   time.Time
		want homecare.Date
	}{
		{time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), homecare.Date{Year: 2026, Month: 3, Day: 29}},  // CET +1
		{time.Date(2026, 3, 29, 21, 59, 0, 0, time.UTC), homecare.Date{Year: 2026, Month: 3, Day: 29}}, // CEST +2
		{time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC), homecare.Date{Year: 2026, Month: 3, Day: 30}},
		{time.Date(2026, 10, 25, 22, 59, 0, 0, time.UTC), homecare.Date{Year: 2026, Month: 10, Day: 25}}, // back to CET
		{time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC), homecare.Date{Year: 2026, Month: 10, Day: 26}},
	}
	for _, tt := range tests {
		if got := homecare.LocalDate(tt.in); got != tt.want {
			t.Errorf("LocalDate(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeTagUID(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, wantErr string }{
		{in: "04A224B2C15E80", want: "04A224B2C15E80"},
		{in: "04:a2:24:b2:c1:5e:80", want: "04A224B2C15E80"},
		{in: "04-a2-24-b2", want: "04A224B2"},
		{in: "04A224", wantErr: "tag uid: want 4 to 10 bytes of hex"},
		{in: "04A224B2C", wantErr: "tag uid: want 4 to 10 bytes of hex"},
		{in: "04A224B2G1", wantErr: "tag uid: want hex digits"},
	}
	for _, tt := range tests {
		got, err := homecare.NormalizeTagUID(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("NormalizeTagUID(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeTagUID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestEnumsRejectUnknown decodes each enum type from JSON.
func TestEnumsRejectUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dst  any
		good string
	}{
		{"provider kind", new(homecare.ProviderKind), "lov"},
		{"service scope", new(homecare.ServiceScope), "omvardnad"},
		{"status", new(homecare.Status), "active"},
		{"auth method", new(homecare.AuthMethod), "siths_card"},
		{"insats category", new(homecare.InsatsCategory), "trygghetslarm"},
		{"law", new(homecare.Law), "SoL"},
		{"payment mode", new(homecare.PaymentMode), "schablon"},
		{"tag tech", new(homecare.TagTech), "nfc"},
		{"registration method", new(homecare.RegistrationMethod), "outside_home"},
		{"visit status", new(homecare.VisitStatus), "partially_declined"},
		{"staff role", new(homecare.StaffRole), "second"},
		{"person id type", new(homecare.PersonIDType), "samordningsnummer"},
	}
	for _, tt := range tests {
		if err := json.Unmarshal([]byte(`"`+tt.good+`"`), tt.dst); err != nil {
			t.Errorf("%s: %q: %v", tt.name, tt.good, err)
		}
		if got := reflect.ValueOf(tt.dst).Elem().String(); got != tt.good {
			t.Errorf("%s: decoded %q, want %q", tt.name, got, tt.good)
		}
		if err := json.Unmarshal([]byte(`"Nope"`), tt.dst); err == nil {
			t.Errorf("%s: accepted an unknown value", tt.name)
		}
	}
}

// TestEntitiesJSON round-trips one of each party entity, to pin their snake_case shape.
func TestEntitiesJSON(t *testing.T) {
	t.Parallel()
	pid := homecare.OfficialTestPersonIDs()[0]
	c := homecare.Client{PersonID: pid, GivenName: "Test", FamilyName: "Testsson", Status: homecare.StatusActive,
		Address: homecare.Address{Street: "Testgatan 1", Postcode: "17000", City: "Solna"}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back homecare.Client
	if err := decodeStrict(t, b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back, cmp.Comparer(func(a, b homecare.PersonID) bool { return a == b })); diff != "" {
		t.Errorf("Client round trip (-want +got):\n%s", diff)
	}
	if back.PersonIDType() != homecare.Personnummer {
		t.Errorf("PersonIDType() = %q", back.PersonIDType())
	}
	for _, v := range []any{homecare.Municipality{}, homecare.Provider{}, homecare.ProviderUnit{}, homecare.Staff{}, homecare.InsatsType{}, homecare.Tag{}} {
		if _, err := json.Marshal(v); err != nil {
			t.Errorf("Marshal(%T): %v", v, err)
		}
	}
}
