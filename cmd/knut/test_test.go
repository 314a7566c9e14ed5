package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var summaryRE = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

// TestTestRepository runs the repository's mapping tests through knut test.
func TestTestRepository(t *testing.T) {
	t.Parallel()
	cfg, _ := repoConfig(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tests := []struct {
		name string
		args []string
	}{
		{"configured mappings", []string{"test", "--config", cfg}},
		{"one vendor directory", []string{"test", "--config", cfg, filepath.Join(root, "mappings", "tes")}},
		{"one mapping", []string{"test", "--config", cfg, filepath.Join(root, "mappings", "tes", "visit_json_to_visit.yaml")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := knut(t, tt.args...)
			if err != nil {
				t.Fatalf("knut test: %v; output:\n%s", err, out)
			}
			m := summaryRE.FindStringSubmatch(lastLine(out))
			if m == nil || m[2] != "0" {
				t.Fatalf("last line %q, want \"N passed, 0 failed\"; output:\n%s", lastLine(out), out)
			}
			n, _ := strconv.Atoi(m[1])
			if ok := strings.Count("\n"+out, "\nok   "); n == 0 || ok != n {
				t.Errorf("%d passed but the output has %d ok lines:\n%s", n, ok, out)
			}
			if strings.Contains(out, "FAIL") {
				t.Errorf("output has a FAIL line:\n%s", out)
			}
		})
	}
}

// TestTestFailing runs mapping tests of which one fails.
func TestTestFailing(t *testing.T) {
	t.Parallel()
	dir := copyTestdata(t, "mappingtest")
	cfg := writeConfig(t, dir, "pipelines", "mappings", "schemas")
	out, _, err := knut(t, "test", "--config", cfg)
	if err == nil {
		t.Fatalf("knut test succeeded with a failing case; output:\n%s", out)
	}
	var ee exitError
	if !errors.As(err, &ee) {
		t.Errorf("error %v (%T) is not an exitError", err, err)
	}
	if got, want := lastLine(out), "2 passed, 1 failed"; got != want {
		t.Errorf("last line %q, want %q; output:\n%s", got, want, out)
	}
	for _, want := range []string{
		"ok   demo/visit_id/copies the id\n",
		"ok   demo/visit_id/missing id\n",
		"FAIL demo/visit_id/wrong expectation\n",
		filepath.Join(dir, "mappings", "demo", "visit_id_test.yaml") + ":10: output mismatch (-want +got):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not contain %q:\n%s", want, out)
		}
	}
}
