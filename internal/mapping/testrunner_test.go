package mapping_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRunTestsAndReport(t *testing.T) {
	root := writeFiles(t, map[string]string{
		"acme/a_to_b.yaml": "from: {format: json}\nto: {format: json}\nfields:\n  - {to: id, from: $.id, required: true}\n  - {to: n, value: 1}\n",
		"acme/a_to_b_test.yaml": `tests:
  - {name: inline json, input: {json: {id: x}}, want: {json: {id: x, n: 1}}}
  - {name: contains, input: {text: '{"id":"y"}'}, want: {json_contains: {$.id: y}}}
  - {name: error, input: {json: {}}, want_err: "field id: required"}
  - {name: golden, input: {json: {id: g}}, want: {file: testdata/golden.json}}
  - {name: wrong, input: {json: {id: x}}, want: {json: {id: z}}}
  - {name: unexpected success, input: {json: {id: x}}, want_err: "boom"}
`,
		"acme/broken.yaml":      "from: {format: json}\nto: {format: json}\nfields: [{to: a, frm: $.a}]\n",
		"acme/broken_test.yaml": "tests: [{name: x, input: {json: {}}, want: {json: {}}}]\n",
	})

	// -update creates the golden file; the failing cases still fail.
	results := mapping.RunTests(root, nil, mapping.TestOptions{Update: true})
	golden, err := os.ReadFile(filepath.Join(root, "acme/testdata/golden.json"))
	if err != nil {
		t.Fatalf("golden file not written: %v", err)
	}
	if d := cmp.Diff("{\n  \"id\": \"g\",\n  \"n\": 1\n}\n", string(golden)); d != "" {
		t.Errorf("golden file mismatch (-want +got):\n%s", d)
	}

	results = mapping.RunTests(root, nil, mapping.TestOptions{})
	var b strings.Builder
	passed, failed := mapping.Report(&b, results)
	if passed != 4 || failed != 3 {
		t.Errorf("Report = %d passed, %d failed, want 4, 3; output:\n%s", passed, failed, b.String())
	}
	out := b.String()
	for _, want := range []string{
		"ok   acme/a_to_b/inline json\n",
		"ok   acme/a_to_b/golden\n",
		"FAIL acme/a_to_b/wrong\n",
		"a_to_b_test.yaml:6: output mismatch (-want +got):",
		"FAIL acme/a_to_b/unexpected success\n",
		`want error containing "boom", got output:`,
		"FAIL acme/broken\n",
		"broken.yaml:3: fields[0].frm: unknown key",
		"\n4 passed, 3 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Report output lacks %q:\n%s", want, out)
		}
	}

	// A single mapping file selects its tests only.
	results = mapping.RunTests(root, []string{filepath.Join(root, "acme/a_to_b.yaml")}, mapping.TestOptions{})
	if len(results) != 6 {
		t.Errorf("RunTests(one mapping) ran %d cases, want 6", len(results))
	}
}

func TestLoadTestsRejectsBadTestFiles(t *testing.T) {
	root := writeFiles(t, map[string]string{
		"v/m.yaml":      "from: {format: json}\nto: {format: json}\nfields: [{to: a, value: 1}]\n",
		"v/m_test.yaml": "tests:\n  - {name: a, input: {json: {}, xml: '<a/>'}, want: {json: {}}, want_err: x}\n  - {name: a, input: {json: {}}}\n",
	})
	cases, err := mapping.LoadTests(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1 {
		t.Fatalf("LoadTests gave %d cases, want 1 failing case for the file", len(cases))
	}
	r := cases[0].Run(mapping.TestOptions{})
	for _, want := range []string{
		"m_test.yaml:2: tests[0].input: needs exactly one of json",
		"m_test.yaml:2: tests[0]: needs exactly one of want and want_err",
		"m_test.yaml:3: tests[1]: needs exactly one of want and want_err",
	} {
		if r.Passed || !strings.Contains(r.Message, want) {
			t.Errorf("Run message lacks %q:\n%s", want, r.Message)
		}
	}
}
