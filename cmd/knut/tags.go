package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The tag register: which client's door each NFC tag is at, so that the nightly visit
// review can tell a visit registered with another client's tag (foreign_tag) or with a
// tag at no door (unknown_tag).

func newTagsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tags",
		Short: "Register the NFC tags at the clients' doors, end them, list the register",
	}
	cmd.AddCommand(newTagsRegisterCmd(), newTagsRemoveCmd(), newTagsListCmd())
	return cmd
}

func newTagsRegisterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register UID",
		Short: "Register a tag at a client's door from a day (audited); a tag at another door must be ended there first",
		Args:  cobra.ExactArgs(1),
	}
	var client, from, location string
	cmd.Flags().StringVar(&client, "client", "", "the client's personnummer or samordningsnummer (required)")
	cmd.Flags().StringVar(&from, "from", "", "the first day it is there, YYYY-MM-DD (default today)")
	cmd.Flags().StringVar(&location, "location", "", `where in the home, e.g. "inside the door frame" (no personal data)`)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		pid, err := homecare.ParsePersonID(client)
		if err != nil {
			return fmt.Errorf("--client: %w", err)
		}
		day, err := dayFlag("--from", from)
		if err != nil {
			return err
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			if err := st.RegisterTag(ctx, args[0], pid, day, location, operator()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tag %s registered at %s's door from %s\n", args[0], pid.Masked(), day)
			return nil
		})
	}
	return cmd
}

func newTagsRemoveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove UID",
		Short: "End a tag's registration: from the day on it is at no door (audited)",
		Args:  cobra.ExactArgs(1),
	}
	var on string
	cmd.Flags().StringVar(&on, "on", "", "the first day it is gone, YYYY-MM-DD (default today)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		day, err := dayFlag("--on", on)
		if err != nil {
			return err
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			if err := st.RemoveTag(ctx, args[0], day, operator()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tag %s ended from %s\n", args[0], day)
			return nil
		})
	}
	return cmd
}

func newTagsListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "The tag register: every tag's every period at a door (client masked)",
		Args:  cobra.NoArgs,
	}
	var client string
	cmd.Flags().StringVar(&client, "client", "", "only this client's tags (personnummer or samordningsnummer)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var pid homecare.PersonID
		if client != "" {
			var err error
			if pid, err = homecare.ParsePersonID(client); err != nil {
				return fmt.Errorf("--client: %w", err)
			}
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			regs, err := st.Tags(ctx, pid)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "UID\tCLIENT\tFROM\tTO\tLOCATION\tBY")
			for _, r := range regs {
				to := "-"
				if !r.ValidTo.IsZero() {
					to = r.ValidTo.String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.UID, r.Client.Masked(), r.ValidFrom, to, r.Location, r.RegisteredBy)
			}
			return w.Flush()
		})
	}
	return cmd
}

// dayFlag reads a YYYY-MM-DD flag; empty is today in Stockholm.
func dayFlag(name, s string) (homecare.Date, error) {
	if s == "" {
		return homecare.LocalDate(time.Now()), nil
	}
	d, err := homecare.ParseDate(s)
	if err != nil {
		return d, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}
