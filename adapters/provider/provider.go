// Package provider delivers orders to home care providers (utförare) and
// brings their acknowledgements back to the hub.
//
// One pipeline sink config describes how ONE provider receives orders; the
// pipeline's route step picks the provider. Two transports:
//
//   - webhook: each message is POSTed to the provider's URL, signed with
//     HMAC-SHA256 (see Sign) and carrying the message ID as Idempotency-Key.
//     A 2xx answer is a delivery; a JSON Ack in the answer's body becomes a
//     reply message (see Sink.SendWithReply).
//   - sftp: one file per message, uploaded atomically by the sftp adapter's
//     sink.
//
// The source (transport callback) takes acknowledgements that providers
// POST later to the hub at /ingest/{path}, signed with the same scheme, and
// turns each verified one into a message. It is the http source behind a
// signature check.
//
// providersim is a provider system on loopback for tests and the demo.
package provider

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key of both directions.
const Name = "provider"

// HTTP headers of the signing scheme, on deliveries (hub → provider) and on
// callbacks (provider → hub).
const (
	// HeaderIdempotencyKey carries the message ID on deliveries, and the
	// acknowledgement's own ID on callbacks.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderEvent carries the value of the message header named by
	// webhook.event_header (e.g. "created"), when the message has it.
	HeaderEvent = "X-Knutpunkt-Event"
	// HeaderTimestamp is the signing time in Unix seconds, decimal.
	HeaderTimestamp = "X-Knutpunkt-Timestamp"
	// HeaderSignature is "sha256=" followed by the lower-case hex
	// HMAC-SHA256 of timestamp + "." + body (see Sign).
	HeaderSignature = "X-Knutpunkt-Signature"
)

// HeaderAckStatus is the knutpunkt header of a reply or callback message
// holding the acknowledgement's status ("mottagen" or "avvisad") when the
// adapter could read it, so a route can branch without decoding the body.
const HeaderAckStatus = "provider-ack-status"

var (
	//go:embed sample_source.yaml
	sampleSource []byte
	//go:embed sample_sink.yaml
	sampleSink []byte
)

// SinkDef is the provider sink definition.
var SinkDef = adapters.SinkDef{
	Name:    Name,
	Summary: "deliver orders to one provider (signed webhook or SFTP drop)",
	Sample:  sampleSink,
	Config:  NewSinkConfig,
	Open:    adapters.OpenSink(NewSink),
}

// SourceDef is the provider source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "receive a provider's signed acknowledgements at /ingest/{path}",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

func init() {
	adapters.RegisterSource(SourceDef)
	adapters.RegisterSink(SinkDef)
}
