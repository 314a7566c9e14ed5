// Package tes receives the visits a TES-style time and insats registration
// system (TES, Phoniro Care, Avista Time; DOMAIN.md §2) exports: staff touch
// the NFC tag inside the client's door, the phone app registers the visit,
// often offline, and syncs later. The contract is schemas/tes/README.md.
//
// Two ways in, by the flat transport config the lifecare adapter has too:
//
//   - transport http, the push API: the registration system POSTs each
//     phone sync as one batch, {"syncId", "deviceId", "sentAt", "visits":
//     [...]}, to /ingest/{path}. Each visit becomes a message of its own, so
//     a bad one is one dead letter and the rest of the sync is stored.
//   - transport sftp or file, the nightly export: a CSV or JSON file in a
//     drop directory on an SFTP server or a local (mounted) directory. Each
//     row (CSV, with the header line) or visit (JSON) becomes a message.
//
// The adapter is protocol only and composes the generic ones (the http, sftp
// and file adapters); what it adds is the batch: reading it, giving every
// visit its idempotency key, and tying the visits of one sync or file
// together by correlation id. Validation, mapping and the hub's flags are
// the pipeline's (schemas/tes, mappings/tes).
//
// tessim is a simulator of phones and the registration system, for the
// tests and the demo.
package tes

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key.
const Name = "tes"

// SourceSystem is the source-system header of every message: with the
// external id, the idempotency key.
const SourceSystem = "tes"

//go:embed sample_source.yaml
var sampleSource []byte

// SourceDef is the tes source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "receive TES visits: phone syncs pushed as JSON batches, or the nightly export (CSV or JSON) over SFTP or a drop directory",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

func init() { adapters.RegisterSource(SourceDef) }
