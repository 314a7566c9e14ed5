package mapping

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// TestCase is one case of a mapping test file (<mapping>_test.yaml beside
// <mapping>.yaml). mappings/mappings_test.go runs each as a subtest and
// `knut test` runs them all; both go through Run, so a case behaves the
// same in CI and on an analyst's laptop.
type TestCase struct {
	// Name is "<vendor>/<mapping>/<test name>", the subtest name.
	Name string
	// File and Line locate the case in its _test.yaml.
	File string
	Line int

	tf      *testFile
	input   testInput
	want    testWant
	wantErr string
	problem error // the test file or its mapping did not load
}

// TestResult is the outcome of one TestCase.
type TestResult struct {
	Name string
	File string
	Line int
	// Passed is true when the output (or error) matched.
	Passed bool
	// Updated is true when Run rewrote the golden file.
	Updated bool
	// Message says why the case failed: a diff, an unexpected error, or a
	// problem loading the test file. Empty when the case passed.
	Message string
}

// Detail is Message prefixed with the case's file:line, unless the
// message already names a file position (a load problem).
func (r TestResult) Detail() string {
	if r.File == "" || strings.HasPrefix(r.Message, r.File) {
		return r.Message
	}
	if r.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Message)
	}
	return r.File + ": " + r.Message
}

// TestOptions control how cases run.
type TestOptions struct {
	// Update rewrites golden files (want: {file: …}) with the actual
	// output instead of comparing (go test ./mappings -update).
	Update bool
	// SchemaDir, if set, is the schemas directory: a case that expects
	// output must then have input valid against the mapping's from.schema
	// and output valid against its to.schema.
	SchemaDir string
}

// testFile is what the cases of one _test.yaml share: the mapping, loaded
// once, and the schemas it names, compiled once.
type testFile struct {
	path    string
	mapping *Mapping

	mu         sync.Mutex
	validators map[string]schema.Validator
}

type testInput struct {
	body    []byte
	file    string            // input from a file, relative to the test file
	headers map[string]string // the message headers expressions see
}

type testWant struct {
	json        any
	hasJSON     bool
	text        *string
	file        string // golden, relative to the test file
	jsonHas     map[string]any
	xmlHas      map[string]string
	namespaces  map[string]string
	line        int
	jsonHasKeys []string
	xmlHasKeys  []string
}

// LoadTests finds the test files under root, or under the given paths
// (directories, _test.yaml files or mapping files; relative to the
// working directory), and returns their cases in file order. A test file
// or mapping that does not load still yields a failing case carrying the
// problem, so one broken file never hides the others.
func LoadTests(root string, paths []string) ([]*TestCase, error) {
	if len(paths) == 0 {
		paths = []string{root}
	}
	var files []string
	seen := map[string]bool{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("find mapping tests: %w", err)
		}
		if !fi.IsDir() {
			if !strings.HasSuffix(p, "_test.yaml") {
				p = strings.TrimSuffix(p, ".yaml") + "_test.yaml"
			}
			if !seen[p] {
				seen[p] = true
				files = append(files, p)
			}
			continue
		}
		err = config.Walk(p, func(q string) error {
			if strings.HasSuffix(q, "_test.yaml") && !seen[q] {
				seen[q] = true
				files = append(files, q)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find mapping tests: %w", err)
		}
	}
	var cases []*TestCase
	for _, f := range files {
		cases = append(cases, loadTestFile(root, f)...)
	}
	return cases, nil
}

// testPrefix names a test file's cases: its mapping's path relative to
// root, e.g. "tes/visit_json_to_visit".
func testPrefix(root, file string) string {
	name := strings.TrimSuffix(file, "_test.yaml")
	if rel, err := filepath.Rel(root, name); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	}
	return filepath.ToSlash(name)
}

