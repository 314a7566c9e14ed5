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
		// Issue 10: what should be flagged is no longer refused; what cannot be a visit still is.
		{name: "25-hour visit is valid (flagged too_long by Check)", opts: testRules, change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(25 * time.Hour)
			v.DurationMinutes = 1500
		}},
		{name: "seven days is the longest", opts: testRules, change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(7 * 24 * time.Hour)
			v.DurationMinutes = 10080
		}},
		{name: "longer than seven days", opts: testRules, change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(7*24*time.Hour + time.Minute)
			v.DurationMinutes = 10081
		}, want: []string{"visit TES-2026-000001: end_at: more than 7 days after start_at"}},
		{name: "insats minutes beyond the visit are valid (flagged insats_overrun by Check)", opts: testRules, change: func(v *homecare.Visit) {
			v.Insatser[0].Minutes = minutes(45)
			v.Insatser[1].Minutes = minutes(60)
		}},
		{name: "partly declined with a reason, double staffed", opts: testRules, change: func(v *homecare.Visit) {
			v.Status = homecare.VisitPartiallyDeclined
			v.Insatser[0].DoubleStaffed = true
			v.Insatser[1] = homecare.VisitInsats{Code: "FRUKOST", Declined: true, DeclinedReason: "SOV"}
			v.Staff = append(v.Staff, homecare.VisitStaff{StaffRef: "LOV-0017", Role: homecare.RoleSecond})
		}},
		{name: "staff ref twice", opts: testRules, change: func(v *homecare.Visit) {
			v.Staff = []homecare.VisitStaff{{StaffRef: "LOV-0017", Role: homecare.RolePrimary}, {StaffRef: "LOV-0017", Role: homecare.RoleSecond}}
		}, want: []string{"visit TES-2026-000001: staff[1].staff_ref: listed twice"}},
		{name: "version and flags", opts: testRules, change: func(v *homecare.Visit) {
			v.Version = 3
			v.Flags = []homecare.VisitFlag{homecare.FlagTooLong, homecare.FlagLate}
		}},
		{name: "bad version and flags from Go", opts: testRules, change: func(v *homecare.Visit) {
			v.Version = -1
			v.Flags = []homecare.VisitFlag{"doubtful", homecare.FlagLate, homecare.FlagLate}
		}, want: []string{
			"visit TES-2026-000001: version: negative",
			"visit TES-2026-000001: flags[0]: visit flag: unknown value (want too_long, insats_overrun, ambiguous_time, device_clock, late, foreign_tag, unknown_tag, staff_overlap, no_order, future)",
			"visit TES-2026-000001: flags[2]: listed twice",
		}},
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

