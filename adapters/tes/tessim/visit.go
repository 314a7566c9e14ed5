package tessim

import "time"

// Visit is one visit record as TES sends it: the JSON visit of
// schemas/tes/README.md ("Fields (JSON)") with the sync fields of
// export.schema.json. Every time is in Europe/Stockholm with its offset and
// whole seconds, so it marshals as RFC 3339 with +01:00 or +02:00.
type Visit struct {
	VisitID string `json:"visitId"`
	// Version is 1 as the phone registered it, 2 and up for a supervisor's
	// corrections.
	Version   int    `json:"version"`
	ClientPnr string `json:"clientPnr"`
	// TagUID is the tag read (at the start when both reads differ); empty
	// for a visit without a tag read.
	TagUID string `json:"tagUid,omitempty"`
	// StartTagUID and EndTagUID are the two reads when they differ.
	StartTagUID string `json:"startTagUid,omitempty"`
	EndTagUID   string `json:"endTagUid,omitempty"`
	// Start and End are the true times of the visit.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// DeviceStart and DeviceEnd are the phone's clock at start and end.
	DeviceStart time.Time `json:"deviceStart,omitzero"`
	DeviceEnd   time.Time `json:"deviceEnd,omitzero"`
	// ReceivedAt is when TES got this version: from the phone's sync, or
	// from the supervisor for a correction.
	ReceivedAt time.Time `json:"receivedAt,omitzero"`
	// PlannedVisitID is the planned visit (client, day, slot) it performs.
	PlannedVisitID string `json:"plannedVisitId,omitempty"`
	// SharedVisitID is, for cohabitants, the VisitID of the other
	// client's record of the same visit.
	SharedVisitID string       `json:"sharedVisitId,omitempty"`
	Staff         []VisitStaff `json:"staff"`
	Provider      string       `json:"provider,omitempty"`
	Unit          string       `json:"unit,omitempty"`
	Method        Method       `json:"method"`
	// StartMethod and EndMethod are set when the start and the end were
	// registered differently (a lock opened, a tag read on leaving).
	StartMethod Method   `json:"startMethod,omitempty"`
	EndMethod   Method   `json:"endMethod,omitempty"`
	Offline     bool     `json:"offline"`
	Status      Status   `json:"status"`
	Insatser    []Insats `json:"insatser,omitempty"`
}

// VisitStaff is one person on a visit and their role.
type VisitStaff struct {
	Staff
	Role Role `json:"role"`
}

// Role is a staff member's role on a visit.
type Role string

// The roles: one primary; the second person on a double-staffed visit.
const (
	Primary Role = "primary"
	Second  Role = "second"
)

// Insats is one insats of a visit record, performed or declined.
type Insats struct {
	Code string `json:"kod"`
	// Minutes is the time spent on it; 0 and absent when declined.
	Minutes        int    `json:"min,omitempty"`
	Declined       bool   `json:"declined,omitempty"`
	DeclinedReason string `json:"declinedReason,omitempty"`
	DoubleStaffed  bool   `json:"doubleStaffed,omitempty"`
}

// Method is how a visit's start or end was registered.
type Method string

// The registration methods.
const (
	NFC     Method = "NFC" // the tag in the home read by the phone
	Lock    Method = "LAS" // the digital lock opened through the app
	Manual  Method = "MAN" // entered by hand, no tag
	Outside Method = "UTE" // outside the home (a walk, shopping together)
)

// Status is what became of a visit.
type Status string

// The statuses the simulator produces.
const (
	Performed      Status = "UTFORD"
	Declined       Status = "AVBOJD"        // the client declined the whole visit
	PartlyDeclined Status = "DELVIS_AVBOJD" // some insatser declined
)

// The reasons a declined insats is recorded with (the municipality's list).
const (
	ReasonNotWanted = "EJ_ONSKAT" // the client did not want it
	ReasonAsleep    = "SOV"       // the client was asleep
	ReasonRelative  = "ANHORIG"   // a relative did it
)

// Batch is one push of TES to the hub's /ingest/tes_sync: the visits one
// phone synced at one time (or, from WebDeviceID, a supervisor's
// corrections), 1 to MaxBatch of them.
type Batch struct {
	// SyncID names the sync: device id and local minute, e.g.
	// "PHONE-0017-20261123T2104". Resending a batch keeps it.
	SyncID   string `json:"syncId"`
	DeviceID string `json:"deviceId"`
	// SentAt is when TES sends it: the simulated time the batch is due.
	SentAt time.Time `json:"sentAt"`
	Visits []Visit   `json:"visits"`
}

// MaxBatch is the most visits one batch carries.
const MaxBatch = 1000

// WebDeviceID is the device id of batches made in TES's web client: the
// supervisors' corrections.
const WebDeviceID = "TES-WEB"
