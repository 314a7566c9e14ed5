package server

import (
	"context"
	"path/filepath"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
)

// TryResult is what a pipeline's steps made of one message, without
// storing or delivering anything.
type TryResult struct {
	// Ref names the message: file, or file:line for a line of JSON lines
	// or CSV (as knut import names them).
	Ref string
	// Result is the canonical output when the steps succeeded.
	Result pipeline.Result
	// Dead describes why they failed: step, field and the masked reason,
	// as the dead letter would say; nil when they succeeded.
	Dead *DeadReason
}

// DeadReason is a failure as an operator reads it.
type DeadReason struct{ Step, Field, Reason string }

// Try runs every message of files through pipeline name's steps (validate,
// map, route, store's decoding) and calls report with each outcome, in
// file order. Nothing is stored, delivered or sent: it is how an
// integrator checks a vendor's sample file against a pipeline. It opens no
// adapter, so it needs no secret.
func Try(ctx context.Context, cfg *config.Config, opts Options, name string, files []string, report func(TryResult)) error {
	opts = opts.withDefaults()
	plan, err := pipeline.Load(filepath.Join(cfg.Path(cfg.Pipelines), name+".yaml"), Resources(cfg, opts.Registry))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan knutpunkt.Message)
	read := make(chan error, 1)
	go func() {
		read <- readMessages(ctx, files, plan.MaxBody, msgs)
		close(msgs)
	}()
	for m := range msgs {
		res, err := plan.Process(ctx, m)
		r := TryResult{Ref: m.Header(knutpunkt.HeaderExternalID), Result: res}
		if err != nil {
			e := deadLetterEntry(name, m.ID, err)
			r.Dead = &DeadReason{Step: e.Step, Field: e.Field, Reason: e.Reason}
		}
		report(r)
	}
	return <-read
}
