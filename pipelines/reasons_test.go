package pipelines_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// hostileValue is personal data a sender may put in any field: a name, a
// phone number and a test personnummer (Skatteverket's test list) written
// with a space, which the log masking did not catch.
const hostileValue = "Tolvan Testsson 070-1234567 19121212 1212"

// leaks are the parts of hostileValue no reason may repeat.
var leaks = []string{"Tolvan", "Testsson", "1234567", "1212 1212", "121212"}

// TestReasonsNeverQuoteValues puts hostileValue into every value of every
// valid sample, one value at a time, and runs the pipeline's steps. Where
// that fails, the reason (what the dead letter, the attempt, the log and
// the CLI show) names the field and the rule and never the value, in
// every step: validation (libxml2 and JSON Schema), mapping, lookups, the
// canonical model's checks and the store's decoding.
func TestReasonsNeverQuoteValues(t *testing.T) {
	plans, err := pipeline.LoadDir(".", resources())
	if err != nil {
		t.Fatal(err)
	}
	failures := 0
	for _, p := range plans {
		for _, in := range samples(t, p.Name) {
			base := strings.TrimSuffix(in, filepath.Ext(in))
			if _, err := os.Stat(base + ".golden.json"); err != nil {
				continue // only valid samples: a bad one already fails elsewhere
			}
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			headers := map[string]string{
				knutpunkt.HeaderContentType:  contentTypes[filepath.Ext(in)],
				knutpunkt.HeaderSourceSystem: "sample",
			}
			if b, err := os.ReadFile(base + ".headers.json"); err == nil {
				if err := json.Unmarshal(b, &headers); err != nil {
					t.Fatal(err)
				}
			}
			variants := mutate(t, filepath.Ext(in), body)
			if len(variants) == 0 {
				t.Fatalf("%s: no value to replace", in)
			}
			for i, v := range variants {
				m := knutpunkt.Message{ID: "m", Headers: headers, Body: v}
				_, err := p.Process(t.Context(), m)
				if err == nil {
					continue
				}
				failures++
				for _, l := range leaks {
					if strings.Contains(err.Error(), l) {
						t.Errorf("%s, value %d: the reason repeats the value (%q):\n%v", in, i, l, err)
						break
					}
				}
			}
		}
	}
	t.Logf("%d variants failed, none repeating the value", failures)
	// The test only means something if the values broke some messages.
	if failures < 20 {
		t.Errorf("only %d variants failed; the replacement no longer reaches the validators", failures)
	}
}

// mutate returns body once for each value in it, with that value replaced
// by hostileValue.
func mutate(t *testing.T, ext string, body []byte) [][]byte {
	t.Helper()
	switch ext {
	case ".json":
		// One document, or JSON lines (a directory snapshot): each line's
		// values in turn, the other lines as they are.
		lines := [][]byte{body}
		if !json.Valid(body) {
			lines = bytes.Split(bytes.TrimSpace(body), []byte("\n"))
		}
		var out [][]byte
		for li, line := range lines {
			var doc any
			if err := json.Unmarshal(line, &doc); err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				n := i
				v, ok := replaceLeaf(doc, &n)
				if !ok {
					break
				}
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				variant := slices.Clone(lines)
				variant[li] = b
				out = append(out, bytes.Join(variant, []byte("\n")))
			}
		}
		return out
	case ".xml":
		// Text between tags and attribute values, except namespace
		// declarations and the XML declaration.
		re := regexp.MustCompile(`>([^<>]*[^\s<>][^<>]*)<|\s([\w:]+)="([^"]*)"`)
		var out [][]byte
		for _, loc := range re.FindAllSubmatchIndex(body, -1) {
			start, end := loc[2], loc[3]
			if start < 0 {
				name := string(body[loc[4]:loc[5]])
				if name == "version" || name == "encoding" || strings.HasPrefix(name, "xmlns") {
					continue
				}
				start, end = loc[6], loc[7]
			}
			out = append(out, splice(body, start, end, hostileValue))
		}
		return out
	case ".csv":
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for r := 1; r < len(recs); r++ {
			for f := range recs[r] {
				saved := recs[r][f]
				recs[r][f] = hostileValue
				var b bytes.Buffer
				w := csv.NewWriter(&b)
				if err := w.WriteAll(recs); err != nil {
					t.Fatal(err)
				}
				out = append(out, b.Bytes())
				recs[r][f] = saved
			}
		}
		return out
	}
	t.Fatalf("no mutation for %s", ext)
	return nil
}

// replaceLeaf returns a copy of v with its *n-th scalar leaf (depth first,
// keys in sorted order as encoding/json writes them) replaced by
// hostileValue, and whether there was one.
func replaceLeaf(v any, n *int) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if nv, ok := replaceLeaf(x[k], n); ok {
				c := make(map[string]any, len(x))
				for kk, vv := range x {
					c[kk] = vv
				}
				c[k] = nv
				return c, true
			}
		}
		return nil, false
	case []any:
		for i := range x {
			if nv, ok := replaceLeaf(x[i], n); ok {
				c := append([]any(nil), x...)
				c[i] = nv
				return c, true
			}
		}
		return nil, false
	}
	if *n == 0 {
		return hostileValue, true
	}
	*n--
	return nil, false
}

func splice(b []byte, start, end int, s string) []byte {
	out := append([]byte(nil), b[:start]...)
	out = append(out, s...)
	return append(out, b[end:]...)
}
