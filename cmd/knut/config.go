package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/logging"
)

// defaultConfig is read when no --config is given and it exists: the
// repository's own knut.yaml describes the demo municipality.
const defaultConfig = "knut.yaml"

// configFlag adds --config to cmd and returns a loader for it.
func configFlag(cmd *cobra.Command) func() (*config.Config, error) {
	path := cmd.Flags().StringP("config", "c", "", "config file (default: ./knut.yaml if there is one, else built-in defaults)")
	return func() (*config.Config, error) {
		if *path != "" {
			return config.Load(*path)
		}
		if _, err := os.Stat(defaultConfig); err == nil {
			return config.Load(defaultConfig)
		}
		return config.Default("."), nil
	}
}

// newLogger builds the hub's logger: JSON in production, console otherwise,
// with personal identifiers masked in every line.
func newLogger(cfg *config.Config, w io.Writer) (*zap.Logger, error) {
	format := cfg.Log.Format
	if format == "" {
		format = "console"
		if cfg.Environment == config.Production {
			format = "json"
		}
	}
	level, err := zapcore.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	return logging.New(logging.Options{Format: logging.Format(format), Level: level, Output: w})
}
