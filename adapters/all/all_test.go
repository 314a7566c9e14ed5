package all_test

import (
	"go/parser"
	"go/token"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/adapters"
	_ "github.com/knutpunkt/knutpunkt/adapters/all"
)

const module = "github.com/knutpunkt/knutpunkt/adapters/"

// notAdapters are the directories below adapters/ that hold no adapter.
var notAdapters = []string{"adapterstest", "all", "internal"}

// adapterDirs lists the adapter directories below adapters/.
func adapterDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(notAdapters, e.Name()) && !strings.HasPrefix(e.Name(), ".") && e.Name() != "testdata" {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}

// TestImportsEveryAdapter parses all.go, as Telegraf's plugins/all_test.go
// does, so an adapter cannot be forgotten.
func TestImportsEveryAdapter(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "all.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		rel, ok := strings.CutPrefix(p, module)
		if !ok || strings.Contains(rel, "/") {
			t.Errorf("all.go imports %q, which is not an adapter directory", p)
			continue
		}
		if imp.Name == nil || imp.Name.Name != "_" {
			t.Errorf("all.go imports %q by name; use a blank import", p)
		}
		imported = append(imported, path.Base(rel))
	}
	slices.Sort(imported)
	if diff := cmp.Diff(adapterDirs(t), imported); diff != "" {
		t.Errorf("adapter directories vs imports in all.go (-dirs +imports):\n%s", diff)
	}
}

// TestNamesAreDirectories checks that each adapter registers under its
// directory name and nothing else is registered.
func TestNamesAreDirectories(t *testing.T) {
	dirs := adapterDirs(t)
	if diff := cmp.Diff(dirs, adapters.Default.Names()); diff != "" {
		t.Errorf("adapter directories vs registered names (-dirs +names):\n%s", diff)
	}
	for _, d := range dirs {
		_, srcErr := adapters.Default.Source(d)
		_, sinkErr := adapters.Default.Sink(d)
		if srcErr != nil && sinkErr != nil {
			t.Errorf("adapters/%s registers neither a source nor a sink named %q", d, d)
		}
	}
}

// TestAdapterPackageFiles checks the anatomy every adapter shares
// (STYLE.md §9.3): a README, a sample, config and config tests, and a
// conformance test.
func TestAdapterPackageFiles(t *testing.T) {
	for _, d := range adapterDirs(t) {
		for _, want := range []string{"README.md", "config.go", "config_test.go", d + "_test.go"} {
			if _, err := os.Stat(path.Join("..", d, want)); err != nil {
				t.Errorf("adapters/%s: missing %s", d, want)
			}
		}
		samples, _ := os.ReadDir(path.Join("..", d))
		if !slices.ContainsFunc(samples, func(e os.DirEntry) bool {
			return strings.HasPrefix(e.Name(), "sample") && strings.HasSuffix(e.Name(), ".yaml")
		}) {
			t.Errorf("adapters/%s: missing sample*.yaml", d)
		}
		test, err := os.ReadFile(path.Join("..", d, d+"_test.go"))
		if err == nil && !strings.Contains(string(test), "adapterstest.Run") {
			t.Errorf("adapters/%s/%s_test.go does not run adapterstest", d, d)
		}
	}
}
