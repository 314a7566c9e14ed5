package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The nightly reconciliation of executed hours (issue 13). Its rule set comes first: a
// municipality's controller checks a rule set file before the hub pays by it.

func newReconcileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconcile executed hours against granted time for a period (docs/reconciliation.md); check a rule set; list runs",
		Long: `Reconcile compares, per client, provider, insats category and local day, what the orders
granted with what the visits registered and the locks saw, under the municipality's rule set
(reconciliation.rule_set in knut.yaml, or --rules), and records the run and its lines. A run
supersedes the earlier runs of the days it covers; they are kept for audit. knut serve runs it
every night; this runs it now, for any period:

  knut reconcile --month 2026-10
  knut reconcile --from 2026-10-01 --to 2026-10-15`,
		Args: cobra.NoArgs,
	}
	var month, from, to, rules string
	var readOnly bool
	cmd.Flags().StringVar(&month, "month", "", "the month to reconcile, e.g. 2026-10")
	cmd.Flags().StringVar(&from, "from", "", "the first day to reconcile (with --to)")
	cmd.Flags().StringVar(&to, "to", "", "the last day to reconcile")
	cmd.Flags().StringVar(&rules, "rules", "", "the rule set file (default: reconciliation.rule_set of the config)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "read every input of the period and compute nothing (the benchmark's baseline)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		first, last, err := periodFlags(month, from, to)
		if err != nil {
			return err
		}
		return withRules(cmd, loadConfig, rules, func(ctx context.Context, st *store.Store, rs *reconcile.RuleSet) error {
			// A city's month is read a day or two at a time: a soft limit keeps the heap
			// well under the 512 MB the run may take (unless GOMEMLIMIT says otherwise).
			if debug.SetMemoryLimit(-1) == math.MaxInt64 {
				defer debug.SetMemoryLimit(debug.SetMemoryLimit(370 << 20))
			}
			opts := reconcile.Options{From: first, To: last, Trigger: "cli", ReadOnly: readOnly}
			if bar := dayBar(cmd.ErrOrStderr(), first, last); bar != nil {
				opts.Progress = func(homecare.Date, int, int) { bar.Add(1) }
				defer bar.Finish()
			}
			start := time.Now()
			res, err := reconcile.Run(ctx, st, rs, opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if readOnly {
				fmt.Fprintf(out, "read %s to %s: %d days, %d visits, %d lock events", first, last, res.Days, res.Visits, res.LockEvents)
			} else {
				fmt.Fprintf(out, "run %s, %s to %s under %s (%s)\n%s\n", res.Run.ID, first, last, rs.Name, rs.Hash()[:12], res.Run.Summary)
				fmt.Fprintf(out, "reconciled %d days", res.Days)
			}
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			fmt.Fprintf(out, " in %.1f s, peak RSS %d MiB\n", time.Since(start).Seconds(), ru.Maxrss>>10)
			return nil
		})
	}
	cmd.AddCommand(newReconcileRulesCmd(), newReconcileRunsCmd())
	return cmd
}

// periodFlags reads --month, or --from and --to.
func periodFlags(month, from, to string) (homecare.Date, homecare.Date, error) {
	var zero homecare.Date
	switch {
	case month != "" && (from != "" || to != ""):
		return zero, zero, errors.New("give --month, or --from and --to, not both")
	case month != "":
		m, err := report.ParseMonth(month)
		if err != nil {
			return zero, zero, fmt.Errorf("--month: %w", err)
		}
		return m.First(), m.Last(), nil
	case from == "" || to == "":
		return zero, zero, errors.New("give --month 2026-10, or --from 2026-10-01 --to 2026-10-31")
	}
	f, err := homecare.ParseDate(from)
	if err != nil {
		return zero, zero, fmt.Errorf("--from: %w", err)
	}
	t, err := homecare.ParseDate(to)
	if err != nil {
		return zero, zero, fmt.Errorf("--to: %w", err)
	}
	if t.Before(f) {
		return zero, zero, fmt.Errorf("--to %s is before --from %s", t, f)
	}
	if f.AddDays(366).Before(t) {
		return zero, zero, errors.New("--from and --to: at most a year at a time")
	}
	return f, t, nil
}

// withRules runs f with the store and the rule set (--rules, or the config's): the rules
// are read before the store is opened, so a broken file opens nothing.
func withRules(cmd *cobra.Command, loadConfig func() (*config.Config, error), rules string,
	f func(context.Context, *store.Store, *reconcile.RuleSet) error) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	rs, err := ruleSet(cfg, rules)
	if err != nil {
		return err
	}
	return withStore(cmd, func() (*config.Config, error) { return cfg, nil }, func(ctx context.Context, st *store.Store) error {
		return f(ctx, st, rs)
	})
}

// ruleSet loads --rules, or the config's reconciliation.rule_set.
func ruleSet(cfg *config.Config, flag string) (*reconcile.RuleSet, error) {
	path := flag
	if path == "" {
		if cfg.Reconciliation.RuleSet == "" {
			return nil, errors.New("no rule set: give --rules FILE, or set reconciliation.rule_set in knut.yaml (docs/reconciliation.md)")
		}
		path = cfg.Path(cfg.Reconciliation.RuleSet)
	}
	return reconcile.LoadRuleSet(path)
}

func newReconcileRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the reconciliation runs, latest first: period, rules, what superseded them, summary",
		Args:  cobra.NoArgs,
	}
	var month string
	cmd.Flags().StringVar(&month, "month", "", "only the runs that cover days of this month, e.g. 2026-10")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var from, to homecare.Date
		if month != "" {
			m, err := monthFlag(month)
			if err != nil {
				return err
			}
			from, to = m.First(), m.Last()
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			runs, err := st.ReconcileRuns(ctx, from, to)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RUN\tFROM\tTO\tTRIGGER\tRULES\tSTARTED\tSTATE\tLINES")
			for _, r := range runs {
				state := "current"
				switch {
				case r.FinishedAt.IsZero():
					state = "unfinished"
				case r.SupersededBy != "":
					state = "superseded by " + r.SupersededBy
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s %s\t%s\t%s\t%d\n", r.ID, r.From, r.To, r.Trigger, r.RuleSetName,
					r.RuleSetHash[:min(12, len(r.RuleSetHash))], r.StartedAt.In(homecare.Stockholm()).Format("2006-01-02 15:04"), state, r.Lines)
			}
			return w.Flush()
		})
	}
	return cmd
}

func newReconcileRulesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rules FILE",
		Short: "Check a rule set file strictly (every problem with its file and line) and print what it says and its hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := reconcile.LoadRuleSet(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s, version %d, from %s\nhash %s\n", rs.Name, rs.Version, rs.ValidFrom, rs.Hash())
			var rates []string
			for _, c := range slices.Sorted(maps.Keys(rs.Rates)) {
				rates = append(rates, fmt.Sprintf("%s %.2f kr/h", c, rs.Rates[c]))
			}
			fmt.Fprintf(out, "rates: %s; %d insatser\n", strings.Join(rates, ", "), len(rs.Insatser))
			return nil
		},
	}
}
