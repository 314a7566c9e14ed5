package mapping_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

func TestCSVLimits(t *testing.T) {
	const withHeader = "from: {format: csv}\nto: {format: json}\nfields:\n  - {to: a, from: $.a}\n"
	const noHeader = "from: {format: csv, header: false}\nto: {format: json}\nfields:\n  - {to: a, from: '$[0]'}\n"
	secret := strings.Repeat("s", mapping.MaxCSVFieldBytes+1)
	tests := []struct {
		name, mapping, input string
		wantErr              string // "" maps
	}{
		{"line at limit", noHeader, strings.Repeat(strings.Repeat("y", mapping.MaxCSVFieldBytes)+",", 3) + strings.Repeat("y", mapping.MaxCSVLineBytes-3*mapping.MaxCSVFieldBytes-3) + "\n", ""},
		{"line over limit", noHeader, "a\nx," + strings.Repeat("y", mapping.MaxCSVLineBytes-1) + "\n", "line 2: longer than 65536 bytes (the limit)"},
		{"last line over limit, no newline", noHeader, "a\n" + strings.Repeat(",", mapping.MaxCSVLineBytes+1), "line 2: longer than 65536 bytes (the limit)"},
		{"fields at limit", noHeader, "x" + strings.Repeat(",", mapping.MaxCSVFields-1) + "\n", ""},
		{"fields over limit", noHeader, "\"x\ny\"" + strings.Repeat(",", mapping.MaxCSVFields) + "\n", "line 1: more than 256 fields (the limit)"},
		{"field at limit", noHeader, "\"" + strings.Repeat("s\n", mapping.MaxCSVFieldBytes/2) + "\"\n", ""},
		{"field over limit across lines", noHeader, "a,b\nb,\"" + strings.Repeat("s\n", mapping.MaxCSVFieldBytes/2) + "s\"\n", "line 2, column 3: field 2 longer than 16384 bytes (the limit)"},
		{"field over limit in a long line", withHeader, "a,b\nx," + secret + "\n", "line 2, column 3: field 2 longer than 16384 bytes (the limit)"},
		{"header column repeated", withHeader, "a,b,a\nsecret,1,ok\n", "line 1: header columns 1 and 3 have the same name"},
		{"header column repeated after trimming", withHeader, "a, b ,b\nsecret,1,ok\n", "line 1: header columns 2 and 3 have the same name"},
		{"empty header columns may repeat", withHeader, "a,,\nx,,\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mapping.Parse("test/csv", []byte(tt.mapping))
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Apply([]byte(tt.input))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				return
			}
			want := "mapping test/csv: read input: " + tt.wantErr
			if err == nil || err.Error() != want {
				t.Fatalf("Apply error = %v, want %q", err, want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sss") {
				t.Errorf("error %q quotes the input", err)
			}
		})
	}
}

// csvVerdict decides a headerless CSV body the naive way: the text is
// UTF-8 after a byte order mark, else UTF-8 if valid, else Windows-1252 as
// golang.org/x/text decodes it (which gives the five bytes Windows-1252
// leaves undefined as C1 control codes, where the mapping refuses them);
// then encoding/csv's ReadAll, and the limits counted over what it
// returned (lines over the bytes as sent).
func csvVerdict(data []byte) ([][]string, bool) {
	for _, line := range strings.Split(string(bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))), "\n") {
		if len(line) > mapping.MaxCSVLineBytes {
			return nil, false
		}
	}
	switch {
	case bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")):
		data = data[3:]
		if !utf8.Valid(data) {
			return nil, false
		}
	case !utf8.Valid(data):
		for _, undefined := range []byte{0x81, 0x8D, 0x8F, 0x90, 0x9D} {
			if bytes.IndexByte(data, undefined) >= 0 {
				return nil, false
			}
		}
		var err error
		if data, err = charmap.Windows1252.NewDecoder().Bytes(data); err != nil {
			return nil, false
		}
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, false
	}
	for _, r := range recs {
		if len(r) > mapping.MaxCSVFields {
			return nil, false
		}
		for _, f := range r {
			if len(f) > mapping.MaxCSVFieldBytes {
				return nil, false
			}
		}
	}
	return recs, true
}

// FuzzCSVInput: the mapping accepts exactly the CSV that encoding/csv
// reads within the limits in the charset it is in (csvVerdict), gives one
// output per record, and carries the first cell through as decoded.
func FuzzCSVInput(f *testing.F) {
	for _, s := range []string{"a,b\n", "a,b\nc,d\n", "G\xe4rdet,\x93x\x94\n", "\xEF\xBB\xBFG\xe4rdet\n", "a\x81,b\n", "G\xc3\xa4rdet,\xe4\n", "\"x\ny\",z\n", "\"a\"\"b\",c", "\xEF\xBB\xBFa\n", "a,\"b\n", "a\nb,c\n", "", "\n\n",
		strings.Repeat(",", mapping.MaxCSVFields), "x" + strings.Repeat(",", mapping.MaxCSVFields-1),
		strings.Repeat("y", mapping.MaxCSVLineBytes+1), "\"" + strings.Repeat("s\n", mapping.MaxCSVFieldBytes/2) + "s\""} {
		f.Add([]byte(s))
	}
	m, err := mapping.Parse("fuzz/csv", []byte("from: {format: csv, header: false}\nto: {format: json}\nfields:\n  - {to: a, from: '$[0]'}\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := m.Apply(data)
		recs, ok := csvVerdict(data)
		if !ok {
			if err == nil {
				t.Fatalf("Apply(%q) accepted what encoding/csv or a limit refuses", data)
			}
			return
		}
		if err != nil {
			t.Fatalf("Apply(%q) = %v; encoding/csv reads %d records within the limits", data, err, len(recs))
		}
		lines := strings.Split(string(out), "\n")
		if len(lines) != len(recs) {
			t.Fatalf("Apply(%q) gave %d outputs for %d records", data, len(lines), len(recs))
		}
		for i, l := range lines {
			var got map[string]string
			if err := json.Unmarshal([]byte(l), &got); err != nil {
				t.Fatalf("output %d %q is not a JSON object of strings: %v", i+1, l, err)
			}
			if got["a"] != recs[i][0] {
				t.Fatalf("record %d: a = %q, want %q", i+1, got["a"], recs[i][0])
			}
		}
	})
}
