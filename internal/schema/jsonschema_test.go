package schema_test

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

const visitSchema = "../../schemas/canonical/visit.schema.json"

func visitJSON(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../../schemas/canonical/testdata/valid/visit_full.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJSONSchemaValidate(t *testing.T) {
	j, err := schema.LoadJSONSchema(visitSchema)
	if err != nil {
		t.Fatal(err)
	}
	full := visitJSON(t)
	tests := []struct {
		name string
		body string
		want []schema.Problem // nil means valid
	}{
		{"valid", full, nil},
		{
			name: "bad formats and pattern together",
			body: strings.NewReplacer(`"2026-11-23T07:02:00Z"`, `"2026-11-23 07:02"`, `"local_date": "2026-11-23"`, `"local_date": "2026-02-30"`, `"194001042383"`, `"19400104-2383"`).Replace(full),
			want: []schema.Problem{
				{Path: "/client/person_id", Reason: "does not match pattern '^[0-9]{12}$'"},
				{Path: "/local_date", Reason: "not a valid date"},
				{Path: "/start_at", Reason: "not a valid date-time"},
			},
		},
		{
			name: "missing client and unknown property",
			body: strings.Replace(full, `"client": {"person_id": "194001042383", "person_id_type": "personnummer"},`, `"colour": "blue",`, 1),
			want: []schema.Problem{
				{Path: "", Reason: "additional properties 'colour' not allowed"},
				{Path: "", Reason: "missing property 'client'"},
			},
		},
		{"invalid UTF-8", "{\"a\": \"G\xe5rd\"}", []schema.Problem{{Reason: "invalid UTF-8 at byte offset 8"}}},
		{"malformed", `{"a": 1,}`, []schema.Problem{{Reason: "invalid JSON at byte offset 9: invalid character '}' looking for beginning of object key string"}}},
		{"truncated", `{"a": `, []schema.Problem{{Reason: "invalid JSON at byte offset 6: unexpected end of input"}}},
		{"trailing data", `{} {}`, []schema.Problem{{Reason: "invalid JSON at byte offset 4: data after the top-level value"}}},
		{"empty", ``, []schema.Problem{{Reason: "invalid JSON: document is empty"}}},
		// 100,000 values pass the count (and fail the schema); one more is
		// refused before it is decoded; commas and brackets in strings
		// are not values.
		{"at the value limit", `[` + strings.Repeat(`0,`, schema.MaxJSONValues-2) + `0]`, []schema.Problem{{Reason: "got array, want object"}}},
		{"over the value limit", `[` + strings.Repeat(`0,`, schema.MaxJSONValues-1) + `0]`,
			[]schema.Problem{{Reason: "more than 100000 JSON values (the limit, reached at byte offset 199998): refused before validation"}}},
		{"separators in strings", `["` + strings.Repeat(`,[{\",`, schema.MaxJSONValues) + `"]`, []schema.Problem{{Reason: "got array, want object"}}},
		// A repeated key is refused by pointer, whichever value the
		// validator would have read: the schema caps unit_id at 64.
		{"duplicate key, long value first", strings.Replace(full, `"unit_id": "norr-team-1"`, `"unit_id": "`+strings.Repeat("x", 5000)+`", "unit_id": "norr-team-1"`, 1),
			[]schema.Problem{{Path: "/unit_id", Reason: "duplicate key"}}},
		{"duplicate key, long value last", strings.Replace(full, `"unit_id": "norr-team-1"`, `"unit_id": "norr-team-1", "unit_id": "`+strings.Repeat("x", 5000)+`"`, 1),
			[]schema.Problem{{Path: "/unit_id", Reason: "duplicate key"}}},
		{"nested duplicate key", strings.Replace(full, `"person_id_type": "personnummer"`, `"person_id_type": "personnummer", "person_id": "194001042383"`, 1),
			[]schema.Problem{{Path: "/client/person_id", Reason: "duplicate key"}}},
		{"duplicate key by escape", strings.Replace(full, `"unit_id": "norr-team-1"`, `"unit_id": "norr-team-1", "unit\u005fid": "x"`, 1),
			[]schema.Problem{{Path: "/unit_id", Reason: "duplicate key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := j.Validate([]byte(tt.body))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *schema.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v (%T), want *schema.ValidationError", err, err)
			}
			// Keyword order inside one object is not specified; sort.
			got := append([]schema.Problem(nil), ve.Problems...)
			sortProblems(got)
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func sortProblems(ps []schema.Problem) {
	slices.SortFunc(ps, func(a, b schema.Problem) int {
		return cmp.Compare(a.Path+"\x00"+a.Reason, b.Path+"\x00"+b.Reason)
	})
}

func TestJSONSchemaErrorMessage(t *testing.T) {
	j, err := schema.LoadJSONSchema(visitSchema)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(visitJSON(t), `"2026-11-23T07:02:00Z"`, `"igår"`, 1)
	want := "schema ../../schemas/canonical/visit.schema.json: at '/start_at': not a valid date-time"
	if err := j.Validate([]byte(body)); err == nil || err.Error() != want {
		t.Errorf("Validate error = %v, want %q", err, want)
	}
}

// TestJSONSchemaRefs resolves $ref to a sibling file and refuses a
// network $ref without contacting the server.
func TestJSONSchemaRefs(t *testing.T) {
	srv, hits := countingServer(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("common.schema.json", `{"$defs": {"minutes": {"type": "integer", "minimum": 0}}}`)
	sib := write("a.schema.json", `{"type": "object", "properties": {"m": {"$ref": "common.schema.json#/$defs/minutes"}}}`)
	j, err := schema.LoadJSONSchema(sib)
	if err != nil {
		t.Fatalf("LoadJSONSchema with sibling $ref: %v", err)
	}
	if err := j.Validate([]byte(`{"m": 3}`)); err != nil {
		t.Errorf("Validate valid = %v", err)
	}
	if err := j.Validate([]byte(`{"m": -1}`)); err == nil || !strings.Contains(err.Error(), "at '/m': below the minimum 0") {
		t.Errorf("Validate invalid = %v, want minimum problem at /m", err)
	}

	netRef := write("net.schema.json", `{"$ref": "`+srv.URL+`/x.schema.json"}`)
	if _, err := schema.LoadJSONSchema(netRef); err == nil {
		t.Error("LoadJSONSchema with a network $ref succeeded, want error")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("loopback server saw %d requests, want 0", n)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		path    string
		wantErr string
		want    any
	}{
		{tesXSD, "", &schema.XSD{}},
		{visitSchema, "", &schema.JSONSchema{}},
		{"x.yaml", "load schema x.yaml: unknown extension (want .xsd, .schema.json or .json)", nil},
		{"missing.schema.json", "load json schema missing.schema.json: ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			v, err := schema.Load(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("Load(%q) error = %v, want prefix %q", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.path, err)
			}
			switch tt.want.(type) {
			case *schema.XSD:
				if _, ok := v.(*schema.XSD); !ok {
					t.Errorf("Load(%q) = %T, want *schema.XSD", tt.path, v)
				}
			case *schema.JSONSchema:
				if _, ok := v.(*schema.JSONSchema); !ok {
					t.Errorf("Load(%q) = %T, want *schema.JSONSchema", tt.path, v)
				}
			}
		})
	}
}

// TestValidateConcurrent shares one compiled schema of each kind across
// many goroutines with a mix of valid and invalid bodies. Run with -race.
func TestValidateConcurrent(t *testing.T) {
	xsd := loadXSD(t, tesXSD)
	js, err := schema.LoadJSONSchema(visitSchema)
	if err != nil {
		t.Fatal(err)
	}
	validXML, err := os.ReadFile("../../schemas/tes/testdata/valid/visit_full.xml")
	if err != nil {
		t.Fatal(err)
	}
	invalidXML, err := os.ReadFile("../../schemas/tes/testdata/invalid/visit_bad_values.xml")
	if err != nil {
		t.Fatal(err)
	}
	validJSON := []byte(visitJSON(t))
	invalidJSON := []byte(strings.Replace(visitJSON(t), `"tes"`, `""`, 1))
	cases := []struct {
		v         schema.Validator
		body      []byte
		wantProbs int
	}{
		{xsd, validXML, 0}, {xsd, invalidXML, 3}, {js, validJSON, 0}, {js, invalidJSON, 1},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 40; g++ {
		wg.Go(func() {
			for i := 0; i < 25; i++ {
				c := cases[(g+i)%len(cases)]
				err := c.v.Validate(c.body)
				var ve *schema.ValidationError
				switch {
				case c.wantProbs == 0 && err != nil:
					errs <- err.Error()
				case c.wantProbs > 0 && (!errors.As(err, &ve) || len(ve.Problems) != c.wantProbs):
					errs <- "unexpected result: " + errString(err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
