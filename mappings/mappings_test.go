// Package mappings_test runs every mapping's tests (<mapping>_test.yaml)
// under go test, through the same runner as `knut test`.
package mappings_test

import (
	"flag"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

var update = flag.Bool("update", false, "rewrite golden files with the actual output")

// TestMappings runs each case as the subtest <vendor>/<mapping>/<test>, so
// go test ./mappings -run 'TestMappings/tes/visit_json_to_visit' selects
// one mapping. Inputs and outputs are also checked against the schemas the
// mapping names in from.schema and to.schema.
func TestMappings(t *testing.T) {
	cases, err := mapping.LoadTests(".", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no mapping tests found")
	}
	opts := mapping.TestOptions{Update: *update, SchemaDir: "../schemas"}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			r := tc.Run(opts)
			if !r.Passed {
				t.Error(r.Detail())
			}
		})
	}
}

// TestEveryMappingLoadsAndIsTested keeps mappings/ honest: every mapping
// compiles, and every mapping has a test file beside it.
func TestEveryMappingLoadsAndIsTested(t *testing.T) {
	ms, err := mapping.LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	cases, err := mapping.LoadTests(".", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		tested[mappingOf(tc.Name)] = true
	}
	for name := range ms {
		if !tested[name] {
			t.Errorf("mapping %s has no test cases (add %s_test.yaml)", name, name)
		}
	}
}

// mappingOf strips the test name from "<vendor>/<mapping>/<test>".
func mappingOf(testName string) string {
	for i := len(testName) - 1; i >= 0; i-- {
		if testName[i] == '/' {
			return testName[:i]
		}
	}
	return testName
}
