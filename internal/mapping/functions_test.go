package mapping_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

// TestFunctions calls each registered function through an expression, the
// way mappings do, with the argument in $.v so missing values can be tested.
func TestFunctions(t *testing.T) {
	tests := []struct {
		call    string
		v       any // $.v; omitted when nil
		want    any // nil: the field is left out
		wantErr string
	}{
		{call: "personnummer(from('$.v'))", v: "19400104-2383", want: "194001042383"},
		{call: "personnummer(from('$.v'))", v: "400104-2383", want: "194001042383"},
		{call: "personnummer(from('$.v'))", v: "4001042383", want: "194001042383"},
		{call: "personnummer(from('$.v'))", v: "194001042383", want: "194001042383"},
		{call: "personnummer(from('$.v'))", v: "140168+2396", want: "191401682396"},
		{call: "personnummer(from('$.v'))", v: "19820706-2392", want: "198207062392"},
		{call: "personnummer(from('$.v'))", v: nil, want: nil},
		{call: "personnummer(from('$.v'))", v: "194001042384", wantErr: "personnummer: check digit does not match"},
		{call: "personnummer(from('$.v'))", v: "19400104238", wantErr: "personnummer: want 10 or 12 digits"},
		{call: "personnummer(from('$.v'))", v: "401304-2389", wantErr: "personnummer: no such date"},
		{call: "person_id_type(from('$.v'))", v: "191401682396", want: "samordningsnummer"},
		{call: "person_id_type(from('$.v'))", v: "198207072383", want: "personnummer"},
		{call: "hsaid(from('$.v'))", v: " TSTNMT2321000156-1024 ", want: "TSTNMT2321000156-1024"},
		{call: "hsaid(from('$.v'))", v: "SE2321000016-F835", want: "SE2321000016-F835"},
		{call: "hsaid(from('$.v'))", v: "SE2321000016-F835-ÅÄÖ", wantErr: "hsa-id:"},
		{call: "taguid(from('$.v'))", v: "04:a2:24:b2", want: "04A224B2"},
		{call: "taguid(from('$.v'))", v: "04-zz", wantErr: "taguid: not hexadecimal"},
		{call: "date(from('$.v'))", v: "2026-11-23", want: "2026-11-23"},
		{call: "date(from('$.v'))", v: "20261123", want: "2026-11-23"},
		{call: "date(from('$.v'))", v: "2026-11-23T23:30:00Z", want: "2026-11-24"},
		{call: "date(from('$.v'), '02.01.2006')", v: "23.11.2026", want: "2026-11-23"},
		{call: "date(from('$.v'))", v: "23/11", wantErr: "date: not a recognised date"},
		{call: "datetime(from('$.v'))", v: "2026-11-23 08:02:00", want: "2026-11-23T07:02:00Z"},
		{call: "datetime(from('$.v'))", v: "2026-06-23T08:02", want: "2026-06-23T06:02:00Z"},
		{call: "datetime(from('$.v'))", v: "2026-06-23T08:02:00.5+02:00", want: "2026-06-23T06:02:00Z"},
		{call: "datetime(from('$.v'))", v: "2026-03-29 02:30", want: "2026-03-29T01:30:00Z"}, // in the spring-forward gap
		{call: "datetime(from('$.v'), '02.01.2006 15.04')", v: "23.11.2026 08.02", want: "2026-11-23T07:02:00Z"},
		{call: "datetime(from('$.v'))", v: "yesterday", wantErr: "datetime: not a recognised date and time"},
		{call: "localdate(from('$.v'))", v: "2026-11-23T23:30:00Z", want: "2026-11-24"},
		// The DST nights: the autumn hour 02:00-02:59 twice, the spring one never.
		{call: "earliest(from('$.v'))", v: "2026-10-25 02:40", want: "2026-10-25T00:40:00Z"},
		{call: "latest(from('$.v'))", v: "2026-10-25 02:40", want: "2026-10-25T01:40:00Z"},
		{call: "latest(from('$.v'))", v: "2026-10-25T02:10:30", want: "2026-10-25T01:10:30Z"},
		{call: "earliest(from('$.v'))", v: "2026-10-25T02:40:00+01:00", want: "2026-10-25T01:40:00Z"},
		{call: "latest(from('$.v'))", v: "2026-10-25T02:40:00+02:00", want: "2026-10-25T00:40:00Z"},
		{call: "earliest(from('$.v'))", v: "2026-10-25 03:00", want: "2026-10-25T02:00:00Z"},
		{call: "latest(from('$.v'))", v: "2026-10-25 01:59", want: "2026-10-24T23:59:00Z"},
		{call: "earliest(from('$.v'))", v: "2026-11-23 08:02", want: "2026-11-23T07:02:00Z"},
		{call: "latest(from('$.v'))", v: "2026-06-23 02:30", want: "2026-06-23T00:30:00Z"},
		{call: "earliest(from('$.v'))", v: "2026-03-29 02:30", wantErr: "earliest: local time that does not exist"},
		{call: "latest(from('$.v'))", v: "2026-03-29T02:00:00", wantErr: "latest: local time that does not exist"},
		{call: "earliest(from('$.v'))", v: "2026-03-29T02:30:00+01:00", want: "2026-03-29T01:30:00Z"},
		{call: "earliest(from('$.v'))", v: "2026-03-29 03:00", want: "2026-03-29T01:00:00Z"},
		{call: "earliest(from('$.v'))", v: "soon", wantErr: "earliest: not a recognised date and time"},
		{call: "ambiguous(from('$.v'))", v: "2026-10-25 02:00", want: true},
		{call: "ambiguous(from('$.v'))", v: "2026-10-25T02:59:59", want: true},
		{call: "ambiguous(from('$.v'))", v: "2026-10-25 03:00", want: false},
		{call: "ambiguous(from('$.v'))", v: "2026-10-25T02:30:00+02:00", want: false},
		{call: "ambiguous(from('$.v'))", v: "2026-03-29 02:30", want: false},
		{call: "ambiguous(from('$.v'))", v: "soon", want: false},
		{call: "minutes(from('$.v'))", v: "45", want: 45},
		{call: "minutes(from('$.v'))", v: 45.0, want: 45},
		{call: "minutes(from('$.v'))", v: "PT1H30M", want: 90},
		{call: "minutes(from('$.v'))", v: "PT90S", want: 2},
		{call: "minutes(from('$.v'))", v: "1:30", want: 90},
		{call: "minutes(from('$.v'))", v: "-5", wantErr: "minutes: negative duration"},
		{call: "minutes(from('$.v'))", v: "ett", wantErr: "minutes: not a number of minutes"},
		{call: "minutes('2026-11-23 08:02', '2026-11-23 08:34:40')", want: 33},
		{call: "minutes('2026-10-25 01:30', '2026-10-25 03:30')", want: 180}, // autumn DST night has 25 hours
		{call: "minutes('2026-10-25 02:40', '2026-10-25 02:10')", want: 30},  // 02:40 summer time to 02:10 winter time
		{call: "minutes('2026-10-25 02:10', '2026-10-25 02:40')", want: 90},  // the repeated hour read as long as it can be
		{call: "minutes('2026-10-25T02:10:00+01:00', '2026-10-25T02:40:00+01:00')", want: 30},
		{call: "minutes('2026-03-29 02:30', '2026-03-29 03:10')", wantErr: "minutes: start: local time that does not exist"},
		{call: "lookup('t', from('$.v'))", v: "A", want: "alpha"},
		{call: "lookup('t', from('$.v'))", v: 1, want: true},
		{call: "lookup('t', from('$.v'))", v: "Z", wantErr: `lookup t: unknown key (known: 1, A)`},
		{call: "lookup('t', from('$.v'), 'other')", v: "Z", want: "other"},
		{call: "default(from('$.v'), 'x')", v: "", want: "x"},
		{call: "default(from('$.v'), 'x')", v: "y", want: "y"},
		{call: "upper(from('$.v'))", v: "åsa", want: "ÅSA"},
		{call: "lower(from('$.v'))", v: "ÅSA", want: "åsa"},
		{call: "trim(from('$.v'))", v: " a ", want: "a"},
		{call: "upper(from('$.v'))", v: nil, want: nil},
		{call: "present(from('$.v'))", v: "", want: false},
		{call: "list(from('$.v'), '|')", v: " a | |b", want: []any{"a", "b"}},
	}
	for _, tt := range tests {
		name := tt.call
		if tt.v != nil {
			name += " with " + strings.TrimSpace(jsonText(t, tt.v))
		}
		t.Run(name, func(t *testing.T) {
			src := "from: {format: json}\nto: {format: json}\nlookups: {t: {A: alpha, 1: true}}\nfields:\n  - to: out\n    expr: " + jsonText(t, tt.call) + "\n"
			m, err := mapping.Parse("test/fn", []byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			in := map[string]any{}
			if tt.v != nil {
				in["v"] = tt.v
			}
			got, err := m.ApplyValue(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if s, ok := tt.v.(string); ok && len(s) > 8 && strings.Contains(err.Error(), s) {
					t.Errorf("error %q quotes the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyValue: %v", err)
			}
			if d := cmp.Diff(tt.want, got.(map[string]any)["out"]); d != "" {
				t.Errorf("mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFunctionsAreDocumented(t *testing.T) {
	for _, f := range mapping.Functions() {
		if f.Name == "" || !strings.HasPrefix(f.Signature, f.Name+"(") || len(f.Doc) < 10 {
			t.Errorf("function %+v is not documented", f)
		}
	}
}
