package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var checkedRE = regexp.MustCompile(`^(\d+) files checked, (\d+) problems$`)

// TestValidateRepository validates the repository's own pipelines,
// mappings and schemas: through a config that points at them, and with the
// directories given as arguments.
func TestValidateRepository(t *testing.T) {
	t.Parallel()
	cfg, _ := repoConfig(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tests := []struct {
		name string
		args []string
	}{
		{"configured directories", []string{"validate", "--config", cfg}},
		{"directories as arguments", []string{"validate", "--config", cfg,
			filepath.Join(root, "pipelines"), filepath.Join(root, "mappings"), filepath.Join(root, "schemas")}},
		{"one pipeline", []string{"validate", "--config", cfg, filepath.Join(root, "pipelines", "tes_visits.yaml")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := knut(t, tt.args...)
			if err != nil {
				t.Fatalf("knut validate: %v; output:\n%s", err, out)
			}
			m := checkedRE.FindStringSubmatch(lastLine(out))
			if m == nil || m[2] != "0" {
				t.Fatalf("last line %q, want \"N files checked, 0 problems\"; output:\n%s", lastLine(out), out)
			}
			if n, _ := strconv.Atoi(m[1]); n == 0 {
				t.Errorf("no files checked; output:\n%s", out)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("output has more than the summary line:\n%s", out)
			}
		})
	}
}

// TestValidateBroken validates a content tree with one mistake of each
// kind and compares every problem line, file:line: path: problem, with the
// golden file ($DIR stands for the temporary directory).
func TestValidateBroken(t *testing.T) {
	t.Parallel()
	dir := copyTestdata(t, filepath.Join("validate", "broken"))
	cfg := writeConfig(t, dir, "pipelines", "mappings", "schemas")
	out, _, err := knut(t, "validate", "--config", cfg)
	if err == nil {
		t.Fatalf("knut validate succeeded on broken content; output:\n%s", out)
	}
	var ee exitError
	if !errors.As(err, &ee) {
		t.Errorf("error %v (%T) is not an exitError: main would print it again after the problem lines", err, err)
	}
	golden(t, filepath.Join("validate", "broken.golden"), strings.ReplaceAll(out, dir, "$DIR"))

	// Every problem line has the form file:line: path: problem, and the
	// summary counts them.
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	problemRE := regexp.MustCompile(`^` + regexp.QuoteMeta(dir) + `/[^:]+\.(yaml|json):\d+: [^ :]+: .+$`)
	for _, l := range lines[:len(lines)-1] {
		if !problemRE.MatchString(l) {
			t.Errorf("problem line %q is not file:line: path: problem", l)
		}
	}
	if want := strconv.Itoa(len(lines)-1) + " problems"; !strings.HasSuffix(lines[len(lines)-1], want) {
		t.Errorf("summary %q, want it to end in %q", lines[len(lines)-1], want)
	}
}

// TestValidateBrokenSchema checks that a schema that is not valid against
// its metaschema fails validation and is named in the output.
func TestValidateBrokenSchema(t *testing.T) {
	t.Parallel()
	dir := copyTestdata(t, filepath.Join("validate", "badschema"))
	cfg := writeConfig(t, dir, "pipelines", "mappings", "schemas")
	out, _, err := knut(t, "validate", "--config", cfg, filepath.Join(dir, "schemas"))
	if err == nil {
		t.Fatalf("knut validate succeeded on a broken schema; output:\n%s", out)
	}
	file := filepath.Join(dir, "schemas", "tes", "visit.schema.json")
	if !strings.HasPrefix(out, file+": ") {
		t.Errorf("output does not start with the schema's file name %s:\n%s", file, out)
	}
	if m := checkedRE.FindStringSubmatch(lastLine(out)); m == nil || m[1] != "1" || m[2] == "0" {
		t.Errorf("last line %q, want \"1 files checked, N problems\" with N > 0", lastLine(out))
	}
}

func TestValidateMissingPath(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	missing := filepath.Join(dir, "no-such-dir")
	_, _, err := knut(t, "validate", "--config", cfg, missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("knut validate %s: error %v, want one naming the path", missing, err)
	}
}

// TestSymlinkedContent checks that validate and test follow symbolic links
// as serve does: a deployment that links its content directories (or one
// vendor's mappings) in from elsewhere is checked file for file like the
// repository itself.
func TestSymlinkedContent(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	plainCfg, _ := repoConfig(t)
	linkCfg, dir := repoConfig(t)
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// pipelines and schemas are links to directories; mappings is a
	// directory of links, one per vendor.
	linked := strings.NewReplacer(filepath.Join(root, "pipelines"), "pipelines",
		filepath.Join(root, "mappings"), "mappings", filepath.Join(root, "schemas"), "schemas")
	data, err := os.ReadFile(linkCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(linkCfg, []byte(linked.Replace(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	link(filepath.Join(root, "pipelines"), "pipelines")
	link(filepath.Join(root, "schemas"), "schemas")
	if err := os.Mkdir(filepath.Join(dir, "mappings"), 0o755); err != nil {
		t.Fatal(err)
	}
	vendors, err := os.ReadDir(filepath.Join(root, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vendors {
		if v.IsDir() {
			link(filepath.Join(root, "mappings", v.Name()), filepath.Join("mappings", v.Name()))
		}
	}

	for _, cmd := range []string{"validate", "test"} {
		plain, _, err := knut(t, cmd, "--config", plainCfg)
		if err != nil {
			t.Fatalf("knut %s on the repository: %v\n%s", cmd, err, plain)
		}
		viaLinks, _, err := knut(t, cmd, "--config", linkCfg)
		if err != nil {
			t.Fatalf("knut %s through symlinks: %v\n%s", cmd, err, viaLinks)
		}
		if lastLine(viaLinks) != lastLine(plain) {
			t.Errorf("knut %s through symlinks: %q, on the repository: %q", cmd, lastLine(viaLinks), lastLine(plain))
		}
		if strings.HasPrefix(lastLine(viaLinks), "0 ") {
			t.Errorf("knut %s through symlinks found nothing: %q", cmd, lastLine(viaLinks))
		}
	}
}
