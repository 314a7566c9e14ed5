package provider

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
)

// AckStatus is a provider's verdict on an order.
type AckStatus string

// The statuses. The pipeline maps mottagen to the canonical order event
// "acknowledged" and avvisad to "rejected".
const (
	// Mottagen: the provider has received and accepted the order.
	Mottagen AckStatus = "mottagen"
	// Avvisad: the provider declines the order; Reason says why.
	Avvisad AckStatus = "avvisad"
)

// Ack is a provider's acknowledgement, as JSON: the body of a webhook's
// 200/201 answer, the body a provider POSTs to the callback endpoint, and
// (normalised) the body of the reply message. Only status is required;
// unknown fields are ignored.
type Ack struct {
	// ID is the provider's own id for this acknowledgement. On callbacks
	// it is the external id unless an Idempotency-Key header is sent.
	ID string `json:"id,omitempty"`
	// MessageID is the Idempotency-Key of the delivery acknowledged.
	// Replies always carry it.
	MessageID string `json:"message_id,omitempty"`
	// OrderID is the order's id (order.external_id in the canonical
	// order event). Replies fall back to the delivered message's
	// order_id_header.
	OrderID string `json:"order_id,omitempty"`
	// Status is "mottagen" or "avvisad". Required.
	Status AckStatus `json:"status"`
	// Reason explains an avvisad status, at most 1000 characters.
	Reason string `json:"reason,omitempty"`
	// OccurredAt is when the provider decided, RFC 3339. Replies fall
	// back to the time the answer arrived.
	OccurredAt string `json:"occurred_at,omitempty"`
	// Provider is the provider's configured name; the hub fills it in
	// replies.
	Provider string `json:"provider,omitempty"`
}

// maxReason is the canonical order event's limit on reason.
const maxReason = 1000

// parseAck reads an acknowledgement from a webhook answer. It reports
// false when body is no JSON object with a known status: the provider
// acknowledges some other way, e.g. by callback.
func parseAck(body []byte) (Ack, bool) {
	var a Ack
	// A repeated key is no acknowledgement: which of its values counts
	// would depend on the reader.
	if jsonscan.CheckKeys(body) != nil || json.Unmarshal(body, &a) != nil {
		return Ack{}, false
	}
	a.Status = AckStatus(strings.ToLower(strings.TrimSpace(string(a.Status))))
	if a.Status != Mottagen && a.Status != Avvisad {
		return Ack{}, false
	}
	a.Reason = truncate(a.Reason, maxReason)
	if _, err := time.Parse(time.RFC3339, a.OccurredAt); err != nil {
		a.OccurredAt = ""
	}
	return a, true
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