// TestVisitCheck is one row per flag Check computes, each at and just past its limit. The
// fixture's visit is 08:02-08:34 local on 23 November 2026 (07:02-07:34 UTC), with 20 + 12
// insats minutes and a phone clock a few seconds off.
func TestVisitCheck(t *testing.T) {
	t.Parallel()
	minutes := func(n int) *int { return &n }
	end := time.Date(2026, 11, 23, 7, 34, 0, 0, time.UTC)
	tests := []struct {
		name     string
		change   func(v *homecare.Visit)
		received time.Time
		want     []homecare.VisitFlag
	}{
		{name: "ordinary visit, received at its end", received: end},
		{name: "ordinary visit, no receipt time", received: time.Time{}},
		{name: "16 hours is not too long", change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(16 * time.Hour)
			v.DeviceEndAt = v.EndAt
		}},
		{name: "25 hours is too long", change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(25 * time.Hour)
			v.DeviceEndAt = v.EndAt
		}, want: []homecare.VisitFlag{homecare.FlagTooLong}},
		{name: "105 insats minutes on a 10-minute visit", change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(10 * time.Minute)
			v.DeviceEndAt = v.EndAt
			v.Insatser[0].Minutes, v.Insatser[1].Minutes = minutes(45), minutes(60)
		}, want: []homecare.VisitFlag{homecare.FlagInsatsOverrun}},
		{name: "insats minutes within the tolerance", change: func(v *homecare.Visit) {
			v.Insatser[0].Minutes = minutes(22) // 22 + 12 = 34 on a 32-minute visit
		}},
		{name: "insats minutes past the tolerance", change: func(v *homecare.Visit) { v.Insatser[0].Minutes = minutes(23) },
			want: []homecare.VisitFlag{homecare.FlagInsatsOverrun}},
		{name: "double-staffed insatser count once", change: func(v *homecare.Visit) {
			v.Staff = append(v.Staff, homecare.VisitStaff{StaffRef: "LOV-0017", Role: homecare.RoleSecond})
			v.Insatser[0].DoubleStaffed, v.Insatser[1].DoubleStaffed = true, true
		}},
		{name: "declined insatser are not time spent", change: func(v *homecare.Visit) {
			v.Insatser = append(v.Insatser, homecare.VisitInsats{Code: "STAD", Minutes: minutes(60), Declined: true})
		}},
		{name: "insatser without minutes", change: func(v *homecare.Visit) { v.Insatser[0].Minutes, v.Insatser[1].Minutes = nil, nil }},
		{name: "phone clock 15 minutes off is tolerated", change: func(v *homecare.Visit) { v.DeviceStartAt = v.StartAt.Add(-15 * time.Minute) }},
		{name: "phone start 16 minutes early", change: func(v *homecare.Visit) { v.DeviceStartAt = v.StartAt.Add(-16 * time.Minute) },
			want: []homecare.VisitFlag{homecare.FlagDeviceClock}},
		{name: "phone end 16 minutes late", change: func(v *homecare.Visit) { v.DeviceEndAt = v.EndAt.Add(16 * time.Minute) },
			want: []homecare.VisitFlag{homecare.FlagDeviceClock}},
		{name: "phone clock ahead of the receipt", received: end.Add(10 * time.Minute), change: func(v *homecare.Visit) {
			// start_at and end_at follow the phone too, so only the receipt shows it.
			v.StartAt, v.EndAt = v.StartAt.Add(30*time.Minute), v.EndAt.Add(30*time.Minute)
			v.DeviceStartAt, v.DeviceEndAt = v.StartAt, v.EndAt
		}, want: []homecare.VisitFlag{homecare.FlagDeviceClock, homecare.FlagFutureTimestamps}},
		{name: "no phone times", change: func(v *homecare.Visit) { v.DeviceStartAt, v.DeviceEndAt = time.Time{}, time.Time{} }, received: end},
		{name: "ending 5 minutes after the receipt is tolerated", received: end.Add(-5 * time.Minute)},
		{name: "ending 6 minutes after the receipt is future", received: end.Add(-6 * time.Minute),
			want: []homecare.VisitFlag{homecare.FlagFutureTimestamps}},
		{name: "starting after the receipt is future", received: end.Add(-40 * time.Minute), change: func(v *homecare.Visit) {
			v.DeviceStartAt, v.DeviceEndAt = time.Time{}, time.Time{}
		}, want: []homecare.VisitFlag{homecare.FlagFutureTimestamps}},
		{name: "received 48 hours after the end is not late", received: end.Add(48 * time.Hour)},
		{name: "received 48 hours and a minute after the end is late", received: end.Add(48*time.Hour + time.Minute),
			want: []homecare.VisitFlag{homecare.FlagLate}},
		{name: "several, in order", received: end.Add(72 * time.Hour), change: func(v *homecare.Visit) {
			v.EndAt = v.StartAt.Add(17 * time.Hour)
			v.DeviceEndAt = v.EndAt.Add(time.Hour)
			v.Insatser[0].Minutes = minutes(17 * 60)
		}, want: []homecare.VisitFlag{homecare.FlagTooLong, homecare.FlagInsatsOverrun, homecare.FlagDeviceClock, homecare.FlagLate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := loadVisitFull(t)
			if tt.change != nil {
				tt.change(&v)
			}
			before := slices.Clone(v.Flags)
			got := v.Check(tt.received)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check mismatch (-want +got):\n%s", diff)
			}
			if !slices.Equal(before, v.Flags) {
				t.Errorf("Check changed v.Flags from %v to %v", before, v.Flags)
			}
		})
	}
}

