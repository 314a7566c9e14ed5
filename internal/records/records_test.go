package records

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	type rec struct {
		line int
		body string
	}
	for _, tc := range []struct {
		name    string
		format  Format
		in      string
		max     int
		want    []rec
		wantErr string
	}{
		{"json lines, blank lines skipped", Lines, "{\"a\":1}\n\n  \n{\"a\":2}\n", 100,
			[]rec{{1, `{"a":1}`}, {4, `{"a":2}`}}, ""},
		{"csv rows carry the header", CSV, "id;n\n1;a\n2;b\n", 100,
			[]rec{{2, "id;n\n1;a"}, {3, "id;n\n2;b"}}, ""},
		{"a header alone is no record", CSV, "id;n\n", 100, nil, ""},
		{"a quoted line break keeps the record together", CSV, "id;n\n1;\"a\nb\"\n2;c\n", 100,
			[]rec{{2, "id;n\n1;\"a\nb\""}, {4, "id;n\n2;c"}}, ""},
		{"a stray quote costs one row, not the rest", CSV, "id;n\n1;\"a\n2;c\n3;d\n", 100,
			[]rec{{2, "id;n\n1;\"a"}, {3, "id;n\n2;c"}, {4, "id;n\n3;d"}}, ""},
		{"the byte order mark stays with the header", CSV, "\ufeffid,n\n1,a\n", 100,
			[]rec{{2, "\ufeffid,n\n1,a"}}, ""},
		{"crlf line ends", CSV, "id;n\r\n1;a\r\n", 100, []rec{{2, "id;n\n1;a"}}, ""},
		// The limit is the larger of max and the 64 KiB a Scanner starts with.
		{"a line over the limit", Lines, strings.Repeat("x", 70<<10) + "\n", 10, nil, "line 1: bufio.Scanner: token too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in), tc.format, tc.max)
			var got []rec
			var err error
			for {
				var x Record
				x, err = r.Next()
				if err != nil {
					break
				}
				got = append(got, rec{x.Line, string(x.Body)})
			}
			if tc.wantErr == "" && !errors.Is(err, io.EOF) || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("record %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
