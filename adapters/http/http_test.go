package http_test

import (
	"fmt"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
)

func TestSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: kphttp.SourceDef,
		// Requests are served concurrently: no ordering promise. Nothing
		// to probe: the hub's own server is the endpoint.
		Features: adapterstest.Features{LazyConnect: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			return []byte("max_body_size: 1MiB\nretry_after: 1s\n"), newSender(t)
		},
	})
}

func TestSink(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: kphttp.SinkDef,
		// The vendor deduplicates by Idempotency-Key.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, IdempotencyHeader: "idempotency-key"},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			r := newReceiver(t)
			return fmt.Appendf(nil, "url: %s/orders\nbearer_token: %s\ntimeout: 5s\nhealth_url: %s/healthz\n", r.URL(), tokenRef, r.URL()), r
		},
	})
}
