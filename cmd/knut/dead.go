package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/logging"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The operator's view of the message log: what died and why, and what one
// message became. Everything printed goes through logging.MaskString, as
// the logs do: a reason quoting a personnummer shows it masked.

func newDeadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dead",
		Short: "List and show dead-lettered messages (knut replay sends one through again)",
	}
	cmd.AddCommand(newDeadListCmd(), newDeadShowCmd())
	return cmd
}

func newDeadListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List unresolved dead letters, newest first: message, pipeline, step, field, reason",
		Args:  cobra.NoArgs,
	}
	var (
		pipeline, since string
		all             bool
		limit           int
	)
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "only this pipeline's")
	cmd.Flags().StringVar(&since, "since", "", "only those from this time on: RFC 3339 (2026-11-23T07:00:00Z), a date (2026-11-23) or a duration back from now (24h)")
	cmd.Flags().BoolVar(&all, "all", false, "include the replayed ones")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (up to 1000)")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f := store.DeadLetterFilter{Pipeline: pipeline, Unresolved: !all, Limit: limit}
		if since != "" {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			f.Since = t
		}
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			dls, err := st.ListDeadLetters(ctx, f)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "MESSAGE\tPIPELINE\tSTEP\tFIELD\tAT\tREASON")
			for _, d := range dls {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.MessageID, d.Pipeline, d.Step, orDash(d.Field),
					d.At.UTC().Format(time.RFC3339), oneLine(logging.MaskString(d.Reason), 120))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d dead letters\n", len(dls))
			return nil
		})
	}
	return cmd
}

func newDeadShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show MESSAGE_ID",
		Short: "Show why a message died: pipeline, step, field, reason, its attempts and headers",
		Args:  cobra.ExactArgs(1),
	}
	var body bool
	cmd.Flags().BoolVar(&body, "body", false, "print the message body too, personnummer masked")
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			m, err := st.Message(ctx, args[0])
			if err != nil {
				return err
			}
			if err := auditRead(ctx, st, "dead_letter.show", m.ID, *purpose); err != nil {
				return err
			}
			dls, err := st.ListDeadLetters(ctx, store.DeadLetterFilter{MessageID: m.ID, Limit: 1})
			if err != nil {
				return err
			}
			if len(dls) == 0 {
				return fmt.Errorf("message %s is %s, not dead-lettered", m.ID, m.Status)
			}
			out := cmd.OutOrStdout()
			d := dls[0]
			fmt.Fprintf(out, "message   %s\npipeline  %s\nstep      %s\nfield     %s\nat        %s\nreason    %s\n",
				m.ID, d.Pipeline, d.Step, orDash(d.Field), d.At.UTC().Format(time.RFC3339), logging.MaskString(d.Reason))
			if d.ResolvedAt != nil {
				fmt.Fprintf(out, "replayed  %s as %s\n", d.ResolvedAt.UTC().Format(time.RFC3339), d.ReplayedMessageID)
			}
			return printMessage(ctx, out, st, m, body)
		})
	}
	return cmd
}

func newMessagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "Look into the message log",
	}
	show := &cobra.Command{
		Use:   "show MESSAGE_ID",
		Short: "Trace a message: its status, attempts, and the messages it caused (outputs, deliveries, replies)",
		Args:  cobra.ExactArgs(1),
	}
	var body bool
	show.Flags().BoolVar(&body, "body", false, "print the message body too, personnummer masked")
	purpose := purposeFlag(show)
	loadConfig := configFlag(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		return withStore(cmd, loadConfig, func(ctx context.Context, st *store.Store) error {
			m, err := st.Message(ctx, args[0])
			if err != nil {
				return err
			}
			if err := auditRead(ctx, st, "message.show", m.ID, *purpose); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "message   %s\npipeline  %s\nstatus    %s\nreceived  %s\n", m.ID, m.Pipeline, m.Status,
				m.ReceivedAt.UTC().Format(time.RFC3339Nano))
			if err := printMessage(ctx, out, st, m, body); err != nil {
				return err
			}
			related, err := st.Related(ctx, m.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "trace (%d more with correlation id %s):\n", len(related), orSelf(m))
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, r := range related {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", r.ID, r.Pipeline, r.Status, r.ReceivedAt.UTC().Format(time.RFC3339Nano))
			}
			return w.Flush()
		})
	}
	cmd.AddCommand(show)
	return cmd
}

// printMessage prints a message's headers and attempts, and its body if
// asked, all masked.
func printMessage(ctx context.Context, out io.Writer, st *store.Store, m store.MessageRecord, body bool) error {
	fmt.Fprintln(out, "headers:")
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		fmt.Fprintf(out, "  %s: %s\n", k, logging.MaskString(m.Headers[k]))
	}
	attempts, err := st.Attempts(ctx, m.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "attempts (%d):\n", len(attempts))
	for _, a := range attempts {
		result := "ok"
		if a.Error != "" {
			result = oneLine(logging.MaskString(a.Error), 160)
		}
		fmt.Fprintf(out, "  %s  %s  #%d  %s\n", a.At.UTC().Format(time.RFC3339Nano), a.Step, a.AttemptNo, result)
	}
	if body {
		fmt.Fprintf(out, "body (%d bytes):\n%s\n", m.Size, logging.MaskString(string(m.Body)))
	}
	return nil
}

// withStore opens the configured store for f; reading it needs only the
// store's key, no pipeline's secrets.
func withStore(cmd *cobra.Command, loadConfig func() (*config.Config, error), f func(context.Context, *store.Store) error) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	st, err := server.OpenStore(cmd.Context(), cfg, adapters.EnvSecrets{}, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(cmd.Context(), st)
}

// parseSince reads --since: a time, a date (midnight UTC) or a duration
// back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want RFC 3339 (2026-11-23T07:00:00Z), a date (2026-11-23) or a duration (24h)", s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orSelf(m store.MessageRecord) string {
	if c := m.Headers["correlation-id"]; c != "" {
		return c
	}
	return m.ID
}

// oneLine keeps a reason on one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
