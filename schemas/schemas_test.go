package schemas_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// schemaFile is one schema under schemas/ and the fixtures that belong
// to it by the naming rule in README.md.
type schemaFile struct {
	path    string // e.g. tes/visit.xsd
	base    string // e.g. visit
	dataExt string // ".xml" or ".json"
}

// TestSchemas compiles every schema and checks its fixtures: each file
// in testdata/valid passes, each in testdata/invalid fails with an error
// containing the text of its sibling .err file.
func TestSchemas(t *testing.T) {
	schemas, err := findSchemas(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(schemas) == 0 {
		t.Fatal("no schemas found under schemas/")
	}
	claimed := map[string]bool{}
	for _, s := range schemas {
		t.Run(filepath.ToSlash(s.path), func(t *testing.T) {
			v, err := schema.Load(s.path)
			if err != nil {
				t.Fatalf("Load(%q): %v", s.path, err)
			}
			valid := fixtures(t, s, "valid", schemas)
			if len(valid) == 0 {
				t.Errorf("no fixtures in %s/testdata/valid/%s_*%s: every schema needs at least one valid example", filepath.Dir(s.path), s.base, s.dataExt)
			}
			for _, f := range valid {
				claimed[f] = true
				t.Run("valid/"+filepath.Base(f), func(t *testing.T) {
					if err := v.Validate(readFile(t, f)); err != nil {
						t.Errorf("Validate(%s) = %v, want nil", f, err)
					}
				})
			}
			for _, f := range fixtures(t, s, "invalid", schemas) {
				claimed[f] = true
				t.Run("invalid/"+filepath.Base(f), func(t *testing.T) {
					wantFile := strings.TrimSuffix(f, s.dataExt) + ".err"
					want := strings.TrimSpace(string(readFile(t, wantFile)))
					if want == "" {
						t.Fatalf("%s is empty: it must hold a substring of the expected error", wantFile)
					}
					err := v.Validate(readFile(t, f))
					if err == nil {
						t.Fatalf("Validate(%s) = nil, want error containing %q", f, want)
					}
					var ve *schema.ValidationError
					if !errors.As(err, &ve) {
						t.Errorf("Validate(%s) error is %T, want *schema.ValidationError", f, err)
					}
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Validate(%s) = %q, want it to contain %q", f, err, want)
					}
				})
			}
		})
	}
	// A fixture no schema claims is a typo in its name; say so.
	for _, f := range allFixtures(t) {
		if !claimed[f] {
			t.Errorf("fixture %s belongs to no schema (want <schema base name>_<case>.xml|.json beside the schema)", f)
		}
	}
}

func findSchemas(root string) ([]schemaFile, error) {
	var out []schemaFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, ".xsd"):
			out = append(out, schemaFile{path: path, base: strings.TrimSuffix(name, ".xsd"), dataExt: ".xml"})
		case strings.HasSuffix(name, ".schema.json"):
			out = append(out, schemaFile{path: path, base: strings.TrimSuffix(name, ".schema.json"), dataExt: ".json"})
		}
		return nil
	})
	return out, err
}

// fixtures lists testdata/<kind>/<base>_*<ext> beside s, leaving out
// files that a sibling schema with a longer base name claims (so
// order_line_x.xml belongs to order_line.xsd, not order.xsd).
func fixtures(t *testing.T, s schemaFile, kind string, all []schemaFile) []string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(s.path), "testdata", kind)
	matches, err := filepath.Glob(filepath.Join(dir, s.base+"_*"+s.dataExt))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		if owner(m, all) == s.path {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// owner returns the schema a fixture belongs to: same directory, same
// data kind, longest base name that prefixes the fixture name plus "_".
func owner(fixture string, all []schemaFile) string {
	dir := filepath.Dir(filepath.Dir(filepath.Dir(fixture)))
	name := filepath.Base(fixture)
	best, bestLen := "", -1
	for _, s := range all {
		if filepath.Dir(s.path) == dir && strings.HasSuffix(name, s.dataExt) &&
			strings.HasPrefix(name, s.base+"_") && len(s.base) > bestLen {
			best, bestLen = s.path, len(s.base)
		}
	}
	return best
}

func allFixtures(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		kind := filepath.Base(filepath.Dir(path))
		if !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(path))) == "testdata" &&
			(kind == "valid" || kind == "invalid") && !strings.HasSuffix(path, ".err") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
