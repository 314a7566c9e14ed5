package main

import (
	"bufio"
	"fmt"
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
temporary directory, or --dir, which is kept) with the pipelines, mappings
and schemas of the repository checkout in the working directory or under
--root, or else those built into knut, and lets a synthetic municipality live through --days days: clients with
official Skatteverket test personnummer, providers and staff with test
HSA-IDs, and a TES system that pushes every visit over HTTP. It prints what
the hub stored and dead-lettered, then keeps serving (or exits with --once).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default(".")
			cfg.Log.Level = level
			log, err := newLogger(cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			opts.Logger = log
			opts.Out = cmd.OutOrStdout()
			if opts.Root == "" && demo.IsCheckout(".") {
				opts.Root = "." // a checkout's files override the built-in ones
			}
			if opts.Root != "" && !demo.IsCheckout(opts.Root) {
				return fmt.Errorf("demo: --root %q has no knut.yaml and pipelines directory (leave --root out to run the demo built into knut)", opts.Root)
			}
			_, err = demo.Run(cmd.Context(), opts)
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Root, "root", "", "checkout holding knut.yaml, pipelines/, mappings/ and schemas/ (default: the working directory if it is one, else the content built into knut)")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory for the demo's store, kept afterwards (default: a temporary directory, removed at exit)")
	cmd.Flags().IntVar(&opts.Days, "days", 3, "days of visits to simulate")
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:0", "the hub's HTTP address")
	cmd.Flags().BoolVar(&opts.Once, "once", false, "exit after the simulated period instead of serving on")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of the synthetic municipality and its visits")
	cmd.Flags().StringVar(&level, "log-level", "error", "log level: debug, info, warn or error (the summary lists dead letters)")
	cmd.AddCommand(newDemoVisitsCmd(), newDemoLockEventsCmd(), newDemoCityCmd())
	return cmd
}

// newDemoVisitsCmd writes the demo municipality's visits as TES JSON lines or
// as the TES nightly CSV export: the inputs of the import benchmarks and of
// `knut import` trials.
func newDemoVisitsCmd() *cobra.Command {
	var n int
	var seed uint64
	var start, format string
	cmd := &cobra.Command{
		Use:   "visits",
		Short: "Write the demo municipality's TES visits to stdout: JSON lines, or the nightly CSV export",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := time.ParseInLocation(time.DateOnly, start, demo.Stockholm())
			if err != nil {
				return fmt.Errorf("--start: %w", err)
			}
			m := demo.NewMunicipality(seed)
			write := m.WriteVisitLines
			switch format {
			case "jsonl":
			case "csv":
				write = m.WriteVisitCSV
			default:
				return fmt.Errorf("--format: want jsonl or csv, got %q", format)
			}
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			if err := write(w, n, day, seed); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	cmd.Flags().IntVarP(&n, "count", "n", 1000, "number of visits")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed")
	cmd.Flags().StringVar(&start, "start", "2026-01-01", "first day (YYYY-MM-DD)")
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl (the JSON export, a visit per line) or csv (the nightly CSV export, schemas/tes/README.md)")
	return cmd
}

// newDemoLockEventsCmd writes lock events as the Nuki Web API's log gives them, JSON
// lines: the input of the lock-event import benchmark (`knut import --pipeline
// nuki_lock_events`).
func newDemoLockEventsCmd() *cobra.Command {
	var n int
	var seed uint64
	var start string
	cmd := &cobra.Command{
		Use:   "lock-events",
		Short: "Write a city's lock events to stdout as Nuki SmartlockLog JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := time.ParseInLocation(time.DateOnly, start, demo.Stockholm())
			if err != nil {
				return fmt.Errorf("--start: %w", err)
			}
			return demo.WriteLockEvents(cmd.OutOrStdout(), n, day, seed)
		},
	}
	cmd.Flags().IntVarP(&n, "count", "n", 1000, "number of events")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed")
	cmd.Flags().StringVar(&start, "start", "2026-01-01", "first day (YYYY-MM-DD)")
	return cmd
}
