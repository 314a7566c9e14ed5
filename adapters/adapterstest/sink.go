package adapterstest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// RunSink runs the conformance cases for a sink adapter. Call it from a
// non-parallel test.
func RunSink(t *testing.T, h SinkHarness) {
	t.Helper()
	if h.Vendor == nil {
		t.Fatal("SinkHarness.Vendor is nil")
	}
	s := sinkSuite{h}
	t.Run("01_config", func(t *testing.T) { testConfig(t, h.Def.Name, h.Def.Summary, h.Def.Sample, h.Def.Config) })
	t.Run("02_lazy_connect", s.lazyConnect)
	t.Run("03_send", s.send)
	t.Run("04_errors", s.errors)
	t.Run("07_check", s.check)
	t.Run("08_close", s.close)
	t.Run("09_secrets", s.secrets)
	t.Run("10_ordered", s.ordered)
	t.Run("11_idempotent", s.idempotent)
}

type sinkSuite struct{ h SinkHarness }

// open starts a vendor and opens the sink against it; the sink is closed
// when the test ends.
func (s sinkSuite) open(t *testing.T, opts ...zap.Option) (adapters.Sink, SinkVendor) {
	t.Helper()
	yml, v := s.h.Vendor(t)
	return s.openWith(t, yml, v, opts...), v
}

func (s sinkSuite) openWith(t *testing.T, yml []byte, v SinkVendor, opts ...zap.Option) adapters.Sink {
	t.Helper()
	cfg, err := adapters.DecodeConfig(s.h.Def.Config, yml)
	if err != nil {
		t.Fatalf("DecodeConfig(vendor config): %v\n%s", err, yml)
	}
	sink, err := s.h.Def.Open(cfg, newEnv(t, v, opts...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeIfCloser(t, sink) })
	return sink
}

func (s sinkSuite) lazyConnect(t *testing.T) {
	if !s.h.Features.LazyConnect {
		t.Skip("exempt: Features.LazyConnect is false")
	}
	yml, v := s.h.Vendor(t)
	v.Down()
	s.openWith(t, yml, v)
}

// findByBody returns the received messages whose body equals want's.
func findByBody(got []knutpunkt.Message, want knutpunkt.Message) []knutpunkt.Message {
	var out []knutpunkt.Message
	for _, m := range got {
		if bytes.Equal(m.Body, want.Body) {
			out = append(out, m)
		}
	}
	return out
}