func loadTestFile(root, file string) []*TestCase {
	prefix := testPrefix(root, file)
	fail := func(err error) []*TestCase {
		return []*TestCase{{Name: prefix, File: file, problem: err}}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fail(err)
	}
	mappingFile := strings.TrimSuffix(file, "_test.yaml") + ".yaml"
	mdata, err := os.ReadFile(mappingFile)
	if err != nil {
		return fail(fmt.Errorf("load mapping: %w", err))
	}
	m, err := parse(mappingFile, prefix, mdata)
	if err != nil {
		return fail(err)
	}
	tf := &testFile{path: file, mapping: m, validators: map[string]schema.Validator{}}

	l := &loader{file: file, m: m}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fail(yamlSyntaxError(file, data, err))
	}
	if len(doc.Content) == 0 {
		return fail(&ParseError{File: file, Problem: "file is empty"})
	}
	top := l.keys(doc.Content[0], "", []string{"tests"}, "tests")
	tn := top["tests"]
	if tn != nil && (tn.Kind != yaml.SequenceNode || len(tn.Content) == 0) {
		l.addf(tn, "tests", "must be a non-empty list")
		tn = nil
	}
	var cases []*TestCase
	names := map[string]int{}
	if tn != nil {
		for i, cn := range tn.Content {
			if tc := l.testCase(cn, fmt.Sprintf("tests[%d]", i)); tc != nil {
				if prev, dup := names[tc.Name]; dup {
					l.addf(cn, fmt.Sprintf("tests[%d].name", i), "duplicate test name (first at line %d)", prev)
					continue
				}
				names[tc.Name] = cn.Line
				tc.Name = prefix + "/" + tc.Name
				tc.File, tc.tf = file, tf
				cases = append(cases, tc)
			}
		}
	}
	if len(l.errs) > 0 {
		return fail(errors.Join(l.errs...))
	}
	return cases
}

func (l *loader) testCase(n *yaml.Node, path string) *TestCase {
	k := l.keys(n, path, []string{"name", "input", "want", "want_err"}, "name", "input")
	tc := &TestCase{Line: n.Line}
	if v := k["name"]; v != nil {
		tc.Name = l.str(v, path+".name")
		if strings.ContainsAny(tc.Name, "/\n") {
			l.addf(v, path+".name", "must not contain / or a newline")
		}
	}
	if v := k["input"]; v != nil {
		tc.input = l.testInput(v, path+".input")
	}
	if v := k["want"]; v != nil {
		tc.want = l.testWant(v, path+".want")
	}
	if v := k["want_err"]; v != nil {
		tc.wantErr = l.str(v, path+".want_err")
	}
	if (k["want"] == nil) == (k["want_err"] == nil) {
		l.addf(n, path, "needs exactly one of want and want_err")
	}
	if tc.Name == "" {
		return nil
	}
	return tc
}

func (l *loader) testInput(n *yaml.Node, path string) testInput {
	k := l.keys(n, path, []string{"json", "text", "xml", "csv", "file", "headers"})
	var in testInput
	if v := k["headers"]; v != nil {
		in.headers = map[string]string{}
		l.pairs(v, path+".headers", func(key string, vn *yaml.Node) {
			in.headers[key] = l.str(vn, path+".headers."+key)
		})
		delete(k, "headers")
	}
	if len(k) != 1 {
		l.addf(n, path, "needs exactly one of json, text, xml, csv or file")
		return testInput{}
	}
	for key, v := range k {
		switch key {
		case "json":
			b, err := json.Marshal(l.literal(v, path+".json"))
			if err != nil {
				l.addf(v, path+".json", "%v", err)
			}
			in.body = b
		case "file":
			in.file = l.str(v, path+".file")
		default:
			in.body = []byte(l.str(v, path+"."+key))
		}
	}
	return in
}

func (l *loader) testWant(n *yaml.Node, path string) testWant {
	k := l.keys(n, path, []string{"json", "text", "file", "json_contains", "xml_contains", "namespaces"})
	w := testWant{line: n.Line}
	count := 0
	for _, key := range []string{"json", "text", "file", "json_contains", "xml_contains"} {
		if k[key] != nil {
			count++
		}
	}
	if count != 1 {
		l.addf(n, path, "needs exactly one of json, text, file, json_contains or xml_contains")
	}
	if v := k["json"]; v != nil {
		w.json, w.hasJSON = l.literal(v, path+".json"), true
	}
	if v := k["text"]; v != nil {
		s := l.str(v, path+".text")
		w.text = &s
	}
	if v := k["file"]; v != nil {
		w.file = l.str(v, path+".file")
	}
	if v := k["json_contains"]; v != nil {
		w.jsonHas = map[string]any{}
		l.pairs(v, path+".json_contains", func(key string, vn *yaml.Node) {
			if _, err := compileJSONPath(key); err != nil {
				l.addf(vn, path+".json_contains."+key, "%v", err)
			}
			w.jsonHas[key] = l.literal(vn, path+".json_contains."+key)
			w.jsonHasKeys = append(w.jsonHasKeys, key)
		})
	}
	if v := k["xml_contains"]; v != nil {
		w.xmlHas = map[string]string{}
		l.pairs(v, path+".xml_contains", func(key string, vn *yaml.Node) {
			w.xmlHas[key] = l.str(vn, path+".xml_contains."+key)
			w.xmlHasKeys = append(w.xmlHasKeys, key)
		})
	}
	if v := k["namespaces"]; v != nil {
		w.namespaces = map[string]string{}
		l.pairs(v, path+".namespaces", func(key string, vn *yaml.Node) {
			w.namespaces[key] = l.str(vn, path+".namespaces."+key)
		})
	}
	return w
}

