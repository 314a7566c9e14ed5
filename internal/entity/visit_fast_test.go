package entity

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// FuzzDecodeVisitFast holds decodeVisitFast to its promise: whenever it
// accepts a body, the strict decoder (encoding/json, unknown fields
// refused) accepts it too and decodes the same visit. `go test` runs the
// seeds: the canonical visits of schemas/ and the visit mapping's goldens,
// and variations the fast path must leave to the strict one;
// `go test -fuzz FuzzDecodeVisitFast ./internal/entity` searches further.
func FuzzDecodeVisitFast(f *testing.F) {
	var seeds []string
	for _, glob := range []string{"../../schemas/canonical/testdata/*/visit*.json", "../../mappings/tes/testdata/*/*.golden.json"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, string(b))
		}
	}
	if len(seeds) < 3 {
		f.Fatalf("found %d seed visits; the globs are wrong", len(seeds))
	}
	for _, s := range seeds {
		f.Add(s)
		// What encoding/json decides differently from a naive reader.
		f.Add(strings.Replace(s, `"source_system"`, `"SOURCE_SYSTEM"`, 1)) // case-insensitive keys
		f.Add(strings.Replace(s, `"tes"`, `"t\u0065s"`, 1))                // escapes
		f.Add(strings.Replace(s, `{`, `{"unknown": 1, `, 1))               // unknown field
		f.Add(strings.Replace(s, `"duration_minutes": `, `"duration_minutes": 1e1, "x": `, 1))
		f.Add(s + ` {}`) // two values
		f.Add(strings.Replace(s, `"external_id"`, `"external_id": "dup", "external_id"`, 1))
		// The source's version and the flags a sender might send.
		f.Add(strings.Replace(s, `{`, `{"version": 2, "flags": ["late", "too_long"], `, 1))
		f.Add(strings.Replace(s, `{`, `{"version": 2.0, "flags": [], `, 1))
		f.Add(strings.Replace(s, `{`, `{"version": -0, "flags": null, `, 1))
		f.Add(strings.Replace(s, `{`, `{"flags": ["l\u0061te"], `, 1))
		f.Add(strings.Replace(s, `{`, `{"flags": [1], `, 1))
	}
	f.Fuzz(func(t *testing.T, body string) {
		var fast homecare.Visit
		if !decodeVisitFast([]byte(body), &fast) {
			return // the strict decoder decides
		}
		var strict homecare.Visit
		if err := decodeStrict([]byte(body), &strict); err != nil {
			t.Fatalf("fast path accepted what the strict decoder refuses (%v):\n%s", err, body)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("fast path decoded\n%+v\nthe strict decoder\n%+v\nfrom\n%s", fast, strict, body)
		}
	})
}
