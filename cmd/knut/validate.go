package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/mapping"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/schema"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

func newValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check pipelines, mappings and schemas offline; print every problem as file:line",
		Long: `validate loads every pipeline, mapping and schema under PATH (files or
directories; default: the configured pipelines, mappings and schemas
directories) exactly as knut serve would, without connecting anywhere.
Each problem is printed as "file:line: path: problem"; the exit status is 1
if there is any.`,
	}
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		if len(args) == 0 {
			args = []string{cfg.Path(cfg.Pipelines), cfg.Path(cfg.Mappings), cfg.Path(cfg.Schemas)}
		}
		files, err := contentFiles(cfg, args)
		if err != nil {
			return err
		}
		res := server.Resources(cfg, adapters.Default)
		out := cmd.OutOrStdout()
		problems := 0
		for _, f := range files {
			for _, p := range validateFile(cfg, res, f) {
				fmt.Fprintln(out, p)
				problems++
			}
		}
		fmt.Fprintf(out, "%d files checked, %d problems\n", len(files), problems)
		if problems > 0 {
			return exitError{"validation failed"}
		}
		return nil
	}
	return cmd
}

type contentKind int

const (
	kindPipeline contentKind = iota
	kindMapping
	kindSchema
	kindOther
)

// kindOf tells what a file is from where it lives: YAML under the mappings
// directory is a mapping, other YAML a pipeline, .xsd and .schema.json files
// schemas. Test files (*_test.yaml) and testdata are not content.
func kindOf(cfg *config.Config, path string) contentKind {
	slash := filepath.ToSlash(path)
	switch {
	case strings.Contains(slash, "/testdata/") || strings.HasPrefix(slash, "testdata/"):
		return kindOther
	case strings.HasSuffix(path, ".xsd"), strings.HasSuffix(path, ".schema.json"):
		return kindSchema
	case strings.HasSuffix(path, "_test.yaml"), !strings.HasSuffix(path, ".yaml"):
		return kindOther
	}
	if within(path, cfg.Path(cfg.Mappings)) {
		return kindMapping
	}
	return kindPipeline
}

func within(path, dir string) bool {
	abs, err1 := filepath.Abs(path)
	root, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(root, abs)
	return err == nil && !strings.HasPrefix(rel, "..")
}

// contentFiles expands paths into the content files below them, sorted.
func contentFiles(cfg *config.Config, paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		err := config.Walk(p, func(path string) error {
			if kindOf(cfg, path) != kindOther {
				files = append(files, path)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file or directory", p)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// validateFile returns the file's problems, one entry each: a pipeline's
// Problems one by one, other errors split where they were joined. A
// problem's further lines (a schema's nested causes) are indented under it.
func validateFile(cfg *config.Config, res pipeline.Resources, path string) []string {
	var err error
	switch kindOf(cfg, path) {
	case kindPipeline:
		_, err = pipeline.Load(path, res)
	case kindMapping:
		err = validateMapping(cfg, path)
	case kindSchema:
		_, err = schema.Load(path)
	}
	if err == nil {
		return nil
	}
	var errs []error
	var ps pipeline.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			errs = append(errs, p)
		}
	} else if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	problems := make([]string, 0, len(errs))
	for _, e := range errs {
		lines := strings.Split(strings.TrimSpace(e.Error()), "\n")
		if !strings.HasPrefix(lines[0], path) {
			lines[0] = path + ": " + lines[0]
		}
		for i := 1; i < len(lines); i++ {
			lines[i] = "    " + strings.TrimSpace(lines[i])
		}
		problems = append(problems, strings.Join(lines, "\n"))
	}
	return problems
}

// validateMapping loads a mapping and checks its output fields and
// constants against the JSON Schema it names as its target.
func validateMapping(cfg *config.Config, path string) error {
	m, err := mapping.Load(path)
	if err != nil || !strings.HasSuffix(m.OutputSchema(), ".schema.json") {
		return err
	}
	doc, err := os.ReadFile(filepath.Join(cfg.Path(cfg.Schemas), filepath.FromSlash(m.OutputSchema())))
	if err != nil {
		return fmt.Errorf("%s: to.schema: %w", path, err)
	}
	return m.CheckTarget(path, doc)
}
