package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The municipality's reports, computed from the orders' timelines (internal/report): run
// for any period at any time; knut serve's nightly jobs store each ended period's too.

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "The IVO report, the monthly statistics for Socialstyrelsen, the quarterly access review, and the month's payment basis",
	}
	cmd.AddCommand(newReportIVOCmd(), newReportStatisticsCmd(), newReportAccessCmd(), newReportMonthCmd())
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
		q, err := quarterFlag(quarter)
		if err != nil {
			return err
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
		m, err := monthFlag(month)
		if err != nil {
			return err
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

func newReportMonthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "month",
		Short: "The month's reconciliation: the payment basis per provider (CSV), executed vs granted by provider (CSV), a self-contained HTML page",
		Long: `month writes the month's reconciliation report from the current lines of the runs that
cover it (knut reconcile, or the nightly job), under the rule set of the config (or --rules):
the payment basis per provider and insats category (--csv, the default on standard output),
executed vs granted by provider (--municipality-csv), and one self-contained HTML page with
charts a finance manager can open or mail (--html). docs/reconciliation.md explains every
column and status code.`,
		Args: cobra.NoArgs,
	}
	var month, csvOut, muniOut, htmlOut, rules string
	cmd.Flags().StringVar(&month, "month", "", "the month, e.g. 2026-10 (default the one before today's)")
	cmd.Flags().StringVar(&csvOut, "csv", "", "write the payment basis CSV to this file (default: standard output, unless another output is given)")
	cmd.Flags().StringVar(&muniOut, "municipality-csv", "", "write executed vs granted by provider (CSV) to this file")
	cmd.Flags().StringVar(&htmlOut, "html", "", "write the self-contained HTML report to this file")
	cmd.Flags().StringVar(&rules, "rules", "", "the rule set file (default: reconciliation.rule_set of the config)")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m, err := monthFlag(month)
		if err != nil {
			return err
		}
		return withRules(cmd, loadConfig, rules, func(ctx context.Context, st *store.Store, rs *reconcile.RuleSet) error {
			in, err := reconcile.MonthInput(ctx, st, rs, m, time.Now())
			if err != nil {
				return err
			}
			if err := auditReport(ctx, st, "report.month", m.String(), *purpose); err != nil {
				return err
			}
			if csvOut != "" || (muniOut == "" && htmlOut == "") {
				if err := writeTo(cmd, csvOut, func(w io.Writer) error { return report.WritePaymentBasisCSV(w, report.PaymentBases(in)) }); err != nil {
					return err
				}
			}
			if muniOut != "" {
				if err := writeTo(cmd, muniOut, func(w io.Writer) error { return report.WriteMunicipalityCSV(w, in) }); err != nil {
					return err
				}
			}
			if htmlOut != "" {
				return writeTo(cmd, htmlOut, func(w io.Writer) error { return report.WriteMonthHTML(w, in) })
			}
			return nil
		})
	}
	return cmd
}

func newReportAccessCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "The quarterly access review (behörighetsgranskning): everyone with access per provider, flagged, with their log lists",
		Long: `access lists, per provider, everyone with access during the quarter: the staff the
directory syncs listed (with their commissions), and every other HSA-ID that called the hub,
each with what the manager checks: left but still with access, access without a commission,
no activity in 90 days, visits to another provider's clients, not in any directory. --log
adds each person's log list (what they did through the hub, from the audit trail). The
table is for reading, --csv for a spreadsheet; ` + "`knut report access sign`" + ` records the
manager's sign-off. Producing the review is audited.`,
		Args: cobra.NoArgs,
	}
	var quarter, out, provider string
	var asCSV, withLog bool
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, e.g. 2026Q4 (default the one before today's)")
	cmd.Flags().StringVar(&provider, "provider", "", "only this provider's people")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "CSV with a header row instead of the table")
	cmd.Flags().BoolVar(&withLog, "log", false, "each person's log list under them (table only)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.AddCommand(newReportAccessSignCmd())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q, err := quarterFlag(quarter)
		if err != nil {
			return err
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			facts, err := st.AccessFacts(ctx, q.First(), q.Last())
			if err != nil {
				return err
			}
			lines := report.Access(facts, q)
			if provider != "" {
				lines = slices.DeleteFunc(lines, func(l report.AccessLine) bool { return l.ProviderID != provider })
			}
			signed, err := accessSignOffs(ctx, st, q)
			if err != nil {
				return err
			}
			if err := auditReport(ctx, st, "report.access", q.String(), *purpose); err != nil {
				return err
			}
			return writeTo(cmd, out, func(w io.Writer) error {
				if asCSV {
					return report.WriteAccessCSV(w, lines)
				}
				return report.WriteAccessTable(w, lines, signed, withLog)
			})
		})
	}
	return cmd
}

func newReportAccessSignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Record a provider's manager signing off the quarter's access review (audited: the audit trail is the record)",
		Args:  cobra.NoArgs,
	}
	var quarter, provider, by string
	cmd.Flags().StringVar(&quarter, "quarter", "", "the quarter, e.g. 2026Q4 (default the one before today's)")
	cmd.Flags().StringVar(&provider, "provider", "", "the provider whose review is signed off (required)")
	cmd.Flags().StringVar(&by, "by", "", "the manager's HSA-ID (required)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q, err := quarterFlag(quarter)
		if err != nil {
			return err
		}
		if provider == "" {
			return fmt.Errorf("--provider is required")
		}
		if _, err := homecare.ParseHSAID(by, true); err != nil {
			return fmt.Errorf("--by: %w", err)
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			if _, err := st.Audit(ctx, store.AuditEntry{Actor: "hsa:" + by, Action: accessSignAction, Outcome: store.AuditOK,
				Resource: accessReviewResource(q, provider), Detail: "recorded by " + operator()}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s's access review %s signed off by %s\n", provider, q, by)
			return nil
		})
	}
	return cmd
}

const accessSignAction = "report.access.sign"

func accessReviewResource(q report.Quarter, provider string) string {
	return "access_review:" + q.String() + ":" + provider
}

// accessSignOffs are the sign-offs of q's review by provider, from the audit trail.
func accessSignOffs(ctx context.Context, st *store.Store, q report.Quarter) (map[string][]string, error) {
	records, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	prefix := "access_review:" + q.String() + ":"
	for _, r := range records {
		if r.Action == accessSignAction && strings.HasPrefix(r.Resource, prefix) {
			p := strings.TrimPrefix(r.Resource, prefix)
			out[p] = append(out[p], strings.TrimPrefix(r.Actor, "hsa:")+" at "+r.At.UTC().Format(time.RFC3339))
		}
	}
	return out, nil
}

// quarterFlag is --quarter, or the quarter before today's.
func quarterFlag(s string) (report.Quarter, error) {
	if s == "" {
		return report.QuarterOf(homecare.LocalDate(time.Now())).Prev(), nil
	}
	return report.ParseQuarter(s)
}

// monthFlag is --month, or the month before today's.
func monthFlag(s string) (report.Month, error) {
	if s == "" {
		return report.MonthOf(homecare.LocalDate(time.Now())).Prev(), nil
	}
	m, err := report.ParseMonth(s)
	if err != nil {
		return m, fmt.Errorf("--month: %w", err)
	}
	return m, nil
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
