package lifecare

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// Source receives order messages from the case system through the
// configured transport, with that transport's semantics (see the http,
// sftp and file adapters): over http, concurrent requests and no ordering
// promise; over sftp and file, one file at a time in name order.
//
// Before handing a message to the hub it sets the external-id header to
// the root's handelseId when the message has no external id (no
// X-External-Id or Idempotency-Key header; files never have one). A body
// that is not order XML is delivered unchanged: the pipeline's validate
// step dead-letters it with the reason.
type Source struct {
	transport Transport
	inner     adapters.Source
	log       *zap.Logger
	closed    atomic.Bool
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource builds the source for a validated cfg. Over http it mounts
// /ingest/{path} on env.Ingress; it never touches the network.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	s := &Source{transport: cfg.Transport, log: env.Logger}
	var err error
	s.inner, err = cfg.Open(env, nil)
	if err != nil {
		return nil, fmt.Errorf("lifecare source: %w", err)
	}
	return s, nil
}

// Receive implements adapters.Source.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	if s.closed.Load() {
		return adapters.ErrClosed
	}
	return s.inner.Receive(ctx, func(ctx context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		eventID, orderID := ids(m.Body)
		m = m.Clone()
		if m.Header(knutpunkt.HeaderExternalID) == "" {
			if eventID != "" {
				m.Headers[knutpunkt.HeaderExternalID] = eventID
			} else {
				s.log.Debug("message has no handelseId; delivered without external-id")
			}
		}
		if orderID != "" {
			m.Headers[HeaderOrderID] = orderID
		}
		return deliver(ctx, m)
	})
}

// Check implements adapters.Checker. Over sftp and file it probes the
// drop directory; over http the endpoint is the hub's own server, so
// Check only fails after Close.
func (s *Source) Check(ctx context.Context) error {
	if s.closed.Load() {
		return adapters.ErrClosed
	}
	if c, ok := s.inner.(adapters.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// Close stops a running Receive with ErrClosed and releases the
// transport's connection. It is idempotent.
func (s *Source) Close() error {
	s.closed.Store(true)
	if c, ok := s.inner.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// HeaderOrderID is set on every order message to its bestallningsId, so a
// pipeline can keep each order's messages in order:
// `order_by: {header: lifecare-order-id}`.
const HeaderOrderID = "lifecare-order-id"

var (
	eventIDPath = mustXPath("/o:*/o:handelseId")
	orderIDPath = mustXPath("/o:*/o:bestallningsId")
	orderNS     = map[string]string{"o": OrderNamespace}
)

func mustXPath(expr string) *schema.XPath {
	x, err := schema.CompileXPath(expr)
	if err != nil {
		panic(err)
	}
	return x
}

// EventID returns the handelseId of an order message (the first child of
// the root, in OrderNamespace), or "" when body is not order XML or the id
// is empty or longer than 128 bytes. It parses through internal/schema,
// the hub's only XML parser, so the id is the one the validate and map
// steps will see.
func EventID(body []byte) string {
	id, _ := ids(body)
	return id
}

// ids returns the handelseId and bestallningsId of an order message, each
// "" when absent, empty or longer than 128 bytes.
func ids(body []byte) (eventID, orderID string) {
	doc, err := schema.ParseXML(body)
	if err != nil {
		return "", ""
	}
	defer doc.Free()
	get := func(x *schema.XPath) string {
		id, ok, err := x.Value(doc.Node(), orderNS)
		if err != nil || !ok || len(id) > 128 {
			return ""
		}
		return id
	}
	return get(eventIDPath), get(orderIDPath)
}