func (l *loader) pairs(n *yaml.Node, path string, fn func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		l.addf(n, path, "must be a non-empty mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		fn(n.Content[i].Value, n.Content[i+1])
	}
}

// RunTests loads and runs the mapping tests under root (or paths; see
// LoadTests). A failure to find the tests at all is reported as one
// failed result.
func RunTests(root string, paths []string, opts TestOptions) []TestResult {
	cases, err := LoadTests(root, paths)
	if err != nil {
		return []TestResult{{Name: root, Message: err.Error()}}
	}
	out := make([]TestResult, len(cases))
	for i, tc := range cases {
		out[i] = tc.Run(opts)
	}
	return out
}

// Report prints one line per result ("ok   tes/visit_json_to_visit/happy
// path", or "FAIL …" followed by the indented reason) and a last line
// "N passed, M failed", the format of `knut test`.
func Report(w io.Writer, results []TestResult) (passed, failed int) {
	for _, r := range results {
		if r.Passed {
			passed++
			note := ""
			if r.Updated {
				note = " (golden file updated)"
			}
			fmt.Fprintf(w, "ok   %s%s\n", r.Name, note)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n", r.Name)
		for line := range strings.Lines(r.Detail()) {
			fmt.Fprintf(w, "     %s", strings.TrimRight(line, "\n")+"\n")
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed
}

// Run applies the case's mapping to its input and checks the result. It
// is safe to call Run on different cases concurrently.
func (tc *TestCase) Run(opts TestOptions) TestResult {
	r := TestResult{Name: tc.Name, File: tc.File, Line: tc.Line}
	failf := func(format string, args ...any) TestResult {
		r.Message = fmt.Sprintf(format, args...)
		return r
	}
	if tc.problem != nil {
		return failf("%v", tc.problem)
	}
	dir := filepath.Dir(tc.File)
	input := tc.input.body
	if tc.input.file != "" {
		b, err := os.ReadFile(filepath.Join(dir, tc.input.file))
		if err != nil {
			return failf("read input: %v", err)
		}
		input = b
	}
	m := tc.tf.mapping
	out, err := m.ApplyWithHeaders(input, tc.input.headers)
	if tc.wantErr != "" {
		switch {
		case err == nil:
			return failf("want error containing %q, got output:\n%s", tc.wantErr, out)
		case !strings.Contains(err.Error(), tc.wantErr):
			return failf("want error containing %q, got: %v", tc.wantErr, err)
		}
		r.Passed = true
		return r
	}
	if err != nil {
		return failf("unexpected error: %v", err)
	}
	if opts.SchemaDir != "" {
		if err := tc.tf.validate(opts.SchemaDir, m.InputSchema(), input); err != nil {
			return failf("input does not meet from.schema: %v", err)
		}
		// JSON output of several records is JSON lines: one document each.
		docs := [][]byte{out}
		if m.out == formatJSON {
			docs = bytes.Split(out, []byte("\n"))
		}
		for i, doc := range docs {
			if err := tc.tf.validate(opts.SchemaDir, m.OutputSchema(), doc); err != nil {
				return failf("output record %d does not meet to.schema: %v\noutput: %s", i+1, err, doc)
			}
		}
	}
	msg, updated, err := tc.compare(out, opts.Update)
	if err != nil {
		return failf("%v", err)
	}
	if msg != "" {
		return failf("%s", msg)
	}
	r.Passed, r.Updated = true, updated
	return r
}

func (tf *testFile) validate(dir, ref string, body []byte) error {
	if ref == "" {
		return nil
	}
	tf.mu.Lock()
	v, ok := tf.validators[ref]
	if !ok {
		var err error
		if v, err = schema.Load(filepath.Join(dir, filepath.FromSlash(ref))); err != nil {
			tf.mu.Unlock()
			return err
		}
		tf.validators[ref] = v
	}
	tf.mu.Unlock()
	return v.Validate(body)
}

// compare checks out against want and returns a mismatch description,
// canonically: JSON by value (key order and spacing do not matter), XML
// by its token stream without indentation.
func (tc *TestCase) compare(out []byte, update bool) (mismatch string, updated bool, err error) {
	w := tc.want
	switch {
	case w.hasJSON:
		return jsonDiff(w.json, out), false, nil
	case w.text != nil:
		if got := string(out); got != *w.text {
			return fmt.Sprintf("output mismatch (-want +got):\n%s", cmp.Diff(*w.text, got)), false, nil
		}
		return "", false, nil
	case w.jsonHas != nil:
		got, err := decodeJSONLines(out)
		if err != nil {
			return "", false, err
		}
		var b strings.Builder
		for _, k := range w.jsonHasKeys {
			p, _ := compileJSONPath(k)
			g := normalizeJSON(lookupAny(got, p.segs, p.wild))
			if d := cmp.Diff(normalizeJSON(w.jsonHas[k]), g); d != "" {
				fmt.Fprintf(&b, "%s mismatch (-want +got):\n%s", k, d)
			}
		}
		return b.String(), false, nil
	case w.xmlHas != nil:
		doc, err := schema.ParseXML(out)
		if err != nil {
			return "", false, fmt.Errorf("output is not XML: %w", err)
		}
		defer doc.Free()
		var b strings.Builder
		for _, k := range w.xmlHasKeys {
			got, ok, err := doc.Value(k, w.namespaces)
			if err != nil {
				return "", false, err
			}
			if !ok {
				fmt.Fprintf(&b, "%s: nothing selected, want %q\n", k, w.xmlHas[k])
			} else if got != w.xmlHas[k] {
				fmt.Fprintf(&b, "%s: got %q, want %q\n", k, got, w.xmlHas[k])
			}
		}
		return b.String(), false, nil
	}
	golden := filepath.Join(filepath.Dir(tc.File), w.file)
	isXML := strings.HasSuffix(golden, ".xml")
	if update {
		body := out
		if !isXML {
			v, err := decodeJSONLines(out)
			if err != nil {
				return "", false, err
			}
			if body, err = json.MarshalIndent(v, "", "  "); err != nil {
				return "", false, err
			}
		}
		body = append(bytes.TrimRight(body, "\n"), '\n')
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			return "", false, fmt.Errorf("update golden file: %w", err)
		}
		if err := os.WriteFile(golden, body, 0o644); err != nil {
			return "", false, fmt.Errorf("update golden file: %w", err)
		}
		return "", true, nil
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		return "", false, fmt.Errorf("read golden file (run with -update to create it): %w", err)
	}
	if isXML {
		wt, err := xmlTokens(want)
		if err != nil {
			return "", false, fmt.Errorf("golden file %s: %w", w.file, err)
		}
		gt, err := xmlTokens(out)
		if err != nil {
			return "", false, fmt.Errorf("output: %w", err)
		}
		if d := cmp.Diff(wt, gt); d != "" {
			return fmt.Sprintf("output mismatch with %s (-want +got):\n%s", w.file, d), false, nil
		}
		return "", false, nil
	}
	wv, err := decodeJSONLines(want)
	if err != nil {
		return "", false, fmt.Errorf("golden file %s: %w", w.file, err)
	}
	if d := jsonDiff(wv, out); d != "" {
		return fmt.Sprintf("%s (golden %s; -update rewrites it)", d, w.file), false, nil
	}
	return "", false, nil
}

func jsonDiff(want any, out []byte) string {
	got, err := decodeJSONLines(out)
	if err != nil {
		return err.Error()
	}
	if d := cmp.Diff(normalizeJSON(want), got); d != "" {
		return fmt.Sprintf("output mismatch (-want +got):\n%s", d)
	}
	return ""
}

// decodeJSONLines decodes one JSON value, or a list of them when the
// output is JSON lines.
func decodeJSONLines(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var vals []any
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("output is not JSON: %w", err)
		}
		vals = append(vals, v)
	}
	if len(vals) == 1 {
		return vals[0], nil
	}
	return vals, nil
}

// normalizeJSON makes YAML-decoded expectations comparable with
// encoding/json output: every number becomes float64.
func normalizeJSON(v any) any {
	switch v := v.(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeJSON(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalizeJSON(x)
		}
		return out
	}
	return v
}

// xmlTokens renders a document as one line per token, without
// white-space-only text, for a canonical comparison.
func xmlTokens(b []byte) ([]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var out []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s := "<" + t.Name.Space + " " + t.Name.Local
			attrs := make([]string, 0, len(t.Attr))
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue // prefixes are spelling; Name.Space carries the URI
				}
				attrs = append(attrs, fmt.Sprintf(" %s:%s=%q", a.Name.Space, a.Name.Local, a.Value))
			}
			slices.Sort(attrs)
			out = append(out, s+strings.Join(attrs, "")+">")
		case xml.EndElement:
			out = append(out, "</"+t.Name.Space+" "+t.Name.Local+">")
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				out = append(out, s)
			}
		}
	}
}
