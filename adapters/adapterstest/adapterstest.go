// Package adapterstest is the conformance kit every adapter passes, in the
// manner of testing/fstest and watermill's pubsub/tests: one entry point per
// direction, RunSource and RunSink, drives an adapter through its real YAML
// config against a fake vendor (a real server on loopback, never a mock) and
// checks each sentence of the contract in package adapters.
//
// The cases, each a subtest:
//
//  1. config: Def.Sample decodes strictly and validates, documents every
//     config key, an unknown key fails, and removing any key either still
//     validates or fails with an error that names the key.
//  2. lazy_connect (Features.LazyConnect): Open succeeds while the vendor is down.
//  3. sink send: one Send arrives byte-exact with its headers; 100 concurrent
//     Sends all arrive.
//  4. sink errors: the vendor's final rejection gives adapters.IsPermanent;
//     a retryable rejection, a stalled vendor (timeout) and an outage do not,
//     and the sink recovers after the outage.
//  5. source delivery: an emitted message reaches deliver; after a deliver
//     error it is redelivered; after success it is acked exactly once.
//     (Features.Snapshot: the vendor's whole state is delivered per poll;
//     the snapshot carrying the message is redelivered under the same
//     external-id and not again while nothing changed.)
//  6. source cancel: cancelling ctx makes Receive return promptly, leaving no
//     goroutine behind (goleak).
//  7. check (Features.Check): Check fails after Down and passes after Up.
//  8. close: Close is idempotent; Send (or Receive) after Close returns
//     adapters.ErrClosed.
//  9. secrets: no secret value reaches the logs or any returned error.
//  10. ordered (Features.Ordered): N messages keep their order.
//  11. sink idempotency: the same message ID sent twice reaches the vendor
//     once, or (Features.IdempotencyHeader) every copy carries the ID for
//     the vendor to deduplicate.
//
// A case a harness cannot pass is skipped only through an explicit Features
// flag, so every exemption shows up in review. Run the kit from a
// non-parallel top-level test: case 6 compares goroutines before and after.
package adapterstest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Features declares what an adapter promises and which cases it is exempt
// from. Positive flags (Ordered, Check, LazyConnect) switch cases on; the No*
// flags switch a case, or part of one, off and must be justified in the
// harness.
type Features struct {
	// Ordered: messages keep their order end to end (case 10).
	Ordered bool
	// Check: the adapter implements adapters.Checker (case 7).
	Check bool
	// LazyConnect: Open needs no network (case 2). The contract asks this of
	// every adapter; false is an exemption.
	LazyConnect bool
	// NoHeaders: the vendor protocol carries no message headers (files), so
	// cases 3 and 5 compare bodies only.
	NoHeaders bool
	// Framed: the vendor frames messages in a batch or file of several (a
	// JSON array, one per line), so a message is the value without the
	// whitespace around it, and the cases compare bodies trimmed.
	Framed bool
	// Snapshot: the source delivers the vendor's whole state as one message
	// per poll, as a directory sync does (LDAP has neither a queue nor an
	// acknowledgement). An emitted message is then a record of that state
	// which every later snapshot carries, and the vendor implements
	// Unpacker to list the emitted bodies in a delivered snapshot. The
	// source cases tell deliveries apart by the emitted bodies they carry,
	// and wait for a successful delivery where they would wait for the
	// vendor's ack (Acked and Pending are not called). Case 5 expects the
	// snapshot that carries the message to be delivered again after a
	// deliver error under the same external-id header (so the hub stores it
	// once) and not again while the state is unchanged; since a snapshot's
	// headers are the source's own, not the emitted message's, it compares
	// no emitted headers.
	Snapshot bool
	// NoFinalRejection: the vendor has no documented final rejection, so
	// case 4 checks only that transient failures are not permanent.
	NoFinalRejection bool
	// NoStall: the fake vendor cannot hang mid-request, so case 4 skips the
	// timeout check.
	NoStall bool
	// NoClose: the adapter holds nothing to release and is no io.Closer,
	// so case 8 is skipped.
	NoClose bool
	// IdempotencyHeader, when set, says the sink relies on the vendor to
	// deduplicate: case 11 then accepts two copies of a resent message if
	// each carries the message ID in this header of Received (lower-case
	// name, e.g. "idempotency-key"). Empty means the sink itself sends a
	// message ID at most once.
	IdempotencyHeader string
}

// Vendor is the fake vendor's side of an outage.
type Vendor interface {
	// Down makes the vendor unreachable (connection refused, directory
	// gone) until Up.
	Down()
	// Up ends an outage, a stall and any rejection.
	Up()
}

// SourceVendor is a fake vendor feeding a source.
type SourceVendor interface {
	Vendor
	// Emit makes the vendor produce m for the source. It returns once the
	// vendor holds the message (a file is written, a request is queued); it
	// does not wait for the source. Vendors should keep m.Body byte-exact
	// and carry m.Headers where their protocol can.
	Emit(ctx context.Context, m knutpunkt.Message) error
	// Acked counts the acknowledgements the source gave so far: files moved
	// to done, 2xx responses, queue acks.
	Acked() int
	// Pending counts emitted messages not yet acknowledged.
	Pending() int
}

