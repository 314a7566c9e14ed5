package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/logging"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The case officer's view of an order: what it is on a date, and how it got there.

func newOrdersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orders",
		Short: "Show an order as it stands on a date, with its timeline",
	}
	cmd.AddCommand(newOrdersShowCmd())
	return cmd
}

func newOrdersShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ORDER_ID",
		Short: "An order (bestallningsId) as of a date: status, insatser, interruptions, and every event with the day it takes effect",
		Args:  cobra.ExactArgs(1),
	}
	var asOf, source string
	cmd.Flags().StringVar(&asOf, "as-of", "", "the date to show the order on (default today, Europe/Stockholm)")
	cmd.Flags().StringVar(&source, "source", "lifecare", "the case system (source_system) the order id is from")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		day, err := dayFlag("--as-of", asOf)
		if err != nil {
			return err
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			tl, err := st.OrderTimeline(ctx, source, args[0])
			if err != nil {
				return err
			}
			if _, err := st.Audit(ctx, store.AuditEntry{Actor: operator(), Action: "order.show", Outcome: store.AuditOK,
				Resource: "order:" + source + "/" + args[0], OrderSource: source, OrderID: args[0], Purpose: *purpose}); err != nil {
				return err
			}
			return printOrder(cmd.OutOrStdout(), tl, day)
		})
	}
	return cmd
}

// printOrder writes the order of tl as of day, then its events. The client shows masked.
func printOrder(out io.Writer, tl homecare.Timeline, day homecare.Date) error {
	o := tl.At(day)
	if o.IsZero() {
		evs := tl.Events()
		fmt.Fprintf(out, "order %s: not in force on %s (created %s)\n", evs[0].Order.ExternalID, day, evs[0].EffectiveDate())
	} else {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "%s\t%s\n", k, logging.MaskString(v))
			}
		}
		row("order", o.SourceSystem+"/"+o.ExternalID)
		row("as of", day.String())
		row("status", string(o.Status))
		row("decision", o.DecisionID+" of "+o.DecidedAt.String())
		row("provider", o.ProviderID)
		row("client", o.Client.PersonID.Masked()+protected(o.Client))
		row("valid", o.ValidFrom.String()+" – "+dateOr(o.ValidTo, "until further notice"))
		row("executed", dateOr(o.ExecutedAt, "")+by(o.ExecutedBy))
		row("ended", dateOr(o.EndedAt, "")+reason(string(o.EndReason)))
		for _, in := range o.Insatser {
			row("insats", fmt.Sprintf("%s %d min/%s", in.Code, in.GrantedMinutes, in.Period))
		}
		for _, in := range o.Interruptions {
			row("interruption", fmt.Sprintf("%s from %s, planned to %s, resumed %s%s", in.Reason, in.From,
				dateOr(in.PlannedTo, "-"), dateOr(in.ResumedOn, "-"), ended(in.EndedOn)))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\nEFFECTIVE   TYPE          EVENT                          OCCURRED")
	for _, e := range tl.Events() {
		mark := ""
		if day.Before(e.EffectiveDate()) {
			mark = "  (not yet in force)"
		}
		fmt.Fprintf(out, "%s  %-12s  %-29s  %s%s\n", e.EffectiveDate(), e.Type, e.EventID,
			e.OccurredAt.UTC().Format(time.RFC3339), mark)
	}
	return nil
}

func protected(c homecare.OrderClient) string {
	if c.ProtectedIdentity {
		return " (protected identity)"
	}
	return ""
}

func dateOr(d homecare.Date, none string) string {
	if d.IsZero() {
		return none
	}
	return d.String()
}

func by(s string) string {
	if s == "" {
		return ""
	}
	return " (by " + s + ")"
}

func reason(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func ended(d homecare.Date) string {
	if d.IsZero() {
		return ""
	}
	return ", order ended " + d.String()
}
