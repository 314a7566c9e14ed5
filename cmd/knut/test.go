package main

import (
	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/mapping"
)

func newTestCmd() *cobra.Command {
	var update bool
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run the mapping tests (*_test.yaml beside each mapping)",
		Long: `test runs the test cases that sit beside each mapping (<name>_test.yaml) under
PATH (files or directories; default the configured mappings directory), the
same runner go test uses. It prints one line per case and, last,
"N passed, M failed"; the exit status is 1 if any failed.`,
	}
	cmd.Flags().BoolVar(&update, "update", false, "rewrite golden files with the actual output")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, paths []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		results := mapping.RunTests(cfg.Path(cfg.Mappings), paths, mapping.TestOptions{Update: update, SchemaDir: cfg.Path(cfg.Schemas)})
		if _, failed := mapping.Report(cmd.OutOrStdout(), results); failed > 0 {
			return exitError{"tests failed"}
		}
		return nil
	}
	return cmd
}
