package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var seeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `01`, `1.`, `1.5e+10`, `-12.5E-3`, `1e`, `"a"`, `""`,
	`"tab\tin"`, "\"ctl\x01\"", `"esc\n"`, `"\u00e5\u00c4"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\/\\\""`, `"\x"`, `"\u12"`,
	`{"a": [1, 2, {"b": null}], "c": "d"}`, `{"a":1,}`, `[1 2]`, `{"a" 1}`, `{"a":1} x`, ` [ true , false ] `,
	`{"visitId":"TES-1","insatser":[{"kod":"DUSCH","min":20}]}`, `{"k":1,"k":2}`, `[[[[[[]]]]]]`,
	`{"a":1,"\u0061":2}`, `{"o":{"a":[{"b":1,"b":2}]}}`, `{"a":{},"b":{"a":1}}`, `[{"a":1},{"a":1}]`,
	`{"a/b~":{"x":1,"x":1}}`, `{"a":1}` + "\n" + `{"a":1,"a":2}`,
}

// naiveDuplicate finds the first repeated key with encoding/json's token
// stream (which unescapes keys), as a JSON pointer; ok is false when
// encoding/json refuses data.
func naiveDuplicate(data string) (ptr string, found, ok bool) {
	type frame struct {
		obj  bool
		n    int
		key  string
		keys map[string]bool
	}
	var stack []*frame
	d := json.NewDecoder(strings.NewReader(data))
	d.UseNumber()
	expectKey := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return "", false, len(stack) == 0
		}
		if err != nil {
			return "", false, false
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if k, isKey := tok.(string); isKey && top.obj && expectKey {
				expectKey = false
				top.key = k
				if top.keys[k] {
					var b strings.Builder
					for _, f := range stack {
						b.WriteByte('/')
						if f.obj {
							b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(f.key))
						} else {
							fmt.Fprint(&b, f.n)
						}
					}
					return b.String(), true, true
				}
				top.keys[k] = true
				continue
			}
			if !top.obj && tok != json.Delim(']') {
				top.n++ // a value starts in an array
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}})
			expectKey = true
			continue
		case json.Delim('['):
			stack = append(stack, &frame{n: -1})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value completed; in an object, a key comes next.
		expectKey = len(stack) > 0 && stack[len(stack)-1].obj
	}
}

func TestCheckKeys(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for no duplicate
	}{
		{"the attack", `{"unit": "` + strings.Repeat("x", 5000) + `", "unit": "ok"}`, "/unit: duplicate key"},
		{"unique", `{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`, ""},
		{"nested object", `{"order":{"unit":"a","id":1,"unit":"b"}}`, "/order/unit: duplicate key"},
		{"in an array", `{"o":[{"a":1},{"b":1,"b":2}]}`, "/o/1/b: duplicate key"},
		{"escaped twin", `{"a":1,"\u0061":2}`, "/a: duplicate key"},
		{"escaped twins both", `{"\u00e5":1,"\u00E5":2}`, "/\u00e5: duplicate key"},
		{"escape in the raw key", `{"\"":1,"\u0022":2}`, "/\": duplicate key"},
		{"pointer escapes", `{"a/b":{"c~d":1,"c~d":2}}`, "/a~1b/c~0d: duplicate key"},
		{"empty key twice", `{"":1,"":2}`, "/: duplicate key"},
		{"same key in sibling objects", `[{"a":1},{"a":1}]`, ""},
		{"many keys, duplicate late", `{` + manyKeys(100) + `,"k7":0}`, "/k7: duplicate key"},
		{"second JSON line", "{\"a\":1}\n{\"a\":1,\"a\":2}", "/a: duplicate key"},
		{"after a syntax error", `{"a":1,}{"a":1,"a":2}`, ""},
		{"duplicate before a syntax error", `{"a":1,"a":2,}`, "/a: duplicate key"},
		{"value containing quotes and braces", `{"a":"}{\"a\":","b":[1,{"c":null}],"a":0}`, "/a: duplicate key"},
		{"deep beyond encoding/json", strings.Repeat("[", 10_001) + `{"a":1,"a":2}`, ""},
		// Strings readers would not hold alike.
		{"NUL escape", `{"visitId":"TES-1\u0000"}`, "/visitId: \\u0000 (NUL)"},
		{"NUL escape in an array", `{"a":["x","\u0000"]}`, "/a/1: \\u0000 (NUL)"},
		{"lone high surrogate", `{"a":"x\ud800"}`, "/a: an unpaired surrogate escape"},
		{"high surrogate then a letter", `{"a":"\ud800\u0041"}`, "/a: an unpaired surrogate escape"},
		{"lone low surrogate", `["\udc00"]`, "/0: an unpaired surrogate escape"},
		{"surrogate in a key", `{"\ud800":1}`, "/: an unpaired surrogate escape in a key"},
		{"surrogate pair", `{"a":"\ud83d\ude00","b":"\u00e5\\u0000"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, err := range []error{CheckKeys(tt.in), CheckKeys([]byte(tt.in))} {
				got := ""
				if err != nil {
					got = err.Error()
					switch err.(type) {
					case *DuplicateKeyError, *TextError:
					default:
						t.Errorf("CheckKeys error is %T, want *DuplicateKeyError or *TextError", err)
					}
				}
				if got != tt.want {
					t.Errorf("CheckKeys(%.60q) = %q, want %q", tt.in, got, tt.want)
				}
				if strings.Contains(got, "xxx") || strings.Contains(got, "ok") {
					t.Errorf("CheckKeys error %q quotes a value", got)
				}
			}
		})
	}
}

func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}

func TestDecodePlainRefusesDuplicateKeys(t *testing.T) {
	if v, ok := DecodePlain([]byte(`{"a":{"b":1,"b":2}}`)); ok {
		t.Fatalf("DecodePlain accepted a repeated key: %v", v)
	}
}

// FuzzDecodePlain: whenever the plain decoder accepts a body, encoding/json
// (with UseNumber, as the validator decodes) accepts it too and decodes the
// same value, and the body repeats no key. CheckKeys finds a repeated key,
// at the same pointer, exactly when encoding/json's token stream does.
func FuzzDecodePlain(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !utf8.ValidString(body) {
			return // the validator refuses invalid UTF-8 before decoding
		}
		dupErr := CheckKeys(body)
		if te, ok := dupErr.(*TextError); ok {
			// It stops at the string before any key after it: nothing to
			// compare, but the string must hold such an escape.
			if !strings.Contains(body, `\u`) {
				t.Fatalf("CheckKeys = %v for %q, which has no \\u escape", te, body)
			}
			return
		}
		if dupErr != nil {
			if _, ok := dupErr.(*DuplicateKeyError); !ok {
				t.Fatalf("CheckKeys error is %T, want *DuplicateKeyError", dupErr)
			}
		}
		if ptr, found, valid := naiveDuplicate(body); valid && json.Valid([]byte(body)) {
			switch {
			case found && (dupErr == nil || dupErr.(*DuplicateKeyError).Pointer != ptr):
				t.Fatalf("CheckKeys = %v, encoding/json finds %s repeated, in %q", dupErr, ptr, body)
			case !found && dupErr != nil:
				t.Fatalf("CheckKeys = %v, encoding/json finds no repeated key in %q", dupErr, body)
			}
		}
		got, ok := DecodePlain([]byte(body))
		if !ok {
			return
		}
		if dupErr != nil {
			t.Fatalf("DecodePlain accepted a repeated key (%v): %q", dupErr, body)
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
