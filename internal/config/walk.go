package config

import (
	"os"
	"path/filepath"
)

// Walk calls fn for every file under root, in lexical order, following
// symbolic links to directories (root included) as `knut serve` does when it
// opens files by name: a deployment that links its mappings or schemas in
// from elsewhere is checked and tested as it runs. Directories named
// testdata are skipped. A link back to a directory above it is followed once.
func Walk(root string, fn func(path string) error) error {
	return walk(root, fn, map[string]bool{})
}

func walk(path string, fn func(string) error, seen map[string]bool) error {
	fi, err := os.Stat(path) // follows links
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fn(path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if seen[real] {
		return nil
	}
	seen[real] = true
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "testdata" {
			continue
		}
		if err := walk(filepath.Join(path, e.Name()), fn, seen); err != nil {
			return err
		}
	}
	return nil
}
