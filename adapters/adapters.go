// Package adapters is the contract between the hub and the code that speaks
// one vendor's protocol.
//
// An adapter is a Source (messages from a vendor into the hub), a Sink
// (messages from the hub to a vendor), or both, registered under one name in a
// Registry. The hub drives each adapter through the same lifecycle:
//
//	strict YAML decode into Def.Config() → Config.Validate → Def.Open(cfg, env)
//	→ optional Checker.Check → Receive / Send → optional io.Closer.Close
//
// Adapters never see the store, the router or the message bus: Env is their
// only window on the hub. Vendor code lives only below this directory, one
// package per vendor or protocol; adapters/adapterstest is the conformance kit
// every adapter passes.
package adapters

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
)

// DeliverFunc hands one message to the hub. It returns nil only once the hub
// has stored the message durably; then, and only then, the source may
// acknowledge it to the vendor. After an error the message must stay
// redeliverable at the vendor. An error wrapped with Permanent means the hub
// will never accept the message (the source reports that to the vendor where
// its protocol can, or sets the message aside); any other error is transient.
//
// m.ID may be empty: the hub then assigns one. The Receipt says under which
// ID the hub keeps the message: a source that tells the vendor (the http
// source answers 202 with it) reports that one, which for a duplicate is the
// ID of the message stored first. DeliverFunc is safe for concurrent use.
type DeliverFunc func(ctx context.Context, m knutpunkt.Message) (Receipt, error)

// Receipt is the hub's answer to a message it stored.
type Receipt struct {
	// ID is the message's ID in the hub's message log.
	ID string
	// Duplicate is true when the hub already had the message (same ID, or
	// same source system and external id) and stored nothing new; ID is
	// then the first message's.
	Duplicate bool
}

// A Source receives messages from a vendor system.
//
// Receive blocks, handing each message to deliver, until ctx is done (then it
// returns ctx.Err() or nil promptly, leaving no goroutine behind) or a
// non-recoverable error occurs. It acknowledges a message to the vendor
// exactly once, only after deliver returned nil. A source that promises
// per-vendor ordering calls deliver for one message at a time.
type Source interface {
	Receive(ctx context.Context, deliver DeliverFunc) error
}

// A Sink delivers messages to a vendor system.
//
// Send is safe for concurrent use and idempotent by message ID: sending the
// same ID twice has the effect of sending it once. An error that retrying
// cannot fix (the vendor's documented final rejection, a 4xx, a payload the
// vendor can never accept) is wrapped with Permanent, so the hub dead-letters
// the message instead of retrying. After Close, Send returns ErrClosed.
type Sink interface {
	Send(ctx context.Context, m knutpunkt.Message) error
}

// Replier is implemented by sinks whose vendor answers a delivery with a
// message of its own, such as a provider acknowledging an order in its
// webhook response. SendWithReply has Send's contract; reply is nil when
// the vendor said nothing worth passing on. The hub publishes a reply on
// the pipeline's reply_to topic, correlated with the delivery.
type Replier interface {
	SendWithReply(ctx context.Context, m knutpunkt.Message) (reply *knutpunkt.Message, err error)
}

// Checker is implemented by adapters that can probe their vendor endpoint;
// the hub's /readyz and `knut serve` startup call it. Check returns promptly
// with an error while the vendor is unreachable.
type Checker interface {
	Check(ctx context.Context) error
}

// Config is an adapter's typed configuration, decoded strictly from YAML
// (unknown keys fail). Validate is pure and offline: no I/O and no mutation;
// it reports every problem at once (errors.Join), each prefixed with its
// snake_case YAML key, e.g. "port: must be 1-65535".
type Config interface {
	Validate() error
}

// Ingress lets an adapter receive inbound HTTP requests on the hub's own
// server, under /ingest/{name}. The hub's server applies TLS, client
// certificate checks, body limits and identifies the caller before the
// handler runs (see knutpunkt.HeaderCaller and CallerFromContext).
type Ingress interface {
	// Handle mounts h at /ingest/{name}. It returns an error if name is taken.
	Handle(name string, h http.Handler) error
}

// Env is everything an adapter may use from the hub.
type Env struct {
	// Name is the adapter instance name: the pipeline that uses it.
	Name string
	// Logger is scoped to the adapter instance. Never log payloads or secrets.
	Logger *zap.Logger
	// Secrets resolves Secret references from the adapter's config.
	Secrets SecretResolver
	// HTTPClient is the hub's outbound HTTP client (timeouts, proxy, TLS).
	HTTPClient *http.Client
	// Ingress mounts inbound HTTP handlers; nil where the hub serves no HTTP
	// (e.g. `knut import`), in which case HTTP sources fail to open.
	Ingress Ingress
	// Orders settles, before a source accepts a message, whether its
	// sender may touch the order it names. Nil where the hub keeps no
	// orders; the pipeline's store step refuses a foreign order anyway,
	// later and without an answer to the sender.
	Orders OrderScope
	// Replays remembers the signed requests a source accepted, so that one
	// captured and sent again is refused. Nil remembers nothing.
	Replays ReplayGuard
	// Cursors keeps a polled source's position at the vendor (the last
	// event id read, a date) in the hub's store, so that a restart goes on
	// where the last run stopped. Nil keeps nothing: the source starts
	// from its configured beginning each time.
	Cursors CursorStore
}

// CursorStore keeps polled sources' cursors durably, one value per key
// (the source names its own keys; the hub scopes them by the adapter
// instance, Env.Name). A source saves a cursor only after deliver
// returned nil for every message before it, so a crash re-reads, and
// the hub's deduplication by external id drops, what was already stored.
type CursorStore interface {
	// Cursor returns the value saved under key, and false when none was.
	Cursor(ctx context.Context, key string) (string, bool, error)
	// SaveCursor replaces the value under key.
	SaveCursor(ctx context.Context, key, value string) error
}

// OrderScope answers, for an adapter that takes messages from providers,
// whether an order is the provider's.
type OrderScope interface {
	// CheckProvider returns nil when orderID (an order's external id in
	// any case system) names an order of provider, and otherwise an error
	// wrapping ErrForbidden, also for an order that does not exist, so
	// that a provider cannot learn which ids do. caller is the
	// certificate identity the request came with, for the audit record
	// every refusal writes.
	CheckProvider(ctx context.Context, provider, orderID, caller string) error
}

// ReplayGuard remembers signed requests by their signature.
type ReplayGuard interface {
	// Seen records sig on scope until expires, when its timestamp leaves
	// the window the receiver accepts, and reports whether it was
	// recorded already: the request is a replay.
	Seen(ctx context.Context, scope, sig string, expires time.Time) (bool, error)
	// Forget drops sig, for a request the hub could not take (it answered
	// 5xx), so the sender's retry of the same bytes is not a replay.
	Forget(ctx context.Context, scope, sig string) error
}

// WithDefaults returns env with every nil field replaced by a usable default:
// a no-op logger, the process environment and files as secret store, and
// http.DefaultClient.
func (env Env) WithDefaults() Env {
	if env.Logger == nil {
		env.Logger = zap.NewNop()
	}
	if env.Secrets == nil {
		env.Secrets = EnvSecrets{}
	}
	if env.HTTPClient == nil {
		env.HTTPClient = http.DefaultClient
	}
	return env
}
