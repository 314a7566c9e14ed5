package pipeline

import (
	"context"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
)

// Plan is one pipeline, resolved: references checked, adapter configs
// decoded and validated, defaults applied.
type Plan struct {
	// Name is the file name without extension; it names the pipeline's
	// topics (in.<name>, dead.<name>) and appears in every error.
	Name string
	// File is the path the plan was loaded from.
	File string
	// Description is the pipeline's one-line purpose.
	Description string
	// From is where messages come from.
	From Endpoint
	// Steps run in order on every message.
	Steps []Step
	// To is where messages that no route claimed go; zero means nowhere
	// (a store-only pipeline).
	To Endpoint
	// Retry governs transient failures.
	Retry Retry
	// ReplyTo, if set, is the topic that receives the replies of sinks that
	// answer deliveries (adapters.Replier), e.g. provider acknowledgements.
	ReplyTo string
	// DeadLetterTopic, if set, also receives every dead-lettered message;
	// the store always records dead letters.
	DeadLetterTopic string
	// OrderBy, if set, keeps messages with the same key in order.
	OrderBy *OrderBy
	// MaxBody is the largest body accepted, in bytes.
	MaxBody int64
	// Allow names who may post to the pipeline's ingest path on the hub's
	// HTTP server; nil when the file says nothing (production refuses to
	// mount an ingest path then).
	Allow *Allow
}

// Allow is a pipeline's allow list: the callers whose verified client
// certificate may post to it. A caller matches an entry by the
// certificate's HSA-ID (subject serialNumber, as SITHS puts it there), its
// organisation number (the subject's organizationIdentifier, or the
// organisation part of an "SE<organisationsnummer>-…" HSA-ID) or its
// whole subject (RFC 2253 text, e.g. "CN=Lifecare,O=Nacka kommun,C=SE").
type Allow = config.Allow

// Endpoint is an adapter or a topic.
type Endpoint struct {
	// Path is where the endpoint is declared, e.g. "to" or
	// "steps[2].route[0].to"; it tells apart a pipeline's sinks.
	Path string
	// Adapter is the registry name of the adapter, "" for a topic.
	Adapter string
	// Config is the adapter's decoded and validated config.
	Config adapters.Config
	// Topic is the bus topic, "" for an adapter.
	Topic string
}

// IsZero reports whether the endpoint is unset.
func (e Endpoint) IsZero() bool { return e.Adapter == "" && e.Topic == "" }

// String names the endpoint for logs and errors.
func (e Endpoint) String() string {
	switch {
	case e.Adapter != "":
		return "adapter " + e.Adapter
	case e.Topic != "":
		return "topic " + e.Topic
	}
	return "nowhere"
}

// Sinks returns every adapter endpoint the plan may send to: To and the
// route targets, in declaration order.
func (p *Plan) Sinks() []Endpoint {
	var eps []Endpoint
	for _, s := range p.Steps {
		if rs, ok := s.(*routeStep); ok {
			for _, r := range rs.routes {
				if r.to.Adapter != "" {
					eps = append(eps, r.to)
				}
			}
		}
	}
	if p.To.Adapter != "" {
		eps = append(eps, p.To)
	}
	return eps
}

// Topics returns every topic the plan may publish to.
func (p *Plan) Topics() []string {
	var ts []string
	for _, s := range p.Steps {
		if rs, ok := s.(*routeStep); ok {
			for _, r := range rs.routes {
				if r.to.Topic != "" {
					ts = append(ts, r.to.Topic)
				}
			}
		}
	}
	if p.To.Topic != "" {
		ts = append(ts, p.To.Topic)
	}
	if p.ReplyTo != "" {
		ts = append(ts, p.ReplyTo)
	}
	if p.DeadLetterTopic != "" {
		ts = append(ts, p.DeadLetterTopic)
	}
	return ts
}

// Retry is the retry policy for transient failures: exponential backoff from
// Backoff doubling up to MaxBackoff, Attempts tries in all.
type Retry struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// OrderBy keeps messages with equal keys in order: they are processed one at
// a time, in arrival order, while messages with other keys may run in
// parallel on other partitions.
type OrderBy struct {
	// Header is the message header whose value is the key.
	Header string
	// Partitions is how many keys may be processed in parallel.
	Partitions int
}

// Step is one processing step. Name is its YAML path, e.g. "steps[1].map",
// used in errors and in the message log.
type Step interface {
	Name() string
	apply(ctx context.Context, x *exchange) error
}

// Output is a message ready to go to an endpoint.
type Output struct {
	To  Endpoint
	Msg knutpunkt.Message
}

// Write is a canonical entity the store step asks the caller to persist,
// atomically with the message's status.
type Write struct {
	// Kind is the entity kind, e.g. "visit".
	Kind string
	// Entity is the decoded and validated entity, e.g. a homecare.Visit.
	Entity any
	// MessageID is the message the entity came from.
	MessageID string
}

// Result is what processing one message produced.
type Result struct {
	Outputs []Output
	Writes  []Write
}