// TestVisitRecomputeFlags: what a sender says is doubtful is not taken; ambiguous_time is
// kept only where a time can be ambiguous.
func TestVisitRecomputeFlags(t *testing.T) {
	t.Parallel()
	autumn := time.Date(2026, 10, 25, 0, 40, 0, 0, time.UTC) // 02:40 CEST, the first of the two
	tests := []struct {
		name   string
		change func(v *homecare.Visit)
		want   []homecare.VisitFlag
	}{
		{name: "a sender's flags are dropped", change: func(v *homecare.Visit) {
			v.Flags = []homecare.VisitFlag{homecare.FlagLate, homecare.FlagNoOrder, homecare.FlagTooLong, "made_up"}
		}},
		{name: "an empty list hides nothing", change: func(v *homecare.Visit) {
			v.Flags = []homecare.VisitFlag{}
			v.EndAt = v.StartAt.Add(25 * time.Hour)
			v.DeviceEndAt = v.EndAt
		}, want: []homecare.VisitFlag{homecare.FlagTooLong}},
		{name: "ambiguous_time outside the repeated hour is dropped", change: func(v *homecare.Visit) {
			v.Flags = []homecare.VisitFlag{homecare.FlagAmbiguousTime}
		}},
		{name: "ambiguous_time in the repeated hour is kept", change: func(v *homecare.Visit) {
			v.StartAt, v.EndAt = autumn, autumn.Add(30*time.Minute)
			v.DeviceStartAt, v.DeviceEndAt = v.StartAt, v.EndAt
			v.Flags = []homecare.VisitFlag{homecare.FlagLate, homecare.FlagAmbiguousTime}
		}, want: []homecare.VisitFlag{homecare.FlagAmbiguousTime}},
		{name: "ambiguous_time by the end alone, with too_long before it", change: func(v *homecare.Visit) {
			v.StartAt, v.EndAt = autumn.Add(-20*time.Hour), autumn.Add(30*time.Minute)
			v.DeviceStartAt, v.DeviceEndAt = v.StartAt, v.EndAt
			v.Flags = []homecare.VisitFlag{homecare.FlagAmbiguousTime}
		}, want: []homecare.VisitFlag{homecare.FlagTooLong, homecare.FlagAmbiguousTime}},
		{name: "not claimed, not added", change: func(v *homecare.Visit) {
			v.StartAt, v.EndAt = autumn, autumn.Add(30*time.Minute)
			v.DeviceStartAt, v.DeviceEndAt = v.StartAt, v.EndAt
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := loadVisitFull(t)
			tt.change(&v)
			v.RecomputeFlags(time.Time{})
			if diff := cmp.Diff(tt.want, v.Flags); diff != "" {
				t.Errorf("flags mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVisitAddFlags(t *testing.T) {
	t.Parallel()
	var v homecare.Visit
	v.AddFlags(homecare.FlagLate)
	v.AddFlags(homecare.FlagFutureTimestamps, homecare.FlagTooLong, homecare.FlagLate)
	want := []homecare.VisitFlag{homecare.FlagTooLong, homecare.FlagLate, homecare.FlagFutureTimestamps}
	if diff := cmp.Diff(want, v.Flags); diff != "" {
		t.Errorf("AddFlags mismatch (-want +got):\n%s", diff)
	}
}

// TestLocalInstants covers both DST nights of 2026 in Europe/Stockholm (summer time from
// 29 March 01:00 UTC to 25 October 01:00 UTC).
func TestLocalInstants(t *testing.T) {
	t.Parallel()
	utc := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, time.UTC) }
	tests := []struct {
		name string
		wall time.Time
		want []time.Time
	}{
		{"winter", utc(11, 23, 8, 2), []time.Time{utc(11, 23, 7, 2)}},
		{"summer", utc(6, 15, 7, 0), []time.Time{utc(6, 15, 5, 0)}},
		{"spring night before the gap", utc(3, 29, 1, 59), []time.Time{utc(3, 29, 0, 59)}},
		{"spring gap start", utc(3, 29, 2, 0), nil},
		{"spring gap", utc(3, 29, 2, 30), nil},
		{"spring night after the gap", utc(3, 29, 3, 0), []time.Time{utc(3, 29, 1, 0)}},
		{"autumn night before the repeat", utc(10, 25, 1, 59), []time.Time{utc(10, 24, 23, 59)}},
		{"autumn repeat start", utc(10, 25, 2, 0), []time.Time{utc(10, 25, 0, 0), utc(10, 25, 1, 0)}},
		{"autumn repeat", utc(10, 25, 2, 40), []time.Time{utc(10, 25, 0, 40), utc(10, 25, 1, 40)}},
		{"autumn night after the repeat", utc(10, 25, 3, 0), []time.Time{utc(10, 25, 2, 0)}},
		{"the location of wall is ignored", time.Date(2026, 10, 25, 2, 40, 0, 0, time.FixedZone("X", 5*3600)),
			[]time.Time{utc(10, 25, 0, 40), utc(10, 25, 1, 40)}},
	}
	for _, tt := range tests {
		got := homecare.LocalInstants(tt.wall)
		if !slices.EqualFunc(got, tt.want, time.Time.Equal) {
			t.Errorf("%s: LocalInstants(%s) = %v, want %v", tt.name, tt.wall.Format("2006-01-02 15:04"), got, tt.want)
		}
		for _, in := range got {
			if want := len(got) > 1; homecare.RepeatedLocalTime(in) != want {
				t.Errorf("%s: RepeatedLocalTime(%v) = %v, want %v", tt.name, in, !want, want)
			}
		}
	}
	if homecare.RepeatedLocalTime(time.Time{}) {
		t.Error("RepeatedLocalTime(zero) = true")
	}
}
