package router

// The headers the engine itself sets on messages, in one place. The names
// every layer shares (content type, source system, external id,
// correlation id, caller, file name) are knutpunkt's Header constants;
// adapters add their own, prefixed with their name.
const (
	// HeaderTopic records on every logged message the bus topic it was
	// published to, so pending messages can be republished after a restart.
	HeaderTopic = "knut-topic"

	// HeaderReplayOf is set on a replayed message to the ID it replays.
	HeaderReplayOf = "replay-of"

	// HeaderOriginExternalID carries the external id of the inbound
	// message a derived message (a delivery, a message to another
	// pipeline) came from. The derived message must not carry
	// knutpunkt.HeaderExternalID itself: with the source system that is
	// the inbound idempotency key, and the message log would take the
	// derived message for a duplicate of its origin.
	HeaderOriginExternalID = "origin-external-id"

	// HeaderReplyTo names, on a sink's reply, the delivery it answers.
	HeaderReplyTo = "reply-to"

	// HeaderDeferrals counts how often a message has waited (see
	// DeferredError).
	HeaderDeferrals = "knut-deferrals"

	// HeaderDeadReason carries, on a message sent to a pipeline's
	// dead_letter topic, why it died.
	HeaderDeadReason = "dead-reason"
)