// Unpacker is implemented by the fake vendors of Features.Snapshot
// sources.
type Unpacker interface {
	// Unpack returns the bodies of the emitted messages that a delivered
	// snapshot carries, byte-exact, in any order; none for a snapshot of an
	// empty state.
	Unpack(snapshot knutpunkt.Message) ([][]byte, error)
}

// SinkVendor is a fake vendor receiving from a sink.
type SinkVendor interface {
	Vendor
	// Received returns every message the vendor accepted so far, in arrival
	// order, with its headers mapped back to knutpunkt header names.
	Received() []knutpunkt.Message
	// Reject makes the vendor answer later deliveries with r until Up.
	Reject(r Rejection)
}

// Rejection is how a fake vendor answers a delivery it does not accept.
type Rejection int

// The rejections case 4 uses.
const (
	// RejectFinal is the vendor's documented final rejection (e.g. 400).
	RejectFinal Rejection = iota + 1
	// RejectRetryable is a failure worth retrying (e.g. 503).
	RejectRetryable
	// Stall makes the vendor hold the request without answering, so the
	// sink must give up when ctx ends.
	Stall
)

// SecretHolder is implemented by vendors whose config references secrets
// (passwords, tokens). The kit resolves the references through
// adapters.MapSecrets and checks (case 9) that no value leaks.
type SecretHolder interface {
	Secrets() adapters.MapSecrets
}

// EnvProvider is implemented by vendors that supply part of the adapter's
// Env, e.g. the Ingress an HTTP source mounts its handler on (see
// NewIngress). The kit calls Env with its own Env and uses the result.
type EnvProvider interface {
	Env(env adapters.Env) adapters.Env
}

// SourceHarness tells RunSource how to test one source adapter.
type SourceHarness struct {
	// Def is the adapter under test, as registered.
	Def adapters.SourceDef
	// Features declares promises and exemptions.
	Features Features
	// Vendor starts a fresh fake vendor for one case and returns the YAML
	// config that points the adapter at it. It registers its own cleanup
	// with t.Cleanup.
	Vendor func(t testing.TB) (configYAML []byte, v SourceVendor)
}

// SinkHarness tells RunSink how to test one sink adapter.
type SinkHarness struct {
	// Def is the adapter under test, as registered.
	Def adapters.SinkDef
	// Features declares promises and exemptions.
	Features Features
	// Vendor starts a fresh fake vendor for one case, as in SourceHarness.
	Vendor func(t testing.TB) (configYAML []byte, v SinkVendor)
}

// Canary is a secret value the kit always offers under CanaryRef, so case 9
// has something to look for even when the vendor declares no secrets.
const (
	Canary    = "adapterstest-canary-3f9a7c"
	CanaryRef = adapters.Secret("env:ADAPTERSTEST_CANARY")
)

// Timing of the kit. Generous, because CI machines are slow under -race.
const (
	waitFor = 15 * time.Second       // an expected event must happen within this
	prompt  = 3 * time.Second        // "promptly": Receive after cancel, Check when down
	quiet   = 300 * time.Millisecond // an unexpected event must not happen within this
)

// newEnv builds the Env of one case: a unique Name, a logger that writes to
// t (and to extra, if given), the canary plus the vendor's secrets, a
// private HTTP client, and whatever the vendor provides.
func newEnv(t testing.TB, v Vendor, extra ...zap.Option) adapters.Env {
	t.Helper()
	secrets := adapters.MapSecrets{CanaryRef: Canary}
	if sh, ok := v.(SecretHolder); ok {
		for ref, val := range sh.Secrets() {
			secrets[ref] = val
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	env := adapters.Env{
		Name:       "kt-" + uuid.NewString()[:8],
		Logger:     zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel), zaptest.WrapOptions(extra...)),
		Secrets:    secrets,
		HTTPClient: &http.Client{Transport: tr},
	}
	if ep, ok := v.(EnvProvider); ok {
		env = ep.Env(env)
	}
	return env
}

// testMessage returns message n of a case: a unique sortable ID, the common
// headers, and a body with non-ASCII text and CRLF, to catch any re-encoding.
func testMessage(prefix string, n int) knutpunkt.Message {
	id := fmt.Sprintf("%s-%04d", prefix, n)
	return knutpunkt.Message{
		ID: id,
		Headers: map[string]string{
			knutpunkt.HeaderContentType:  "application/json",
			knutpunkt.HeaderSourceSystem: "adapterstest",
			knutpunkt.HeaderExternalID:   id,
		},
		Body: fmt.Appendf(nil, "{\"id\":%q,\"n\":%d,\"text\":\"Åsa Öberg – hemtjänst ✓\"}\r\n", id, n),
	}
}

func newPrefix() string { return "m" + uuid.NewString()[:8] }

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkHeaders reports the headers of want missing or different in got.
func checkHeaders(t testing.TB, f Features, what string, want, got knutpunkt.Message) {
	t.Helper()
	if f.NoHeaders {
		return
	}
	for k, v := range want.Headers {
		if got.Headers[k] != v {
			t.Errorf("%s: header %q = %q, want %q", what, k, got.Headers[k], v)
		}
	}
}

func closeIfCloser(t testing.TB, x any) {
	t.Helper()
	if c, ok := x.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
