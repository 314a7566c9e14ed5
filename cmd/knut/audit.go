package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The audit trail from the command line (DOMAIN.md §7.2): the log list a
// municipality's log follow-up asks for, and the check that nobody has
// altered or removed a record. Every command that shows personal data
// (dead show, messages show, replay, audit list) records who ran it, as
// the OS user, with --purpose.

// operator is the audit trail's name for whoever runs the CLI.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return "os:" + u
	}
	return "os:unknown"
}

// purposeFlag adds --purpose to cmd.
func purposeFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("purpose", "drift", "why you look (recorded in the audit trail), e.g. felsökning, logguppföljning")
}

// auditRead records that the operator read (or acted on) message id.
func auditRead(ctx context.Context, st *store.Store, action, id, purpose string) error {
	_, err := st.Audit(ctx, store.AuditEntry{Actor: operator(), Action: action, Outcome: store.AuditOK,
		Resource: "message:" + id, MessageID: id, Purpose: purpose})
	return err
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The audit trail: who read or was refused what (list), and whether it is intact (verify)",
	}
	cmd.AddCommand(newAuditListCmd(), newAuditVerifyCmd())
	return cmd
}

func newAuditListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print the log list (logglista): every record, or one client's, one member of staff's or a period's",
		Args:  cobra.NoArgs,
	}
	var client, staff, from, to string
	var asCSV bool
	cmd.Flags().StringVar(&client, "client", "", "only records about this client: personnummer or samordningsnummer (12 digits, or 10 with - or +)")
	cmd.Flags().StringVar(&staff, "staff", "", "only what this HSA-ID did")
	cmd.Flags().StringVar(&from, "from", "", "from this date or time on (2026-11-01, RFC 3339)")
	cmd.Flags().StringVar(&to, "to", "", "before this date or time (2026-12-01, RFC 3339)")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "comma-separated values with a header line, for a spreadsheet")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f := store.AuditFilter{}
		if staff != "" {
			f.Actor = "hsa:" + staff
		}
		var err error
		if f.From, err = auditTime("--from", from); err != nil {
			return err
		}
		if f.To, err = auditTime("--to", to); err != nil {
			return err
		}
		if client != "" {
			pid, err := homecare.ParsePersonID(client)
			if err != nil {
				return fmt.Errorf("--client: %w", err)
			}
			f.ClientPersonID = pid.Reveal()
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			records, err := st.ListAudit(ctx, f)
			if err != nil {
				return err
			}
			// Reading the log list is itself a read of personal data.
			if _, err := st.Audit(ctx, store.AuditEntry{Actor: operator(), Action: "audit.list", Outcome: store.AuditOK,
				ClientPersonID: f.ClientPersonID, Purpose: *purpose, Detail: fmt.Sprintf("%d records", len(records))}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asCSV {
				w := csv.NewWriter(out)
				_ = w.Write([]string{"seq", "at", "actor", "action", "outcome", "resource", "client", "purpose", "detail"})
				for _, r := range records {
					_ = w.Write([]string{fmt.Sprint(r.Seq), r.At.UTC().Format(time.RFC3339), r.Actor, r.Action, r.Outcome,
						r.Resource, r.Client, r.Purpose, r.Detail})
				}
				w.Flush()
				return w.Error()
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SEQ\tAT\tACTOR\tACTION\tOUTCOME\tRESOURCE\tCLIENT\tPURPOSE")
			for _, r := range records {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.At.UTC().Format(time.RFC3339), r.Actor, r.Action,
					r.Outcome, orDash(r.Resource), orDash(r.Client), orDash(r.Purpose))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d records\n", len(records))
			if f.ClientPersonID == "" {
				return nil
			}
			// Who opened the client's door: the lock events, as the audit trail's companion.
			pid, _ := homecare.ParsePersonID(f.ClientPersonID)
			evs, err := st.LockEvents(ctx, store.LockEventFilter{Client: pid, From: f.From, To: f.To})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\nThe client's door (%d lock events; `knut keys events --client`):\n", len(evs))
			w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "AT\tLOCK\tACTION\tRESULT\tSTAFF\tFINDING")
			for _, e := range evs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.OccurredAt.UTC().Format(time.RFC3339), e.LockRef, e.Action, e.Result,
					orDash(e.Holder), orDash(e.Finding))
			}
			return w.Flush()
		})
	}
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain of the whole audit trail; exit 1 if a record was altered or removed",
		Args:  cobra.NoArgs,
	}
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			v, err := st.VerifyAudit(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range v.Problems {
				fmt.Fprintln(out, p)
			}
			fmt.Fprintf(out, "%d records, head %s\n", v.Records, v.Head)
			if len(v.Problems) > 0 {
				return exitError{msg: fmt.Sprintf("audit trail broken: %d problems", len(v.Problems))}
			}
			fmt.Fprintln(out, "intact: every record follows the one before it and matches its hash")
			return nil
		})
	}
	return cmd
}

// auditTime reads --from or --to: a date (midnight UTC) or RFC 3339.
func auditTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want a date (2026-11-01) or RFC 3339 (2026-11-01T07:00:00Z)", flag, s)
}
