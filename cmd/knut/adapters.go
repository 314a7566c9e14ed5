package main

import (
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/adapters"
	_ "github.com/knutpunkt/knutpunkt/adapters/all" // the built-in adapters
)

func newAdaptersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "adapters",
		Short: "List the adapters and print their sample configs",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List every adapter with its directions and summary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listAdapters(cmd, adapters.Default)
		},
	}, &cobra.Command{
		Use:   "sample NAME",
		Short: "Print an adapter's documented sample config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sampleAdapter(cmd, adapters.Default, args[0])
		},
	})
	return cmd
}

func listAdapters(cmd *cobra.Command, reg *adapters.Registry) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIRECTION\tSUMMARY")
	sources, sinks := reg.SourceNames(), reg.SinkNames()
	for _, name := range reg.Names() {
		var dir, summary string
		if slices.Contains(sources, name) {
			def, _ := reg.Source(name)
			dir, summary = "source", def.Summary
		}
		if slices.Contains(sinks, name) {
			def, _ := reg.Sink(name)
			if dir != "" {
				dir = "source+sink"
			} else {
				dir = "sink"
			}
			if summary == "" {
				summary = def.Summary
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, dir, summary)
	}
	return tw.Flush()
}

func sampleAdapter(cmd *cobra.Command, reg *adapters.Registry, name string) error {
	out := cmd.OutOrStdout()
	src, serr := reg.Source(name)
	sink, kerr := reg.Sink(name)
	switch {
	case serr != nil && kerr != nil:
		return fmt.Errorf("unknown adapter %q (registered: %v)", name, reg.Names())
	case serr == nil && kerr == nil && string(src.Sample) != string(sink.Sample):
		fmt.Fprintf(out, "# as a source (from: %s):\n%s\n# as a sink (to: %s):\n%s", name, src.Sample, name, sink.Sample)
	case serr == nil:
		fmt.Fprintf(out, "%s", src.Sample)
	default:
		fmt.Fprintf(out, "%s", sink.Sample)
	}
	return nil
}
