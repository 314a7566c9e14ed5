// Package ldap syncs the staff a municipality's or provider's LDAP
// directory lists (an HSA-style tree, OpenLDAP, Active Directory), so the
// hub knows who works for whom and who has left without anyone telling it.
//
// LDAP has no feed of changes every server offers, and no acknowledgement,
// so the source takes a snapshot: at start and every poll_interval it binds
// (simple bind; ldaps or StartTLS), runs one paged subtree search (RFC 2696)
// and delivers ONE message holding every entry found, sorted by DN, as JSON
// lines of {"dn", "attributes"} with only the configured attributes. The
// same directory gives the same bytes, so the hub's diff of full snapshots
// (the store step staff) is the incremental sync; modifyTimestamp is
// carried so that a later incremental mode can use it.
//
// A snapshot is whole or it is nothing: a size or time limit, a paging
// error, a referral (the source follows none) or a connection lost
// mid-search fails the sync, which the next poll tries again; a shorter
// snapshot would end everyone missing from it. Errors and logs name the
// directory, the base and the LDAP result, never an entry.
package ldap

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot"
)

// Name is the registry key.
const Name = "ldap"

// Headers of a snapshot besides content-type, source-system and external-id.
const (
	// HeaderSnapshotCount is the number of entries in the snapshot.
	HeaderSnapshotCount = snapshot.HeaderCount
	// HeaderSnapshotDigest is the SHA-256 of the body, hex.
	HeaderSnapshotDigest = snapshot.HeaderDigest
	// HeaderEmploymentEndAttribute names the attribute that holds the end
	// of employment (employment_end_attribute), for the mapping.
	HeaderEmploymentEndAttribute = "employment-end-attribute"
)

// ContentType is the content type of a snapshot: JSON lines.
const ContentType = snapshot.ContentType

//go:embed sample_source.yaml
var sampleSource []byte

// SourceDef is the ldap source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "sync staff from an LDAP directory: a paged search every poll_interval, delivered as one snapshot (JSON lines, an entry per line)",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

func init() { adapters.RegisterSource(SourceDef) }
