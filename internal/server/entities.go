package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// entityDecoders are the canonical entity kinds a pipeline's store step
// accepts, each decoded strictly from its canonical JSON and validated.
func entityDecoders(opts homecare.ValidateOptions) map[string]pipeline.EntityDecoder {
	return map[string]pipeline.EntityDecoder{
		"visit": func(body []byte) (any, error) {
			var v homecare.Visit
			if err := decodeStrict(body, &v); err != nil {
				return nil, fmt.Errorf("visit: %w", err)
			}
			if err := v.ValidateWith(opts); err != nil {
				return nil, err
			}
			return v, nil
		},
	}
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one entity in one message (JSON lines from a mapping need `split: lines` before `store`)")
	}
	return nil
}

// applyWrite stores one entity.
func applyWrite(ctx context.Context, tx *store.Tx, w pipeline.Write) error {
	switch e := w.Entity.(type) {
	case homecare.Visit:
		_, err := tx.UpsertVisit(ctx, e)
		return err
	default:
		return fmt.Errorf("no store for entity %T", e)
	}
}
