package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time by `make build`:
//
//	-ldflags "-X main.version=v0.3.0-12-gabc1234 -X main.commit=<sha> -X main.date=2026-12-03T07:00:00Z"
//
// A plain `go build` leaves them, and buildInfo fills commit and date from
// the VCS stamp Go records.
var version, commit, date = "dev", "", ""

// buildInfo is the version, commit and build date of this binary.
func buildInfo() (v, c, d, goVersion string) {
	v, c, d = version, commit, date
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v, c, d, ""
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && c == "":
			c = s.Value
		case s.Key == "vcs.time" && d == "":
			d = s.Value
		case s.Key == "vcs.modified" && s.Value == "true" && version == "dev":
			v = "dev (modified)"
		}
	}
	return v, c, d, info.GoVersion
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of knut",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c, d, goVersion := buildInfo()
			fmt.Fprintf(cmd.OutOrStdout(), "knut %s\ncommit %s\nbuilt %s\n%s\n", v, orUnknown(c), orUnknown(d), goVersion)
			return nil
		},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
