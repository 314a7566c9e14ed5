package mapping_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

const head = "from: {format: json}\nto: {format: json}\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every line must appear in the joined error
	}{
		{
			name: "unknown keys everywhere are all reported with lines",
			yaml: head + "fieldz: []\nfields:\n  - {to: a, from: $.a, requird: true}\n",
			want: []string{
				"test/m.yaml:3: fieldz: unknown key",
				"test/m.yaml:5: fields[0].requird: unknown key",
			},
		},
		{
			name: "missing sections",
			yaml: "description: x\n",
			want: []string{"test/m.yaml:1: from: is required", "test/m.yaml:1: to: is required", "test/m.yaml:1: fields: is required"},
		},
		{
			name: "bad formats",
			yaml: "from: {format: yaml, delimiter: ';'}\nto: {format: csv}\nfields: [{to: a, value: 1}]\n",
			want: []string{`test/m.yaml:1: from.format: unknown format "yaml"`, `test/m.yaml:2: to.format: unknown format "csv"`},
		},
		{
			name: "csv options on json input",
			yaml: "from: {format: json, delimiter: ';'}\nto: {format: json}\nfields: [{to: a, value: 1}]\n",
			want: []string{"test/m.yaml:1: from.delimiter: applies only to format csv"},
		},
		{
			name: "unknown charset",
			yaml: "from: {format: csv, charset: ebcdic}\nto: {format: json}\nfields: [{to: a, value: 1}]\n",
			want: []string{`test/m.yaml:1: from.charset: charset "ebcdic" is not supported (supported: UTF-8, US-ASCII, ISO-8859-1 or Windows-1252)`},
		},
		{
			name: "charset on xml input",
			yaml: "from: {format: xml, charset: windows-1252}\nto: {format: json}\nfields: [{to: a, value: 1}]\n",
			want: []string{"test/m.yaml:1: from.charset: applies only to format csv"},
		},
		{
			name: "two sources",
			yaml: head + "fields:\n  - {to: a, value: 1, from: $.a}\n",
			want: []string{"fields[0]: needs exactly one of value, from, expr or fields (has 2)"},
		},
		{
			name: "bad path and expression",
			yaml: head + "fields:\n  - {to: a, from: visitId}\n  - {to: b, expr: 'upper(from(\"$.x\")'}\n",
			want: []string{`test/m.yaml:4: fields[0].from: path "visitId": must start with $`, "test/m.yaml:5: fields[1].expr: expression:"},
		},
		{
			name: "unknown function and lookup table",
			yaml: head + "lookups: {method: {NFC: tag}}\nfields:\n  - {to: a, from: $.a, fn: personummer}\n  - {to: b, from: $.b, fn: 'lookup(\"metod\", value)'}\n  - {to: c, from: $.c, fn: lookup}\n",
			want: []string{
				`fields[0].fn: unknown function "personummer"`,
				`fields[1].fn: lookup: no table "metod" (tables: method)`,
				"fields[2].fn: lookup takes 2 arguments",
			},
		},
		{
			name: "from needs a literal path",
			yaml: head + "fields:\n  - {to: a, expr: 'from(\"$.\" + \"a\")'}\n",
			want: []string{`fields[0].expr: from takes one path in quotes`},
		},
		{
			name: "output conflicts",
			yaml: head + "fields:\n  - {to: a, value: 1}\n  - {to: a.b, value: 2}\n  - {to: c, value: 1}\n  - {to: c, value: 2}\n",
			want: []string{"test/m.yaml:5: output a is already written by the field at line 4", "test/m.yaml:7: output c is already written by the field at line 6"},
		},
		{
			name: "type and default",
			yaml: head + "fields:\n  - {to: a, from: $.a, type: integer}\n  - {to: b, from: $.b, type: int, default: many}\n",
			want: []string{`fields[0].type: unknown type "integer"`, "fields[1].default: type int: not a whole number"},
		},
		{
			name: "attributes need xml output",
			yaml: head + "fields:\n  - {to: '@id', from: $.id}\n",
			want: []string{"fields[0].to: @id: attributes need xml output"},
		},
		{
			name: "xml output needs a root",
			yaml: "from: {format: json}\nto: {format: xml}\nfields: [{to: a, value: 1}]\n",
			want: []string{"to.root: is required for xml output"},
		},
		{
			name: "not YAML",
			yaml: "fields: [\n",
			want: []string{"test/m.yaml:1: did not find expected"},
		},
		{
			name: "aliases are refused",
			yaml: head + "lookups: {a: &t {x: 1}, b: *t}\nfields: [{to: a, value: 1}]\n",
			want: []string{"lookups.b: must be a non-empty mapping"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapping.Parse("test/m", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error lacks %q; got:\n%v", w, err)
				}
			}
			var pe *mapping.ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error is %T, want it to hold a *mapping.ParseError", err)
			}
		})
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		mapping string
		input   string
		want    string
		wantErr string
	}{
		{
			name:    "constants of every type, nested paths, declaration order",
			mapping: head + "fields:\n  - {to: z, value: s}\n  - {to: a.b.c, value: 1}\n  - {to: a.d, value: true}\n  - {to: l, value: [1, x]}\n  - {to: m, value: {k: 2.5}}\n",
			input:   `{}`,
			want:    `{"z":"s","a":{"b":{"c":1},"d":true},"l":[1,"x"],"m":{"k":2.5}}`,
		},
		{
			name:    "missing optional values and empty objects are left out",
			mapping: head + "fields:\n  - {to: a.b, from: $.x}\n  - {to: c, from: $.y}\n  - {to: d, from: $.z}\n",
			input:   `{"y":null,"z":""}`,
			want:    `{}`,
		},
		{
			name:    "default and type",
			mapping: head + "fields:\n  - {to: a, from: $.a, default: 5}\n  - {to: b, from: $.b, type: int}\n  - {to: c, from: $.c, type: bool}\n  - {to: d, from: $.d, type: string}\n  - {to: e, from: $.e, type: number}\n",
			input:   `{"b":"42","c":"ja","d":12,"e":"1.5"}`,
			want:    `{"a":5,"b":42,"c":true,"d":"12","e":1.5}`,
		},
		{
			name:    "wildcard paths give lists and fn applies per element",
			mapping: head + "fields:\n  - {to: codes, from: '$.items[*].code', fn: upper}\n  - {to: first, from: '$.items[0].code'}\n  - {to: quoted, from: \"$['odd key']\"}\n",
			input:   `{"items":[{"code":"a"},{"code":null},{"code":"b"}],"odd key":"x"}`,
			want:    `{"codes":["A","B"],"first":"a","quoted":"x"}`,
		},
		{
			name:    "each with fields, each with a single value, append and when",
			mapping: head + "fields:\n  - to: rows\n    each: $.r[*]\n    fields:\n      - {to: n, from: $.n, type: int}\n  - {to: ns, each: '$.r[*]', from: $.n}\n  - to: who[]\n    fields: [{to: role, value: primary}, {to: id, from: $.p}]\n  - to: who[]\n    when: present(from(\"$.s\"))\n    fields: [{to: role, value: second}, {to: id, from: $.s}]\n",
			input:   `{"r":[{"n":"1"},{"n":"2"}],"p":"A"}`,
			want:    `{"rows":[{"n":1},{"n":2}],"ns":["1","2"],"who":[{"role":"primary","id":"A"}]}`,
		},
		{
			name:    "group with when shares a prefix",
			mapping: head + "fields:\n  - to: c\n    when: from(\"$.k\") == \"y\"\n    fields: [{to: a, value: 1}, {to: b, from: $.b}]\n",
			input:   `{"k":"n","b":2}`,
			want:    `{}`,
		},
		{
			name:    "expressions see value, from, lookups and builtins",
			mapping: head + "lookups: {m: {A: alpha}}\nfields:\n  - {to: a, from: $.k, fn: 'lookup(\"m\", value) + \"!\"'}\n  - {to: b, expr: 'len(from(\"$.list\")) * 2'}\n  - {to: c, expr: 'lookup(\"m\", \"Q\", \"fallback\")'}\n  - {to: d, expr: 'from(\"$.obj\")'}\n",
			input:   `{"k":"A","list":[1,2,3],"obj":{"y":1,"x":[true]}}`,
			want:    `{"a":"alpha!","b":6,"c":"fallback","d":{"x":[true],"y":1}}`,
		},
		{
			name:    "escapes survive the round trip",
			mapping: head + "fields:\n  - {to: s, from: $.s}\n",
			input:   `{"s":"a\"b\\c\n\u00e5\ud83d\ude00<&>\u2028"}`,
			want:    `{"s":"a\"b\\c\nå😀<&>\u2028"}`,
		},
		{
			name:    "JSON lines in, JSON lines out",
			mapping: head + "fields:\n  - {to: id, from: $.id, required: true}\n",
			input:   "{\"id\":1}\n{\"id\":2}\n",
			want:    "{\"id\":1}\n{\"id\":2}",
		},
		{
			name:    "required names the record among several",
			mapping: head + "fields:\n  - {to: id, from: $.id, required: true}\n",
			input:   "{\"id\":1}\n{}\n",
			wantErr: "mapping test/m: record 2: field id: required value is missing",
		},
		{
			name:    "error inside a repeating group names the item",
			mapping: head + "fields:\n  - to: ins\n    each: $.i[*]\n    fields: [{to: min, from: $.m, fn: minutes}]\n",
			input:   `{"i":[{"m":"5"},{"m":"PTxM"}]}`,
			wantErr: "mapping test/m: field ins[1].min: minutes: not a number of minutes",
		},
		{
			name:    "personnummer errors never quote the number",
			mapping: head + "fields:\n  - {to: p, from: $.p, fn: personnummer}\n",
			input:   `{"p":"19400104-2384"}`,
			wantErr: "mapping test/m: field p: personnummer: check digit does not match",
		},
		{
			name:    "a repeated key is refused, not read first",
			mapping: head + "fields:\n  - {to: unit, from: $.unit}\n",
			input:   `{"unit": "` + strings.Repeat("x", 5000) + `", "unit": "ok"}`,
			wantErr: "mapping test/m: read input: /unit: duplicate key",
		},
		{
			name:    "a repeated key is refused at any depth",
			mapping: head + "fields:\n  - {to: unit, from: $.order.unit}\n",
			input:   `{"order": {"lines": [{"a": 1, "a": 2}], "unit": "ok"}}`,
			wantErr: "mapping test/m: read input: /order/lines/0/a: duplicate key",
		},
		{
			name:    "keys equal after unescaping are repeated",
			mapping: head + "fields:\n  - {to: unit, from: $.unit}\n",
			input:   `{"unit": "ok", "\u0075nit": "x"}`,
			wantErr: "mapping test/m: read input: /unit: duplicate key",
		},
		{
			name:    "a repeated key in a later JSON line",
			mapping: head + "fields:\n  - {to: id, from: $.id}\n",
			input:   "{\"id\":1}\n{\"id\":2,\"id\":3}\n",
			wantErr: "mapping test/m: read input: /id: duplicate key",
		},
		{
			name:    "csv without header uses indexes",
			mapping: "from: {format: csv, header: false}\nto: {format: json}\nfields:\n  - {to: a, from: '$[1]'}\n",
			input:   "x,y\n",
			want:    `{"a":"y"}`,
		},
		{
			name:    "xml input with from.records gives one output per record",
			mapping: "from: {format: xml, namespaces: {v: 'urn:v'}, records: /v:visits/v:visit}\nto: {format: json}\nfields:\n  - {to: id, from: '@id', required: true}\n  - {to: n, from: 'count(v:staff)', type: int}\n",
			input:   `<visits xmlns="urn:v"><visit id="A"><staff/></visit><visit id="B"/></visits>`,
			want:    "{\"id\":\"A\",\"n\":1}\n{\"id\":\"B\",\"n\":0}",
		},
		{
			name:    "xml output: attributes, nesting, repetition, escaping",
			mapping: "from: {format: json}\nto: {format: xml, root: visit, namespace: 'urn:x'}\nfields:\n  - {to: '@id', from: $.id}\n  - {to: client.pnr, from: $.p, fn: personnummer}\n  - {to: insatser.insats, each: '$.i[*]', fields: [{to: '@declined', value: false}, {to: code, from: $}]}\n  - {to: note, value: 'a<b&c'}\n",
			input:   `{"id":"V1","p":"194001042383","i":["DUSCH","MAT"]}`,
			want:    `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<visit xmlns="urn:x" id="V1"><client><pnr>194001042383</pnr></client><insatser><insats declined="false"><code>DUSCH</code></insats><insats declined="false"><code>MAT</code></insats></insatser><note>a&lt;b&amp;c</note></visit>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Parse("test/m", []byte(tt.mapping))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := m.Apply([]byte(tt.input))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Apply(%q) error = %v, want %q", tt.input, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply(%q): %v", tt.input, err)
			}
			if d := cmp.Diff(tt.want, string(got)); d != "" {
				t.Errorf("Apply(%q) mismatch (-want +got):\n%s", tt.input, d)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	m, err := mapping.Parse("tes/v", []byte(head+"fields:\n  - {to: client.id, from: $.p, fn: personnummer, required: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Apply([]byte(`{}`))
	var fe *mapping.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Apply error %v is not a *FieldError", err)
	}
	want := &mapping.FieldError{Mapping: "tes/v", Field: "client.id", Err: mapping.ErrRequired}
	if d := cmp.Diff(*want, *fe, cmpopts.EquateErrors()); d != "" {
		t.Errorf("FieldError mismatch (-want +got):\n%s", d)
	}
	if !errors.Is(err, mapping.ErrRequired) {
		t.Error("errors.Is(err, ErrRequired) = false")
	}
}

func TestApplyValue(t *testing.T) {
	m, err := mapping.Load("../../mappings/tes/visit_json_to_visit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{
		"visitId": "TES-1", "clientPnr": "198207062392", "start": "2026-11-23 08:00", "end": "2026-11-23 08:30",
		"staffHsaId": "TSTNMT2321000156-1024", "method": "MAN", "status": "UTFORD",
		"insatser": []any{map[string]any{"kod": "dusch", "min": float64(30)}},
	}
	got, err := m.ApplyValue(in)
	if err != nil {
		t.Fatal(err)
	}
	obj := got.(map[string]any)
	for k, want := range map[string]any{
		"external_id": "TES-1", "duration_minutes": 30, "start_method": "manual", "start_at": "2026-11-23T07:00:00Z",
		"insatser": []any{map[string]any{"code": "DUSCH", "minutes": 30, "declined": false, "double_staffed": false}},
		"client":   map[string]any{"person_id": "198207062392", "person_id_type": "personnummer"},
	} {
		if d := cmp.Diff(want, obj[k]); d != "" {
			t.Errorf("ApplyValue: %s mismatch (-want +got):\n%s", k, d)
		}
	}
	if m.OutputContentType() != "application/json" || m.Name() != "tes/visit_json_to_visit" ||
		m.OutputSchema() != "canonical/visit.schema.json" || m.InputSchema() != "tes/export.schema.json" {
		t.Errorf("accessors: %q %q %q %q", m.OutputContentType(), m.Name(), m.OutputSchema(), m.InputSchema())
	}
}

// TestConcurrentApply shares one Mapping between goroutines; run with -race.
func TestConcurrentApply(t *testing.T) {
	ms, err := mapping.LoadDir("../../mappings")
	if err != nil {
		t.Fatal(err)
	}
	m := ms["tes/visit_json_to_visit"]
	if m == nil {
		t.Fatalf("LoadDir: no tes/visit_json_to_visit among %d mappings", len(ms))
	}
	ok := []byte(`{"visitId":"TES-1","clientPnr":"194001042383","start":"2026-11-23 08:02","end":"2026-11-23 08:34","staffHsaId":"TSTNMT2321000156-1024","method":"NFC","status":"UTFORD"}`)
	bad := []byte(`{"visitId":"TES-2","clientPnr":"194001042384","start":"2026-11-23 08:02","end":"2026-11-23 08:34","staffHsaId":"TSTNMT2321000156-1024","method":"NFC","status":"UTFORD"}`)
	want, err := m.Apply(ok)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				if i%2 == 0 {
					got, err := m.Apply(ok)
					if err != nil || string(got) != string(want) {
						t.Errorf("concurrent Apply = %s, %v", got, err)
						return
					}
				} else if _, err := m.Apply(bad); err == nil {
					t.Error("concurrent Apply of a bad record succeeded")
					return
				}
			}
		})
	}
	wg.Wait()
}
