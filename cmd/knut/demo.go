package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var opts demo.Options
	var level string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a simulated municipality through the hub on loopback",
		Long: `demo starts the hub on the embedded default (SQLite store and bus in a
temporary directory) with the pipelines, mappings and schemas under --root,
and lets a synthetic municipality live through --days days: clients with
official Skatteverket test personnummer, providers and staff with test
HSA-IDs, and a TES system that pushes every visit over HTTP. It prints what
the hub stored and dead-lettered, then keeps serving (or exits with --once).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default(opts.Root)
			cfg.Log.Level = level
			log, err := newLogger(cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			opts.Logger = log
			opts.Out = cmd.OutOrStdout()
			if _, err := os.Stat(cfg.Path(cfg.Pipelines)); err != nil {
				return fmt.Errorf("demo: no pipelines directory under --root %q (run from the repository root)", opts.Root)
			}
			_, err = demo.Run(cmd.Context(), opts)
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Root, "root", ".", "directory holding pipelines/, mappings/ and schemas/")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory for the demo's store (default: a temporary directory, removed at exit)")
	cmd.Flags().IntVar(&opts.Days, "days", 3, "days of visits to simulate")
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:0", "the hub's HTTP address")
	cmd.Flags().BoolVar(&opts.Once, "once", false, "exit after the simulated period instead of serving on")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of the synthetic municipality and its visits")
	cmd.Flags().StringVar(&level, "log-level", "error", "log level: debug, info, warn or error (the summary lists dead letters)")
	cmd.AddCommand(newDemoVisitsCmd())
	return cmd
}

// newDemoVisitsCmd writes the demo municipality's visits as TES JSON lines:
// the input of the ingest benchmark and of `knut import` trials.
func newDemoVisitsCmd() *cobra.Command {
	var n int
	var seed uint64
	var start string
	cmd := &cobra.Command{
		Use:   "visits",
		Short: "Write the demo municipality's TES visits as JSON lines to stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := time.ParseInLocation(time.DateOnly, start, demo.Stockholm())
			if err != nil {
				return fmt.Errorf("--start: %w", err)
			}
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			if err := demo.NewMunicipality(seed).WriteVisitLines(w, n, day, seed); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	cmd.Flags().IntVarP(&n, "count", "n", 1000, "number of visits")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed")
	cmd.Flags().StringVar(&start, "start", "2026-01-01", "first day (YYYY-MM-DD)")
	return cmd
}
