package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The municipality's reports, computed from the orders' timelines (internal/report): run
// for any period at any time; knut serve's nightly jobs store each ended period's too.

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "The IVO report of decisions not executed in three months, and the monthly statistics for Socialstyrelsen (CSV)",
	}
	cmd.AddCommand(newReportIVOCmd(), newReportStatisticsCmd())
	return cmd
}

func newReportIVOCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ivo",
		Short: "Decisions not executed within three months, and interruptions of three months, for a quarter (CSV)",
		Args:  cobra.NoArgs,
	}
	var quarter, asOf, out string
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, e.g. 2026Q4 (default the one before today's)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "report as it stood on this date (default the day after the quarter, or today while it runs)")
	cmd.Flags().StringVar(&out, "out", "", "write the CSV to this file instead of standard output")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		today := homecare.LocalDate(time.Now())
		q := report.QuarterOf(today).Prev()
		if quarter != "" {
			var err error
			if q, err = report.ParseQuarter(quarter); err != nil {
				return err
			}
		}
		day, err := reportDay(asOf, q.Last().AddDays(1), today)
		if err != nil {
			return err
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			tls, err := st.Timelines(ctx)
			if err != nil {
				return err
			}
			lines := report.IVO(tls, q, day)
			if err := auditReport(ctx, st, "report.ivo", q.String(), *purpose); err != nil {
				return err
			}
			return writeTo(cmd, out, func(w io.Writer) error { return report.WriteIVO(w, lines) })
		})
	}
	return cmd
}

func newReportStatisticsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "statistics",
		Short: "Decisions ongoing on a month's last day, and started or ended during it, for Socialstyrelsen (CSV)",
		Args:  cobra.NoArgs,
	}
	var month, out string
	cmd.Flags().StringVar(&month, "month", "", "the month, e.g. 2026-11 (default the one before today's)")
	cmd.Flags().StringVar(&out, "out", "", "write the CSV to this file instead of standard output")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m := report.MonthOf(homecare.LocalDate(time.Now())).Prev()
		if month != "" {
			var err error
			if m, err = report.ParseMonth(month); err != nil {
				return err
			}
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			tls, err := st.Timelines(ctx)
			if err != nil {
				return err
			}
			lines := report.Statistics(tls, m)
			if err := auditReport(ctx, st, "report.statistics", m.String(), *purpose); err != nil {
				return err
			}
			return writeTo(cmd, out, func(w io.Writer) error { return report.WriteStatistics(w, lines) })
		})
	}
	return cmd
}

// reportDay is --as-of, or def, but never after today.
func reportDay(asOf string, def, today homecare.Date) (homecare.Date, error) {
	if asOf != "" {
		d, err := homecare.ParseDate(asOf)
		if err != nil {
			return homecare.Date{}, fmt.Errorf("--as-of: %w", err)
		}
		return d, nil
	}
	if today.Before(def) {
		return today, nil
	}
	return def, nil
}

// auditReport records that an operator produced a report naming clients.
func auditReport(ctx context.Context, st *store.Store, action, period, purpose string) error {
	_, err := st.Audit(ctx, store.AuditEntry{Actor: operator(), Action: action, Outcome: store.AuditOK,
		Resource: "report:" + period, Purpose: purpose})
	return err
}

// writeTo runs write on --out (created private: a report names clients), or on standard
// output.
func writeTo(cmd *cobra.Command, out string, write func(io.Writer) error) error {
	if out == "" {
		return write(cmd.OutOrStdout())
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
