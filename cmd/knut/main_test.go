package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// knut runs the CLI in-process with args and returns what it wrote to stdout
// and stderr, and its error. A panic fails the test (the binary would crash)
// instead of taking the other tests down with it.
func knut(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("knut %s panicked: %v\n%s", strings.Join(args, " "), p, debug.Stack())
			stdout, stderr, err = out.String(), errOut.String(), fmt.Errorf("panic: %v", p)
		}
	}()
	err = run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}

// writeConfig writes a knut.yaml into dir: the store in dir, content
// directories as given (relative to dir, or absolute), and extra lines.
func writeConfig(t *testing.T, dir, pipelines, mappings, schemas string, extra ...string) string {
	t.Helper()
	lines := []string{
		"environment: test",
		"store: {dsn: " + filepath.Join(dir, "knut.db") + "}",
		"http: {listen: '127.0.0.1:0'}",
		"pipelines: " + pipelines,
		"mappings: " + mappings,
		"schemas: " + schemas,
	}
	path := filepath.Join(dir, "knut.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(append(lines, extra...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// repoConfig is a knut.yaml in a fresh directory whose content directories
// are the repository's, by absolute path, and whose store is in that
// directory.
func repoConfig(t *testing.T, extra ...string) (path, dir string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	// The repository's pipelines refer to the vars of its knut.yaml.
	repo, err := os.ReadFile(filepath.Join(root, "knut.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, vars, ok := strings.Cut(string(repo), "\nvars:\n")
	if !ok {
		t.Fatal("knut.yaml has no vars: block")
	}
	extra = append(extra, "vars:\n"+strings.TrimRight(vars, "\n"))
	return writeConfig(t, dir, filepath.Join(root, "pipelines"), filepath.Join(root, "mappings"),
		filepath.Join(root, "schemas"), extra...), dir
}

// The secret references of the repository's knut.yaml (the providers'
// webhook and SFTP secrets) are deliberately not set for these tests:
// replay and import need only the secrets of the pipelines they touch, and
// TestReplay replays a TES visit without any of them.

// copyTestdata copies testdata/src into a fresh directory and returns it.
// Content must leave testdata/ to count: knut validate skips testdata.
func copyTestdata(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", src))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestVersion builds knut as `make build` does, stamped, and runs it.
func TestVersion(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "knut")
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X main.version=v0.7.0 -X main.commit=0123456789abcdef -X main.date=2026-12-03T07:00:00Z", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("knut version: %v", err)
	}
	want := "knut v0.7.0\ncommit 0123456789abcdef\nbuilt 2026-12-03T07:00:00Z\n"
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("knut version = %q, want it to start %q", out, want)
	}
}
