// Package hsa syncs the staff a provider has in the national HSA directory
// (Katalogtjänst HSA) over its RIV-TA service contracts, so the hub knows
// who may act for which provider and notices joiners, leavers and ended
// commissions without anyone telling it.
//
// HSA offers no feed of changes, so the source takes a snapshot: at start
// and every poll_interval it reads the members of the configured
// commissions (GetCommissionMembers per care unit and purpose), then per
// member the employee record (GetEmployeeIncludingProtectedPerson, by
// HSA-ID) and the person's commissions
// (GetCredentialsForPersonIncludingProtectedPerson), one call at a time
// with a pause between calls as the contract asks of bulk readers. It
// delivers ONE message: the canonical staff records
// (schemas/canonical/staff.schema.json), one JSON line each, sorted by
// HSA-ID; the mapping from the contracts' XML is Go code here, not a
// declarative mapping, because three answers join into one record.
//
// The client speaks SOAP 1.1 per RIV-TA BP 2.1 (document/literal, the
// LogicalAddress header, SOAPAction) over mutual TLS with a SITHS-style
// function certificate, and validates every request it sends and every
// answer it gets against the shipped XSDs with libxml2 (internal/schema):
// the contracts are the specification, so a request that violates them is
// not sent and an answer that violates them is refused.
//
// A snapshot is whole or nothing: a SOAP fault, an invalid or truncated
// answer, an unknown member or a malformed HSA-ID fails the sync, which
// the next poll tries again; a shorter snapshot would end everyone
// missing from it. Errors name the operation and the reason, never a
// person's name or personnummer; protected persons (protectedPerson) keep
// protected_person: true in their record and no log line names anyone.
package hsa

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot"
)

// Name is the registry key.
const Name = "hsa"

// Headers of a snapshot besides content-type, source-system and external-id.
const (
	// HeaderSnapshotCount is the number of staff records in the snapshot.
	HeaderSnapshotCount = snapshot.HeaderCount
	// HeaderSnapshotDigest is the SHA-256 of the body, hex.
	HeaderSnapshotDigest = snapshot.HeaderDigest
)

// ContentType is the content type of a snapshot: JSON lines.
const ContentType = snapshot.ContentType

//go:embed sample_source.yaml
var sampleSource []byte

// SourceDef is the hsa source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "sync staff from the HSA directory over RIV-TA (SOAP, SITHS mutual TLS): one snapshot of canonical staff records per poll_interval",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

func init() { adapters.RegisterSource(SourceDef) }
