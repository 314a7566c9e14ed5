package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// newDemoCityCmd writes a city's month straight into the configured store: the input
// of the reconciliation benchmark (testdata/bench/reconcile.sh).
func newDemoCityCmd() *cobra.Command {
	var opts demo.CityOptions
	var month string
	cmd := &cobra.Command{
		Use:   "city",
		Short: "Write a city's month of orders, key grants, visits and lock events into the configured store",
		Long: `city writes one month of a large municipality's home care into the store of --config,
through the store's own write paths (orders as the case system and providers send them, key
grants as the keys engine and the lock vendor record them, visits through the ingest path's
batched writer, lock events as the nuki pipeline stores them), without pipelines: about 3
visits a day per client, clients (official test personnummer only) of 12 providers of
skewed sizes, some double staffing and couples, visits registered by tag, by hand, by lock
or outside the home, a few declined, cancelled, late, too short or too long, and about two
lock events per visit. The same --seed gives the same month. Progress goes to stderr.

  knut demo city --config knut.yaml --month 2026-10 --visits 200000`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&month, "month", "", "the month of the visits, e.g. 2026-10 (required)")
	cmd.Flags().IntVar(&opts.Visits, "visits", 2_000_000, "visits to write")
	cmd.Flags().IntVar(&opts.LockEvents, "lock-events", 0, "lock events to write (default twice --visits)")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "seed of the city")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m, err := report.ParseMonth(month)
		if err != nil {
			return fmt.Errorf("--month: %w", err)
		}
		opts.Month = m
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		// The store runs on the city's clock: orders and grants are made before the month,
		// each day's visits received the next day.
		opts.Clock = &demo.CityClock{}
		st, err := server.OpenStore(cmd.Context(), cfg, adapters.EnvSecrets{}, opts.Clock.Now)
		if err != nil {
			return err
		}
		defer st.Close()
		opts.Progress = cmd.ErrOrStderr()
		s, err := demo.GenerateCity(cmd.Context(), st, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "city %s: %d clients (%d couples), %d providers, %d teams, %d staff; %d orders (%d events), %d key grants;\n"+
			"  %d visits (%d late, %d declined, %d cancelled, %d double-staffed), %d lock events in %.1f s (%.0f visits/s)\n",
			m, s.Clients, s.Couples, s.Providers, s.Teams, s.Staff, s.Orders, s.OrderEvents, s.KeyGrants,
			s.Visits, s.Late, s.Declined, s.Cancelled, s.DoubleStaffed, s.LockEvents, s.Elapsed.Seconds(),
			float64(s.Visits)/s.Elapsed.Seconds())
		return nil
	}
	return cmd
}
