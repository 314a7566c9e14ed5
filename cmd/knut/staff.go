package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/store"
)

// What the directory syncs found: who joined, changed and left, the events the key flow
// and the access review act on.

func newStaffCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "staff",
		Short: "What the directory syncs found: staff who joined, changed and left",
	}
	cmd.AddCommand(newStaffEventsCmd())
	return cmd
}

func newStaffEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "The joiners, movers and leavers each directory sync recorded, oldest first (people by HSA-ID or staff id, no names)",
		Args:  cobra.NoArgs,
	}
	var directory string
	cmd.Flags().StringVar(&directory, "directory", "", "only this directory's syncs (the pipeline's name for it)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			events, err := st.StaffEvents(ctx, directory)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "DAY\tDIRECTORY\tPROVIDER\tEVENT\tPERSON\tWHY")
			for _, e := range events {
				why := e.Reason
				if len(e.Fields) > 0 {
					why = strings.Join(e.Fields, ", ")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Day, e.Directory, e.ProviderID, e.Kind, strings.SplitN(e.Key, ":", 2)[1], why)
			}
			return w.Flush()
		})
	}
	return cmd
}
