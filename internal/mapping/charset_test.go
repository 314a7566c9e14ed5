package mapping_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

// charsetMapping reads the CSVs of testdata/charset: no delimiter and no
// charset of its own unless a case adds one, so the header line picks the
// delimiter and the bytes (or the content type) the charset.
const charsetMapping = `from: {format: csv%s}
to: {format: json}
fields:
  - {to: id, from: $.id}
  - {to: provider, from: "$['utförare']"}
  - {to: unit, from: $.enhet}
  - {to: note, from: $.anteckning}
`

// TestCSVCharsets maps Swedish exports in ISO-8859-1, Windows-1252 and
// UTF-8 (with and without a byte order mark; semicolon and comma) and
// compares each with its golden file, testdata/charset/NAME.golden.json
// (-update rewrites them). The charset is from.charset, else the content
// type's, else UTF-8 when the bytes are and Windows-1252 when not; bytes
// that are no character are refused by line, field and offset.
func TestCSVCharsets(t *testing.T) {
	tests := []struct {
		name, file  string
		contentType string // the message's content-type header
		charset     string // the mapping's from.charset
		wantErr     string // "" compares with NAME.golden.json
	}{
		{name: "latin1_semicolon", file: "latin1_semicolon.csv"},
		{name: "latin1_comma", file: "latin1_comma.csv"},
		{name: "cp1252_semicolon", file: "cp1252_semicolon.csv"},
		{name: "cp1252_comma_crlf", file: "cp1252_comma_crlf.csv"},
		{name: "utf8_bom_semicolon", file: "utf8_bom_semicolon.csv"},
		{name: "utf8_bom_comma", file: "utf8_bom_comma.csv"},
		{name: "utf8_semicolon", file: "utf8_semicolon.csv"},
		{name: "latin1_declared", file: "latin1_semicolon.csv", contentType: "text/csv; charset=ISO-8859-1"},
		{name: "cp1252_declared", file: "cp1252_semicolon.csv", contentType: `text/csv; charset="windows-1252"`},
		// The mapping's charset is the integrator's word for a vendor whose
		// content type is wrong.
		{name: "mapping_charset_over_content_type", file: "cp1252_semicolon.csv", contentType: "text/csv; charset=utf-8", charset: "cp1252"},

		{name: "undefined byte", file: "cp1252_undefined_byte.csv",
			wantErr: "read input: line 3, field 3 (enhet): not UTF-8 (invalid at byte offset 6), and byte 0x81 at byte offset 76 is not a character in Windows-1252"},
		{name: "undefined byte, declared", file: "cp1252_undefined_byte.csv", contentType: "text/csv; charset=cp1252",
			wantErr: "read input: line 3, field 3 (enhet): byte 0x81 at byte offset 76 is not a character in Windows-1252"},
		{name: "latin-1 sent as utf-8", file: "latin1_semicolon.csv", contentType: "text/csv; charset=utf-8",
			wantErr: "read input: line 1, field 2: invalid UTF-8 at byte offset 6"},
		{name: "latin-1 in the mapping's utf-8", file: "latin1_semicolon.csv", contentType: "text/csv; charset=iso-8859-1", charset: "utf-8",
			wantErr: "read input: line 1, field 2: invalid UTF-8 at byte offset 6"},
		{name: "byte order mark, then latin-1", file: "bom_then_latin1.csv",
			wantErr: "read input: line 1, field 2: invalid UTF-8 at byte offset 9"},
		{name: "unsupported charset", file: "latin1_semicolon.csv", contentType: "text/csv; charset=shift_jis",
			wantErr: `read input: content type: charset "shift_jis" is not supported (supported: UTF-8, US-ASCII, ISO-8859-1 or Windows-1252)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := ""
			if tt.charset != "" {
				opt = ", charset: " + tt.charset
			}
			m, err := mapping.Parse("test/charset", []byte(strings.Replace(charsetMapping, "%s", opt, 1)))
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join("testdata", "charset", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var headers map[string]string
			if tt.contentType != "" {
				headers = map[string]string{"content-type": tt.contentType}
			}
			out, err := m.ApplyWithHeaders(in, headers)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply error = %v, want %q", err, tt.wantErr)
				}
				for _, cell := range []string{"Öster", "Gärdet", "Omsorg", "Åsa"} {
					if strings.Contains(err.Error(), cell) {
						t.Errorf("error %q quotes a cell", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			golden := filepath.Join("testdata", "charset", tt.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/mapping -run TestCSVCharsets -update writes it)", err)
			}
			if diff := cmp.Diff(strings.TrimSuffix(string(want), "\n"), string(out)); diff != "" {
				t.Errorf("Apply(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// TestCSVDelimiter: without from.delimiter a header line with more
// semicolons than commas (outside quotes) makes ';' the delimiter; a fixed
// delimiter is kept.
func TestCSVDelimiter(t *testing.T) {
	tests := []struct {
		name, opts, input, want string
	}{
		{"semicolons", "", "a;b\n1,5;2\n", `{"a":"1,5","b":"2"}`},
		{"commas", "", "a,b\n1;5,2\n", `{"a":"1;5","b":"2"}`},
		{"quoted commas do not count", "", "a;\"b,c,d\"\n1,5;2\n", `{"a":"1,5"}`},
		{"one column", "", "a\n1;2\n", `{"a":"1;2"}`},
		{"fixed", ", delimiter: ','", "a;b,b\n1;2,3\n", `{"b":"3"}`},
		{"fixed tab", ", delimiter: \"\\t\"", "a\tb\n1\t2\n", `{"a":"1","b":"2"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "from: {format: csv" + tt.opts + "}\nto: {format: json}\nfields:\n  - {to: a, from: \"$['a']\"}\n  - {to: b, from: \"$['b']\"}\n"
			m, err := mapping.Parse("test/delim", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.Apply([]byte(tt.input))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if string(out) != tt.want {
				t.Errorf("Apply(%q) = %s, want %s", tt.input, out, tt.want)
			}
		})
	}
}
