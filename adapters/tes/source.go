package tes

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/transport"
)

// Source receives TES visits over the configured transport.
//
// Over http each sync is split into its visits (the http source answers
// for all, see kphttp.NewBatchSource). Over sftp and file the files come
// with those sources' semantics (claimed, delivered one at a time in name
// order, moved to done/ or failed/) and each visit in a file is delivered
// as a message of its own. A file is done once every visit in it is
// stored: after a failure it is taken again whole, and the visits stored
// before come back as duplicates. A file that cannot be read as the export
// (not JSON, an empty sync) goes to failed/ with the reason; so does one
// where the hub refused some visits for good, the others stored.
type Source struct {
	inner  adapters.Source
	export bool
	format fileFormat
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
	_ io.Closer        = (*Source)(nil)
)

// NewSource builds the source for a validated cfg. Over http it mounts
// /ingest/{path} on env.Ingress; it never touches the network.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	s := &Source{export: cfg.Transport != transport.HTTP}
	var err error
	if s.export {
		if s.format, err = formatOf(cfg.Pattern); err != nil {
			return nil, fmt.Errorf("tes source: pattern: %w", err)
		}
	}
	if s.inner, err = cfg.Open(env, splitSync(cfg.MaxVisits)); err != nil {
		return nil, fmt.Errorf("tes source: %w", err)
	}
	return s, nil
}

// Receive implements adapters.Source.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	if !s.export {
		return s.inner.Receive(ctx, deliver)
	}
	return s.inner.Receive(ctx, func(ctx context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		parts, err := splitFile(s.format, m)
		if err != nil {
			return adapters.Receipt{}, adapters.Permanent(err)
		}
		var refused []error
		for i, p := range parts {
			if _, err := deliver(ctx, p); err != nil {
				if !adapters.IsPermanent(err) {
					return adapters.Receipt{}, err
				}
				refused = append(refused, fmt.Errorf("visit %d (%s): %w", i+1, p.Header(knutpunkt.HeaderExternalID), err))
			}
		}
		if len(refused) > 0 {
			return adapters.Receipt{}, adapters.Permanent(fmt.Errorf("%d of %d visits refused, the others stored: %w",
				len(refused), len(parts), errors.Join(refused...)))
		}
		return adapters.Receipt{ID: m.ID}, nil
	})
}

// Check implements adapters.Checker: the drop directory is there (sftp,
// file); over http there is nothing to check.
func (s *Source) Check(ctx context.Context) error {
	if c, ok := s.inner.(adapters.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// Close implements io.Closer.
func (s *Source) Close() error {
	if c, ok := s.inner.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
