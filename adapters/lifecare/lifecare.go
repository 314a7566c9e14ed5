// Package lifecare connects a municipal case system (Lifecare, Procapita
// and the like) to the hub: the source receives order messages
// (Bestallning, Andring, Paus, Ateruptagande, Avslut) as XML, the sink
// sends receipts (Kvittens) back. No public Lifecare format exists
// (DOMAIN.md §1.3), so the XML is Knutpunkt's own contract,
// schemas/lifecare/order.xsd and receipt.xsd, documented in README.md;
// a municipality whose case system names fields differently adapts the
// mapping (mappings/lifecare/), not this package.
//
// The adapter is protocol only and composes the generic ones: transport
// http is the http adapter (the source mounted at /ingest/{path}, the sink
// POSTing with Idempotency-Key, here with optional mutual TLS), transport
// sftp and file are the drop-directory adapters. What it adds: Lifecare
// defaults (XML content types, source-system "lifecare") and the
// idempotency key: when a message arrives without an external id, the
// source reads the handelseId of the XML root and sets it as the
// message's external-id header.
//
// lifecaresim is a case system on loopback that emits order messages and
// records receipts, for the tests and the demo.
package lifecare

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key of both directions.
const Name = "lifecare"

// The XML namespaces of the contract (schemas/lifecare/).
const (
	// OrderNamespace is the namespace of order messages, order.xsd.
	OrderNamespace = "urn:knutpunkt:lifecare:order:1"
	// ReceiptNamespace is the namespace of receipts, receipt.xsd.
	ReceiptNamespace = "urn:knutpunkt:lifecare:receipt:1"
	// ContractVersion is the version attribute every root carries.
	ContractVersion = "1.0"
)

var (
	//go:embed sample_source.yaml
	sampleSource []byte
	//go:embed sample_sink.yaml
	sampleSink []byte
)

// SourceDef is the lifecare source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "receive case-system order messages (XML) over HTTP push, SFTP or a drop directory",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

// SinkDef is the lifecare sink definition.
var SinkDef = adapters.SinkDef{
	Name:    Name,
	Summary: "send receipts (Kvittens XML) to the case system over HTTPS, SFTP or a drop directory",
	Sample:  sampleSink,
	Config:  NewSinkConfig,
	Open:    adapters.OpenSink(NewSink),
}

func init() {
	adapters.RegisterSource(SourceDef)
	adapters.RegisterSink(SinkDef)
}
