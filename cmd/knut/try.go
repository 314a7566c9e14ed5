package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/logging"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

func newTryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "try --pipeline NAME FILE...",
		Short: "Run messages through a pipeline's steps without storing or sending; print each outcome",
		Long: `try runs each message of the files (one per file, or one per line of .jsonl,
.ndjson and .csv files, as knut import reads them) through the pipeline's
steps and prints, per message, "ok" with the canonical output, or "dead"
with the step, field and reason. Nothing is stored, delivered or sent and no
adapter is opened, so no secret is needed. It exits 1 if any message is
dead: the way to check a vendor's sample file against a pipeline.
Personnummer in the output are masked, as in the logs.`,
		Args: cobra.MinimumNArgs(1),
	}
	var name string
	cmd.Flags().StringVar(&name, "pipeline", "", "the pipeline whose steps to run (required)")
	cmd.MarkFlagRequired("pipeline")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, files []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		var ok, dead int
		err = server.Try(cmd.Context(), cfg, server.Options{}, name, files, func(r server.TryResult) {
			if r.Dead != nil {
				dead++
				fmt.Fprintf(out, "dead  %s  step %s  field %s\n      %s\n", r.Ref, r.Dead.Step, orDash(r.Dead.Field), r.Dead.Reason)
				return
			}
			ok++
			fmt.Fprintf(out, "ok    %s\n", r.Ref)
			for _, w := range r.Result.Writes {
				printCanonical(out, w.Kind, w.Entity)
			}
			for _, o := range r.Result.Outputs {
				printCanonical(out, "to "+o.To.String(), json.RawMessage(o.Msg.Body))
			}
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d ok, %d dead\n", ok, dead)
		if dead > 0 {
			return exitError{"some messages are dead"}
		}
		return nil
	}
	return cmd
}

func printCanonical(out interface{ Write([]byte) (int, error) }, label string, v any) {
	b, err := json.MarshalIndent(v, "      ", "  ")
	if err != nil {
		b = []byte(fmt.Sprintf("%v", v))
	}
	fmt.Fprintf(out, "      %s: %s\n", label, logging.MaskString(string(b)))
}
