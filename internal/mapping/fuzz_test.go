package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

// FuzzParse feeds arbitrary YAML to the mapping parser, seeded with every
// shipped mapping. It must never panic, and a mapping it accepts must map
// a record without panicking.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../mappings/*/*.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("from: {format: json}\nto: {format: json}\nfields: [{to: a, from: $.a}]\n"))
	rec := []byte(`{"visitId":"TES-1","clientPnr":"19400104-2383","start":"2026-11-23 08:02","end":"2026-11-23 08:34","method":"NFC","status":"UTFORD","insatser":[{"kod":"DUSCH","min":20}]}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mapping.Parse("fuzz/mapping", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_, _ = m.Apply(rec)
	})
}

// FuzzJSONInput checks the hand-written JSON reader against encoding/json:
// it must accept exactly the valid documents (one value per record) that
// repeat no key, refuse a repeated key with a *jsonscan.DuplicateKeyError,
// and never panic.
func FuzzJSONInput(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"x"}`, `{"a":[1,2.5e3,-0,true,false,null]}`, `{"a":"\u00e5\ud83d\ude00"}`, `[`, `{"a":}`, `"x"`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"b":[{"c":1,"c":1}]}`, "{\"a\":1}\n{\"a\":1,\"a\":1}"} {
		f.Add([]byte(s))
	}
	m, err := mapping.Parse("fuzz/identity", []byte("from: {format: json}\nto: {format: json}\nfields: [{to: a, from: $.a}]\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := m.Apply(data)
		dup := jsonscan.CheckKeys(data)
		if dup != nil {
			if err == nil {
				t.Fatalf("Apply(%q) accepted a repeated key (%v)", data, dup)
			}
			if _, ok := errors.AsType[*jsonscan.DuplicateKeyError](err); !ok && validJSONValues(data) && utf8.Valid(data) {
				t.Fatalf("Apply(%q) = %v, want the duplicate key refused", data, err)
			}
			return
		}
		var v any
		stdErr := json.Unmarshal(data, &v)
		obj, isObj := v.(map[string]any)
		if stdErr == nil && isObj && utf8.Valid(data) {
			if err != nil {
				t.Fatalf("Apply(%q) = %v, encoding/json accepts it", data, err)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("Apply(%q) wrote invalid JSON %q: %v", data, out, err)
			}
			if a := obj["a"]; a != nil && a != "" {
				if l, ok := a.([]any); ok && len(l) == 0 {
					return // an empty list counts as missing
				}
				if !cmp.Equal(a, got["a"]) {
					t.Fatalf("Apply(%q).a = %v, want %v", data, got["a"], a)
				}
			}
		}
		if err == nil && !validJSONValues(data) {
			t.Fatalf("Apply(%q) accepted input that is not a sequence of JSON values", data)
		}
	})
}

// validJSONValues reports whether data is one or more JSON values, as
// JSON lines are.
func validJSONValues(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return n > 0
		} else if err != nil {
			return false
		}
		n++
	}
}
