package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/logging"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The provider's planner's view of a visit: as it stands, why the hub doubts it, and
// every correction it had.

func newVisitsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "visits",
		Short: "Show a visit with its flags and corrections; review days of visits against the tag register and the staff's other visits",
	}
	cmd.AddCommand(newVisitsShowCmd(), newVisitsReviewCmd())
	return cmd
}

func newVisitsShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show VISIT_ID",
		Short: "A visit (the TES visit id) as it stands, its flags, and its history: who changed what, when, from and to what",
		Args:  cobra.ExactArgs(1),
	}
	var source string
	cmd.Flags().StringVar(&source, "source", "tes", "the time system (source_system) the visit id is from")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			v, hist, err := st.VisitHistory(ctx, source, args[0])
			if err != nil {
				return err
			}
			if _, err := st.Audit(ctx, store.AuditEntry{Actor: operator(), Action: "visit.show", Outcome: store.AuditOK,
				Resource: "visit:" + source + "/" + args[0], ClientPersonID: v.Client.PersonID.Reveal(), Purpose: *purpose}); err != nil {
				return err
			}
			return printVisit(cmd.OutOrStdout(), v, hist)
		})
	}
	return cmd
}

// printVisit writes v and its corrections; personal data masked.
func printVisit(out io.Writer, v homecare.Visit, hist []store.VisitCorrection) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, logging.MaskString(val))
		}
	}
	row("visit", v.SourceSystem+"/"+v.ExternalID)
	if v.Version > 0 {
		row("version", fmt.Sprint(v.Version))
	}
	row("client", v.Client.PersonID.Masked())
	row("provider", v.ProviderID)
	row("day", v.LocalDate.String())
	loc := homecare.Stockholm()
	row("time", fmt.Sprintf("%s – %s (%d min)", v.StartAt.In(loc).Format("2006-01-02 15:04"), v.EndAt.In(loc).Format("15:04"), v.DurationMinutes))
	row("status", string(v.Status))
	for _, s := range v.Staff {
		id := string(s.HSAID)
		if id == "" {
			id = s.StaffRef
		}
		row("staff", id+" ("+string(s.Role)+")")
	}
	for _, in := range v.Insatser {
		text := in.Code
		if in.Minutes != nil {
			text += fmt.Sprintf(" %d min", *in.Minutes)
		}
		if in.Declined {
			text += " declined"
		}
		row("insats", text)
	}
	flags := make([]string, len(v.Flags))
	for i, f := range v.Flags {
		flags[i] = string(f)
	}
	row("flags", strings.Join(flags, ", "))
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d corrections\n", len(hist))
	for _, c := range hist {
		fmt.Fprintf(out, "  #%d  %s  by %s  version %d → %d\n", c.Seq, c.ChangedAt.UTC().Format(time.RFC3339), c.By, c.FromVersion, c.ToVersion)
		for _, f := range c.Changes {
			fmt.Fprintf(out, "      %s: %s → %s\n", f.Field, logging.MaskString(string(f.Old)), logging.MaskString(string(f.New)))
		}
	}
	return nil
}

func newVisitsReviewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Flag the visits of some days as the nightly job does: a tag at another client's door (foreign_tag) or at none (unknown_tag), staff on two visits at once (staff_overlap)",
		Args:  cobra.NoArgs,
	}
	var from, to string
	cmd.Flags().StringVar(&from, "from", "", "the first local day, YYYY-MM-DD (default yesterday)")
	cmd.Flags().StringVar(&to, "to", "", "the last local day, YYYY-MM-DD (default --from)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		first := homecare.LocalDate(time.Now()).AddDays(-1)
		if from != "" {
			var err error
			if first, err = dayFlag("--from", from); err != nil {
				return err
			}
		}
		last := first
		if to != "" {
			var err error
			if last, err = dayFlag("--to", to); err != nil {
				return err
			}
		}
		if last.Before(first) {
			return fmt.Errorf("--to %s is before --from %s", last, first)
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			r, err := st.ReviewVisits(ctx, first, last)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s to %s: %d visits reviewed, %d flagged or cleared; now %d foreign_tag, %d unknown_tag, %d staff_overlap, %d no_order\n",
				first, last, r.Visits, r.Changed, r.ForeignTag, r.UnknownTag, r.StaffOverlap, r.NoOrder)
			return nil
		})
	}
	return cmd
}
