package homecare_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// sharedPersonnummerDir is where the repository's sibling checkout keeps the personnummer/meta
// test data (the tree is X/main with the shared material at X/shared).
const sharedPersonnummerDir = "../../../shared/ext/personnummer"

// readShared decodes one JSON file from sharedPersonnummerDir into v. Without the directory the
// test is skipped, except in CI (CI=true), where missing test data is a failure.
func readShared(t testing.TB, name string, v any) {
	t.Helper()
	path := filepath.Join(sharedPersonnummerDir, name)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		msg := "official test data not found at " + path + " (clone shared/ beside main/ to run this test)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}
