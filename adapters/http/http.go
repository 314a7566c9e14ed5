// Package http is the generic HTTP adapter. The source receives pushes on
// the hub's own server at /ingest/{path} (mTLS and caller identity come
// from the hub) and answers 202 only once the hub stored the message; the
// sink sends each message as one request, with the message ID as
// Idempotency-Key.
package http

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key of both directions.
const Name = "http"

// HTTP header names the adapter reads and writes, mapped to knutpunkt
// headers. Idempotency-Key counts as the external id when X-External-Id is
// absent.
const (
	HeaderSourceSystem   = "X-Source-System"
	HeaderExternalID     = "X-External-Id"
	HeaderCorrelationID  = "X-Correlation-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
)

var (
	//go:embed sample_source.yaml
	sampleSource []byte
	//go:embed sample_sink.yaml
	sampleSink []byte
)

// SourceDef is the http source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "receive HTTP POSTs at /ingest/{path}",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

// SinkDef is the http sink definition.
var SinkDef = adapters.SinkDef{
	Name:    Name,
	Summary: "send each message as an HTTP request",
	Sample:  sampleSink,
	Config:  NewSinkConfig,
	Open:    adapters.OpenSink(NewSink),
}

func init() {
	adapters.RegisterSource(SourceDef)
	adapters.RegisterSink(SinkDef)
}
