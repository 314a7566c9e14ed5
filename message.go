package knutpunkt

import "maps"

// Message is one unit of data moving through the hub: a vendor payload as
// received, a canonical entity, or a delivery to a vendor. The hub assigns ID
// when a source hands a message over; sinks use it as their idempotency key.
type Message struct {
	// ID is unique per message; sinks deliver the same ID at most once.
	ID string
	// Headers carry metadata such as content type, source system and the
	// vendor's external id. Header names are lower-case, see the Header
	// constants.
	Headers map[string]string
	// Body is the payload, byte-exact as received or produced.
	Body []byte
}

// Well-known header names. Adapters may add their own, prefixed with their name.
const (
	// HeaderContentType is the MIME type of Body, e.g. "application/xml".
	HeaderContentType = "content-type"
	// HeaderSourceSystem names the system a message came from; with
	// HeaderExternalID it makes the idempotency key of an inbound message.
	HeaderSourceSystem = "source-system"
	// HeaderExternalID is the sender's own id for the message or entity.
	HeaderExternalID = "external-id"
	// HeaderCorrelationID ties together every message caused by one inbound message.
	HeaderCorrelationID = "correlation-id"
	// HeaderCaller is the authenticated caller (an HSA-ID from a SITHS
	// certificate's subject serialNumber) that handed the message to the hub.
	HeaderCaller = "caller"
	// HeaderFilename is the original file name for file and SFTP sources.
	HeaderFilename = "filename"
	// HeaderIdempotencyKey is set on a replayed message, and on every
	// message derived from one, to the key of the message it stands in
	// for; see IdempotencyKey.
	HeaderIdempotencyKey = "idempotency-key"
)

// IdempotencyKey is what a sink sends as its idempotency key: the ID, or
// for a replay (and what is derived from one) the key of the message it
// stands in for. A replay gets a new ID so the message log keeps both
// runs, but the receiver must see the same delivery: a case system that
// took the first receipt before the hub dead-lettered it (a timeout after
// the write) recognises the replayed one and records it once.
func (m Message) IdempotencyKey() string {
	if k := m.Headers[HeaderIdempotencyKey]; k != "" {
		return k
	}
	return m.ID
}

// Header returns the value of header name, or "" if absent.
func (m Message) Header(name string) string { return m.Headers[name] }

// Clone returns a deep copy of m, so a step can change headers or body
// without affecting other holders of the message.
func (m Message) Clone() Message {
	c := Message{ID: m.ID, Headers: maps.Clone(m.Headers)}
	if m.Body != nil {
		c.Body = append([]byte(nil), m.Body...)
	}
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	return c
}
