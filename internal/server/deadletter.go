package server

import (
	"errors"

	"github.com/knutpunkt/knutpunkt/internal/logging"
	"github.com/knutpunkt/knutpunkt/internal/mapping"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/schema"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// deadLetterEntry describes why message msgID of pipeline p failed: the
// step, the field where the engine knows it (a mapping's output field, a
// schema problem's JSON pointer or XML line), and the reason. The reason
// is masked like a log line: a schema error may quote the offending value,
// and that value may be a personnummer.
func deadLetterEntry(p, msgID string, err error) store.DeadLetterEntry {
	e := store.DeadLetterEntry{MessageID: msgID, Pipeline: p, Reason: logging.MaskString(err.Error())}
	var se *pipeline.StepError
	if errors.As(err, &se) {
		e.Step = se.Step
	}
	var fe *mapping.FieldError
	var ve *schema.ValidationError
	switch {
	case errors.As(err, &fe):
		e.Field = fe.Field
	case errors.As(err, &ve) && len(ve.Problems) > 0:
		e.Field = ve.Problems[0].Path
	}
	return e
}

// masked returns err with its text masked for storage, keeping nil nil: the
// attempts table holds error texts as the log does.
func masked(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(logging.MaskString(err.Error()))
}
