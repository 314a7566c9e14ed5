package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The keyless locks' keys (internal/keys): what the hub wants each person's access to
// each door to be and what the vendor confirmed, the emergency revoke, and what the
// locks logged.

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Key grants at the keyless locks: list them, revoke a person's at once, lift a block, read the lock events",
	}
	cmd.AddCommand(newKeysListCmd(), newKeysRevokeCmd(), newKeysUnblockCmd(), newKeysEventsCmd())
	return cmd
}

func newKeysListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "The key grants: per lock and person what the hub wants, what the vendor confirmed, and the blocks",
		Args:  cobra.NoArgs,
	}
	var staff, client, lock string
	cmd.Flags().StringVar(&staff, "staff", "", "only this person's (HSA-ID)")
	cmd.Flags().StringVar(&client, "client", "", "only the grants to this client's door (personnummer or samordningsnummer)")
	cmd.Flags().StringVar(&lock, "lock", "", "only this lock's (the vendor's lock id)")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		pid, err := optionalPerson("--client", client)
		if err != nil {
			return err
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			if err := auditClientRead(ctx, st, "keys.list", pid, *purpose); err != nil {
				return err
			}
			grants, err := st.KeyGrants(ctx, store.KeyGrantFilter{Holder: homecare.HSAID(staff), Client: pid, LockRef: lock})
			if err != nil {
				return err
			}
			blocks, err := st.KeyBlocks(ctx)
			if err != nil {
				return err
			}
			return writeKeyGrants(cmd.OutOrStdout(), grants, blocks)
		})
	}
	return cmd
}

// writeKeyGrants writes grants as a table (clients masked), then the blocks.
func writeKeyGrants(out io.Writer, grants []store.KeyGrant, blocks []store.KeyBlock) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VENDOR\tLOCK\tSTAFF\tPROVIDER\tCLIENT\tWANTED\tSTATE\tCHANGE\tCONFIRMED\tAT VENDOR\tFROM\tUNTIL\tREASON")
	for _, g := range grants {
		client, from, until, atVendor := "-", "-", "-", "-"
		if !g.Client.IsZero() {
			client = g.Client.Masked()
		}
		if g.Op == homecare.KeyGrantOp {
			from = g.Window.ValidFrom.In(homecare.Stockholm()).Format("2006-01-02")
			if g.Window.ValidUntil != nil {
				until = g.Window.ValidUntil.In(homecare.Stockholm()).Format("2006-01-02")
			}
		}
		if !g.CheckedAt.IsZero() {
			atVendor = fmt.Sprintf("%v (%s)", g.AtVendor, g.CheckedAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t#%d\t#%d\t%s\t%s\t%s\t%s\n", g.Vendor, g.LockRef, g.Holder, g.ProviderID, client,
			g.Op, g.State, g.Seq, g.AppliedSeq, atVendor, from, until, g.Reason)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, b := range blocks {
		fmt.Fprintf(out, "blocked: %s since %s by %s: %s\n", b.Holder, b.BlockedAt.UTC().Format(time.RFC3339), b.BlockedBy, b.Reason)
	}
	return nil
}

func newKeysRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Emergency revoke (a lost phone, a dismissal): block a person's keys and revoke every grant at once (audited)",
		Long: `revoke blocks the person's keys and hands a revoke of each of their grants to the
keys pipeline (locks.keys_pipeline) in the configured store's message log: a running
knut serve sends them to the lock vendor within seconds. No grant is made for the person
until ` + "`knut keys unblock`" + `. POST /keys/revoke on the hub does the same for an operator.`,
		Args: cobra.NoArgs,
	}
	var staff, reason string
	cmd.Flags().StringVar(&staff, "staff", "", "the person's HSA-ID (required)")
	cmd.Flags().StringVar(&reason, "reason", "", `why, e.g. "lost phone" (required; recorded in the audit trail)`)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		holder, err := homecare.ParseHSAID(staff, cfg.Environment != config.Production)
		if err != nil {
			return fmt.Errorf("--staff: %w", err)
		}
		if reason == "" {
			return errors.New("--reason: is required (a lost phone, a dismissal, …)")
		}
		cfg.HTTP.Disabled = true
		log, err := newLogger(cfg, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		srv, err := server.New(cmd.Context(), cfg, server.Options{Logger: log})
		if err != nil {
			return err
		}
		defer srv.Close()
		if srv.Keys() == nil {
			return fmt.Errorf("the configuration runs no key lifecycle: locks.keys_pipeline %q is not a pipeline", cfg.Locks.KeysPipeline)
		}
		n, err := srv.Keys().Revoke(cmd.Context(), holder, reason, operator())
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s blocked; %d grants to revoke handed to %s\n", holder, n, cfg.Locks.KeysPipeline)
		return nil
	}
	return cmd
}

func newKeysUnblockCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unblock",
		Short: "Lift a person's block: the orders in force give them keys again at the next comparison (audited)",
		Args:  cobra.NoArgs,
	}
	var staff string
	cmd.Flags().StringVar(&staff, "staff", "", "the person's HSA-ID (required)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if staff == "" {
			return errors.New("--staff: is required")
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			if err := st.UnblockKeys(ctx, homecare.HSAID(staff), operator()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s unblocked\n", staff)
			return nil
		})
	}
	return cmd
}

func newKeysEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "What the locks logged: who opened which door when, with the findings (opened without a grant)",
		Args:  cobra.NoArgs,
	}
	var staff, client, lock, from, to string
	var findings bool
	cmd.Flags().StringVar(&staff, "staff", "", "only this person's (HSA-ID)")
	cmd.Flags().StringVar(&client, "client", "", "only this client's door (personnummer or samordningsnummer)")
	cmd.Flags().StringVar(&lock, "lock", "", "only this lock's")
	cmd.Flags().StringVar(&from, "from", "", "from this day, YYYY-MM-DD")
	cmd.Flags().StringVar(&to, "to", "", "to this day, inclusive")
	cmd.Flags().BoolVar(&findings, "findings", false, "only the events with a finding")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		pid, err := optionalPerson("--client", client)
		if err != nil {
			return err
		}
		f := store.LockEventFilter{Client: pid, Holder: homecare.HSAID(staff), LockRef: lock}
		if from != "" {
			d, err := dayFlag("--from", from)
			if err != nil {
				return err
			}
			f.From = d.In(homecare.Stockholm())
		}
		if to != "" {
			d, err := dayFlag("--to", to)
			if err != nil {
				return err
			}
			f.To = d.AddDays(1).In(homecare.Stockholm())
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			if err := auditClientRead(ctx, st, "keys.events", pid, *purpose); err != nil {
				return err
			}
			evs, err := st.LockEvents(ctx, f)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "AT\tLOCK\tCLIENT\tACTION\tRESULT\tSTAFF\tTRIGGER\tFINDING")
			for _, e := range evs {
				if findings && e.Finding == "" {
					continue
				}
				client, holder, finding := "-", e.Holder, e.Finding
				if !e.Client.IsZero() {
					client = e.Client.Masked()
				}
				if holder == "" {
					holder = "(vendor user " + e.VendorActorRef + ")"
				}
				if finding == "" {
					finding = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.OccurredAt.In(homecare.Stockholm()).Format("2006-01-02 15:04:05"),
					e.LockRef, client, e.Action, e.Result, holder, e.Trigger, finding)
			}
			return w.Flush()
		})
	}
	return cmd
}

// auditClientRead records that the operator read the keys or lock events of client, or
// of everyone (client zero): either shows who has access to whose door.
func auditClientRead(ctx context.Context, st *store.Store, action string, client homecare.PersonID, purpose string) error {
	_, err := st.Audit(ctx, store.AuditEntry{Actor: operator(), Action: action, Outcome: store.AuditOK,
		ClientPersonID: client.Reveal(), Purpose: purpose})
	return err
}

// optionalPerson reads a personnummer flag that may be empty.
func optionalPerson(name, s string) (homecare.PersonID, error) {
	if s == "" {
		return homecare.PersonID{}, nil
	}
	p, err := homecare.ParsePersonID(s)
	if err != nil {
		return p, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}