func (s sinkSuite) send(t *testing.T) {
	sink, v := s.open(t)
	prefix := newPrefix()
	m := testMessage(prefix, 0)
	if err := sink.Send(t.Context(), m.Clone()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := findByBody(v.Received(), m)
	if len(got) != 1 {
		t.Fatalf("vendor received %d copies of the message byte-exact, want 1; received: %s", len(got), bodies(v.Received()))
	}
	checkHeaders(t, s.h.Features, "received", m, got[0])

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Go(func() { errs <- sink.Send(t.Context(), testMessage(prefix, i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Send: %v", err)
		}
	}
	received := v.Received()
	for i := 1; i <= n; i++ {
		if c := len(findByBody(received, testMessage(prefix, i))); c != 1 {
			t.Errorf("message %d of %d concurrent sends arrived %d times, want 1", i, n, c)
		}
	}
}

func (s sinkSuite) errors(t *testing.T) {
	sink, v := s.open(t)
	prefix := newPrefix()
	n := 0
	next := func() knutpunkt.Message { n++; return testMessage(prefix, n) }

	t.Run("final_rejection_is_permanent", func(t *testing.T) {
		if s.h.Features.NoFinalRejection {
			t.Skip("exempt: Features.NoFinalRejection")
		}
		v.Reject(RejectFinal)
		defer v.Up()
		if err := sink.Send(t.Context(), next()); !adapters.IsPermanent(err) {
			t.Errorf("Send to a rejecting vendor = %v, want a permanent error", err)
		}
	})
	t.Run("retryable_rejection_is_transient", func(t *testing.T) {
		v.Reject(RejectRetryable)
		defer v.Up()
		if err := sink.Send(t.Context(), next()); err == nil || adapters.IsPermanent(err) {
			t.Errorf("Send to a failing vendor = %v, want a transient error", err)
		}
	})
	t.Run("stall_times_out_transient", func(t *testing.T) {
		if s.h.Features.NoStall {
			t.Skip("exempt: Features.NoStall")
		}
		v.Reject(Stall)
		defer v.Up()
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := sink.Send(ctx, next())
		if err == nil || adapters.IsPermanent(err) {
			t.Errorf("Send to a stalled vendor = %v, want a transient error", err)
		}
		if d := time.Since(start); d > prompt {
			t.Errorf("Send to a stalled vendor took %v after its ctx ended, want < %v", d, prompt)
		}
	})
	t.Run("outage_is_transient_and_recovers", func(t *testing.T) {
		v.Down()
		err := sink.Send(t.Context(), next())
		v.Up()
		if err == nil || adapters.IsPermanent(err) {
			t.Errorf("Send during an outage = %v, want a transient error", err)
		}
		m := next()
		if err := sink.Send(t.Context(), m); err != nil {
			t.Fatalf("Send after the outage: %v", err)
		}
		if c := len(findByBody(v.Received(), m)); c != 1 {
			t.Errorf("message sent after the outage arrived %d times, want 1", c)
		}
	})
}

func (s sinkSuite) check(t *testing.T) {
	if !s.h.Features.Check {
		t.Skip("exempt: Features.Check is false")
	}
	sink, v := s.open(t)
	c, ok := sink.(adapters.Checker)
	if !ok {
		t.Fatalf("Features.Check is set but %T is not an adapters.Checker", sink)
	}
	testCheck(t, c, v)
}

// testCheck is case 7 for either direction.
func testCheck(t *testing.T, c adapters.Checker, v Vendor) {
	t.Helper()
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("Check with the vendor up: %v", err)
	}
	v.Down()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	start := time.Now()
	err := c.Check(ctx)
	if err == nil {
		t.Error("Check with the vendor down = nil, want an error")
	}
	if d := time.Since(start); d > prompt {
		t.Errorf("Check with the vendor down took %v, want < %v", d, prompt)
	}
	v.Up()
	if err := c.Check(t.Context()); err != nil {
		t.Errorf("Check after Up: %v", err)
	}
}

func (s sinkSuite) close(t *testing.T) {
	if s.h.Features.NoClose {
		t.Skip("exempt: Features.NoClose")
	}
	sink, _ := s.open(t)
	c, ok := sink.(interface{ Close() error })
	if !ok {
		t.Fatalf("%T is not an io.Closer; set Features.NoClose if it holds nothing", sink)
	}
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if err := sink.Send(t.Context(), testMessage(newPrefix(), 0)); !errors.Is(err, adapters.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

func (s sinkSuite) secrets(t *testing.T) {
	logs := newLogCapture()
	yml, v := s.h.Vendor(t)
	sink := s.openWith(t, yml, v, logs.option())
	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	prefix := newPrefix()
	record(sink.Send(t.Context(), testMessage(prefix, 1)))
	for _, r := range []Rejection{RejectFinal, RejectRetryable} {
		if r == RejectFinal && s.h.Features.NoFinalRejection {
			continue
		}
		v.Reject(r)
		record(sink.Send(t.Context(), testMessage(prefix, int(r)+1)))
		v.Up()
	}
	v.Down()
	record(sink.Send(t.Context(), testMessage(prefix, 9)))
	if c, ok := sink.(adapters.Checker); ok {
		record(c.Check(t.Context()))
	}
	v.Up()
	if c, ok := sink.(interface{ Close() error }); ok {
		record(c.Close())
	}
	if len(errs) == 0 {
		t.Error("no error returned while the vendor failed; case 9 saw nothing to scan")
	}
	checkNoSecrets(t, v, logs, errs)
}

func (s sinkSuite) ordered(t *testing.T) {
	if !s.h.Features.Ordered {
		t.Skip("exempt: Features.Ordered is false")
	}
	sink, v := s.open(t)
	prefix := newPrefix()
	const n = 20
	var want []string
	for i := range n {
		m := testMessage(prefix, i)
		want = append(want, string(m.Body))
		if err := sink.Send(t.Context(), m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	var got []string
	for _, m := range v.Received() {
		got = append(got, string(m.Body))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("received order mismatch (-sent +received):\n%s", diff)
	}
}

func (s sinkSuite) idempotent(t *testing.T) {
	sink, v := s.open(t)
	m := testMessage(newPrefix(), 0)
	for i := range 2 {
		if err := sink.Send(t.Context(), m.Clone()); err != nil {
			t.Fatalf("Send #%d: %v", i+1, err)
		}
	}
	got := findByBody(v.Received(), m)
	if h := s.h.Features.IdempotencyHeader; h != "" {
		if len(got) == 0 {
			t.Fatal("resent message never arrived")
		}
		for _, r := range got {
			if r.Headers[h] != m.ID {
				t.Errorf("copy of a resent message has header %q = %q, want the message ID %q", h, r.Headers[h], m.ID)
			}
		}
		return
	}
	if len(got) != 1 {
		t.Errorf("message sent twice with one ID arrived %d times, want 1", len(got))
	}
}

func bodies(ms []knutpunkt.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	return out
}
