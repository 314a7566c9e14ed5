package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/server"
)

func newReplayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay MESSAGE_ID...",
		Short: "Send dead-lettered messages through their pipeline again, once the cause is fixed",
		Long: `replay queues each dead-lettered message again, as a new message that
records which one it replays, in the message log of the configured store. A
running knut serve finds it there within seconds; so does the next one
started.`,
		Args: cobra.MinimumNArgs(1),
	}
	purpose := purposeFlag(cmd)
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, ids []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
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
		for _, id := range ids {
			if err := auditRead(cmd.Context(), srv.Store(), "message.replay", id, *purpose); err != nil {
				return err
			}
			newID, err := srv.Replay(cmd.Context(), id)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %s as %s\n", id, newID)
		}
		return nil
	}
	return cmd
}
