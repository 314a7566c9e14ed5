package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

var seeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `01`, `1.`, `1.5e+10`, `-12.5E-3`, `1e`, `"a"`, `""`,
	`"tab\tin"`, "\"ctl\x01\"", `"esc\n"`, `"\u00e5\u00c4"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\/\\\""`, `"\x"`, `"\u12"`,
	`{"a": [1, 2, {"b": null}], "c": "d"}`, `{"a":1,}`, `[1 2]`, `{"a" 1}`, `{"a":1} x`, ` [ true , false ] `,
	`{"visitId":"TES-1","insatser":[{"kod":"DUSCH","min":20}]}`, `{"k":1,"k":2}`, `[[[[[[]]]]]]`,
}

// FuzzDecodePlain: whenever the plain decoder accepts a body, encoding/json
// (with UseNumber, as the validator decodes) accepts it too and decodes the
// same value.
func FuzzDecodePlain(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !utf8.ValidString(body) {
			return // the validator refuses invalid UTF-8 before decoding
		}
		got, ok := DecodePlain([]byte(body))
		if !ok {
			return
		}
		d := json.NewDecoder(bytes.NewReader([]byte(body)))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatalf("DecodePlain accepted what encoding/json refuses (%v): %q", err, body)
		}
		if d.More() {
			t.Fatalf("DecodePlain accepted trailing data: %q", body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodePlain = %#v, encoding/json = %#v, for %q", got, want, body)
		}
	})
}

// FuzzScanString: a string ScanString accepts is one encoding/json
// accepts, and Unescape decodes it to the same text; one it refuses,
// encoding/json refuses too.
func FuzzScanString(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if len(lit) == 0 || lit[0] != '"' || !utf8.ValidString(lit) {
			return
		}
		var want string
		jerr := json.Unmarshal([]byte(lit), &want)
		end, esc, err := ScanString(lit, 0)
		if err != nil || end != len(lit)-1 {
			if jerr == nil && err != nil {
				t.Fatalf("ScanString refused (%v) what encoding/json accepts: %q", err, lit)
			}
			return
		}
		if jerr != nil {
			t.Fatalf("ScanString accepted what encoding/json refuses (%v): %q", jerr, lit)
		}
		got := lit[1:end]
		if esc {
			got = Unescape(got)
		}
		if got != want {
			t.Fatalf("decoded %q, encoding/json %q, from %q", got, want, lit)
		}
	})
}

// FuzzScanNumber: a number ScanNumber reads to the end of the input is
// one encoding/json reads as the same number.
func FuzzScanNumber(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) == 0 {
			return
		}
		end, err := ScanNumber(s, 0)
		var n json.Number
		jerr := json.Unmarshal([]byte(s), &n)
		if err == nil && end == len(s) && (jerr != nil || string(n) != s) {
			t.Fatalf("ScanNumber read %q whole; encoding/json: %q, %v", s, n, jerr)
		}
		bare := s[0] != '"' && SkipWS(s, 0) == 0 && len(bytes.TrimRight([]byte(s), " \t\r\n")) == len(s)
		if jerr == nil && bare && n != "" && (err != nil || end != len(s)) {
			t.Fatalf("ScanNumber stopped at %d (%v) in %q, which encoding/json reads as %q", end, err, s, n)
		}
	})
}
