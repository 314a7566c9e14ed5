package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStoreFolder checks that a new deployment's store folder is made, and
// that one that cannot be made is named in the error.
func TestStoreFolder(t *testing.T) {
	t.Parallel()
	cfg, dir := repoConfig(t)
	file, _ := demoVisits(t, dir, "visits.jsonl", 3)
	setDSN := func(dsn string) {
		t.Helper()
		data, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		text := regexp.MustCompile(`(?m)^store: .*$`).ReplaceAllLiteralString(string(data), "store: {dsn: "+dsn+"}")
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	setDSN(filepath.Join(dir, "var", "lib", "knut", "knut.db"))
	if out, stderr, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file); err != nil {
		t.Fatalf("knut import into a store whose folder does not exist yet: %v\n%s%s", err, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "lib", "knut", "knut.db")); err != nil {
		t.Errorf("the store was not made in its new folder: %v", err)
	}

	// A file where the folder should be.
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	setDSN(filepath.Join(blocker, "knut", "knut.db"))
	_, _, err := knut(t, "import", "--config", cfg, "--pipeline", "tes_visits", file)
	if want := "store.dsn: cannot create the store's folder " + filepath.Join(blocker, "knut"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("knut import with a file in place of the store's folder: error %v, want it to contain %q", err, want)
	}
}
