package main

import (
	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/server"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: every pipeline, the HTTP server and the scheduled jobs",
		Args:  cobra.NoArgs,
	}
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		log, err := newLogger(cfg, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer log.Sync()
		srv, err := server.New(cmd.Context(), cfg, server.Options{Logger: log})
		if err != nil {
			return err
		}
		defer srv.Close()
		return srv.Run(cmd.Context())
	}
	return cmd
}
