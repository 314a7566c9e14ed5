// Package nuki speaks the Nuki Web API (Swagger 2.0, "Nuki API" 4.18.0;
// DOMAIN.md §3.2): the hub's key grants become SmartlockAuths, and the
// locks' logs and grants come back as messages.
//
// The sink (`to: nuki`) takes one canonical key grant change per message
// (schemas/canonical/key_grant.schema.json) and makes the vendor hold it:
// the grant is the SmartlockAuth on lock lock_ref whose name is the
// holder's HSA-ID, linked to the account user of that name (created on
// first use). It converges rather than replays, so a change sent twice has
// the effect of once, and answers each change with a reply saying what the
// vendor now holds (adapters.Replier).
//
// The source (`from: nuki`) reads one of two things: the locks' events
// (read: events, GET /smartlock/log, one message per SmartlockLog with the
// holder's HSA-ID in the nuki-holder header, resumed from a cursor kept in
// the hub's store) or every grant the vendor holds (read: grants, one
// snapshot of JSON lines per poll for the hub's drift repair).
//
// The vendor's quirks the package handles: creating an auth answers 204
// without an id (the sink polls the list until it appears), a lock busy
// with an operation answers 423, and the log pages backwards in time at
// most 50 entries a page. nukisim is the simulator the tests and the demo
// use.
package nuki

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key.
const Name = "nuki"

// DefaultSourceSystem is the source-system header of the source's messages.
const DefaultSourceSystem = "nuki"

// Vendor names Nuki in the canonical messages (schemas/canonical/key_grant_result and
// key_grants): the hub keeps grants per vendor.
const Vendor = "nuki"

// Headers of the source's event messages besides content-type,
// source-system and external-id.
const (
	// HeaderHolder is the HSA-ID of the person behind an event: the name
	// of its account user (or, without one, of its auth) when that name is
	// an HSA-ID. Absent otherwise, so no other name leaves the vendor's
	// body.
	HeaderHolder = "nuki-holder"
	// HeaderLock is the event's smartlockId.
	HeaderLock = "nuki-lock"
)

//go:embed sample_source.yaml
var sampleSource []byte

//go:embed sample_sink.yaml
var sampleSink []byte

// SourceDef is the nuki source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "read Nuki Web API lock events (GET /smartlock/log, cursor in the hub's store) or a snapshot of every grant the locks hold",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

// SinkDef is the nuki sink definition.
var SinkDef = adapters.SinkDef{
	Name:    Name,
	Summary: "make Nuki locks hold the hub's key grants (SmartlockAuth named by the holder's HSA-ID), replying with what the vendor holds",
	Sample:  sampleSink,
	Config:  NewSinkConfig,
	Open:    adapters.OpenSink(NewSink),
}

func init() {
	adapters.RegisterSource(SourceDef)
	adapters.RegisterSink(SinkDef)
}
