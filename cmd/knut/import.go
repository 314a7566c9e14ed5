package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

func newImportCmd() *cobra.Command {
	var name string
	var workers int
	cmd := &cobra.Command{
		Use:   "import --pipeline NAME FILE...",
		Short: "Run files through a store-only pipeline straight into the store",
		Long: `import reads each FILE as messages (one per line of .jsonl, .ndjson and .csv
files, a CSV row together with its header; one per other file), runs them
through the pipeline's steps and commits them to the store with group
commit. Every message is stored or dead-lettered with its reason, and
importing the same file again skips what is already there. The last line
reports "stored=N dead=M".`,
		Args: cobra.MinimumNArgs(1),
	}
	cmd.Flags().StringVarP(&name, "pipeline", "p", "", "pipeline to run the files through (required)")
	cmd.Flags().IntVar(&workers, "workers", 0, "messages processed at once (default: one per CPU)")
	cmd.MarkFlagRequired("pipeline")
	loadConfig := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, files []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		log, err := newLogger(cfg, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		// A batch import allocates fast and keeps little: collect less
		// often, but stay within a soft limit well under 200 MB of RSS.
		defer debug.SetGCPercent(debug.SetGCPercent(300))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(96 << 20))
		im := &server.Importer{Workers: workers}
		if bar := progressBar(cmd.ErrOrStderr()); bar != nil {
			im.Progress = func(int64) { bar.Add(1) }
			defer bar.Finish()
		}
		stats, err := im.Run(cmd.Context(), cfg, server.Options{Logger: log}, name, files)
		if err != nil {
			return err
		}
		rate := float64(stats.Messages) / stats.Elapsed.Seconds()
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		fmt.Fprintf(cmd.OutOrStdout(), "imported %s: messages=%d stored=%d dead=%d duplicate=%d in %.1fs (%.0f messages/s, cpu %.1fs, peak rss %d MiB)\n",
			strings.Join(files, " "), stats.Messages, stats.Stored, stats.Dead, stats.Duplicates, stats.Elapsed.Seconds(), rate,
			cpu.Seconds(), ru.Maxrss>>10)
		return nil
	}
	return cmd
}

// progressBar returns a spinner-style counter on a terminal, nil elsewhere
// (pipes and CI logs get only the summary line).
func progressBar(w io.Writer) *progressbar.ProgressBar {
	return bar(w, -1, "importing")
}

// dayBar returns a bar over the days from..to on a terminal, nil elsewhere.
func dayBar(w io.Writer, from, to homecare.Date) *progressbar.ProgressBar {
	n := int64(0)
	for d := from; !to.Before(d); d = d.AddDays(1) {
		n++
	}
	return bar(w, n, "reconciling days")
}

// bar is a progress bar of max steps (-1: a counter) on a terminal, nil elsewhere.
func bar(w io.Writer, max int64, desc string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return progressbar.NewOptions64(max, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
}
