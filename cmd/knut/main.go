// Command knut is the Knutpunkt integration hub: `knut serve` runs it,
// `knut demo` runs a simulated municipality, and the other subcommands
// validate, test and operate pipelines, mappings and schemas.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "knut:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program, testable in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// exitError makes knut exit 1 without printing more: the command has already
// said what was wrong (e.g. `knut validate` listed every problem).
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }
