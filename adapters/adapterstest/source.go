package adapterstest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// RunSource runs the conformance cases for a source adapter. Call it from a
// non-parallel test.
func RunSource(t *testing.T, h SourceHarness) {
	t.Helper()
	if h.Vendor == nil {
		t.Fatal("SourceHarness.Vendor is nil")
	}
	s := sourceSuite{h}
	t.Run("01_config", func(t *testing.T) { testConfig(t, h.Def.Name, h.Def.Summary, h.Def.Sample, h.Def.Config) })
	t.Run("02_lazy_connect", s.lazyConnect)
	t.Run("05_delivery", s.delivery)
	t.Run("06_cancel", s.cancel)
	t.Run("07_check", s.check)
	t.Run("08_close", s.close)
	t.Run("09_secrets", s.secrets)
	t.Run("10_ordered", s.ordered)
}

type sourceSuite struct{ h SourceHarness }

func (s sourceSuite) open(t *testing.T, opts ...zap.Option) (adapters.Source, SourceVendor) {
	t.Helper()
	yml, v := s.h.Vendor(t)
	return s.openWith(t, yml, v, opts...), v
}

func (s sourceSuite) openWith(t *testing.T, yml []byte, v SourceVendor, opts ...zap.Option) adapters.Source {
	t.Helper()
	cfg, err := adapters.DecodeConfig(s.h.Def.Config, yml)
	if err != nil {
		t.Fatalf("DecodeConfig(vendor config): %v\n%s", err, yml)
	}
	src, err := s.h.Def.Open(cfg, newEnv(t, v, opts...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeIfCloser(t, src) })
	return src
}

// errDeliver is the transient failure the kit's deliver returns on purpose.
var errDeliver = errors.New("adapterstest: deliver fails on purpose")

// recorder is the kit's DeliverFunc. It identifies messages by body and
// fails the attempts that failOn selects.
type recorder struct {
	key      func(body []byte) string // how messages are told apart (sourceSuite.key)
	failOn   func(m knutpunkt.Message, attempt int) bool
	v        SourceVendor
	t        testing.TB
	snapshot bool // Features.Snapshot: v is an Unpacker, Acked is not called

	mu          sync.Mutex
	attempts    map[string]int
	snapTries   map[string]int      // Features.Snapshot: attempts per whole snapshot body
	externalIDs map[string][]string // Features.Snapshot: external-id of each attempt per emitted body
	last        map[string]knutpunkt.Message
	successes   []string // bodies, in the order deliver returned nil
	ackedEarly  bool     // the vendor had more acks than successes at a call
	successSeen int
}

func (s sourceSuite) newRecorder(t testing.TB, v SourceVendor, failOn func(m knutpunkt.Message, attempt int) bool) *recorder {
	r := &recorder{key: s.key, v: v, t: t, failOn: failOn, attempts: map[string]int{}, last: map[string]knutpunkt.Message{},
		snapshot: s.h.Features.Snapshot, snapTries: map[string]int{}, externalIDs: map[string][]string{}}
	if _, ok := v.(Unpacker); r.snapshot && !ok {
		t.Fatalf("Features.Snapshot is set but the vendor %T is not an adapterstest.Unpacker", v)
	}
	return r
}

// key is a body as the suite compares it: as it is, or trimmed when the
// vendor frames messages (Features.Framed).
func (s sourceSuite) key(body []byte) string {
	if s.h.Features.Framed {
		return string(bytes.TrimSpace(body))
	}
	return string(body)
}

func (r *recorder) deliver(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
	if r.snapshot {
		return r.deliverSnapshot(m)
	}
	acked := r.v.Acked()
	r.mu.Lock()
	defer r.mu.Unlock()
	if acked > r.successSeen {
		r.ackedEarly = true
	}
	body := r.key(m.Body)
	r.attempts[body]++
	r.last[body] = m.Clone()
	if r.failOn != nil && r.failOn(m, r.attempts[body]) {
		return adapters.Receipt{}, errDeliver
	}
	r.successes = append(r.successes, body)
	r.successSeen++
	return adapters.Receipt{ID: m.ID}, nil
}

// deliverSnapshot is deliver for Features.Snapshot: the attempt failOn
// sees is the whole snapshot's, and each emitted body the snapshot carries
// counts an attempt and, on success, a delivery.
func (r *recorder) deliverSnapshot(m knutpunkt.Message) (adapters.Receipt, error) {
	bodies, err := r.v.(Unpacker).Unpack(m)
	if err != nil {
		r.t.Errorf("Unpack(delivered snapshot): %v", err)
		return adapters.Receipt{}, errDeliver
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapTries[string(m.Body)]++
	keys := make([]string, len(bodies))
	for i, b := range bodies {
		keys[i] = r.key(b)
		r.attempts[keys[i]]++
		r.last[keys[i]] = m.Clone()
		r.externalIDs[keys[i]] = append(r.externalIDs[keys[i]], m.Headers[knutpunkt.HeaderExternalID])
	}
	if r.failOn != nil && r.failOn(m, r.snapTries[string(m.Body)]) {
		return adapters.Receipt{}, errDeliver
	}
	r.successes = append(r.successes, keys...)
	r.successSeen++
	return adapters.Receipt{ID: m.ID}, nil
}

// acked reports whether m counts as acknowledged: the vendor saw n acks, or
// (Features.Snapshot) a snapshot carrying m was delivered.
func (r *recorder) acked(m knutpunkt.Message, n int) bool {
	if !r.snapshot {
		return r.v.Acked() == n
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.successes, r.key(m.Body))
}

func (r *recorder) attemptsOf(m knutpunkt.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[r.key(m.Body)]
}

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.successes...)
}

// receiving is a Receive running in the background.
type receiving struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startReceive(t *testing.T, src adapters.Source, deliver adapters.DeliverFunc) *receiving {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &receiving{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := src.Receive(ctx, deliver)
		if ctx.Err() == nil {
			t.Errorf("Receive returned before its ctx was cancelled: %v", err)
		}
		r.done <- err
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Receive's ctx and waits (at most prompt) for it to return
// nil or ctx.Err().
func (r *receiving) stop(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				t.Errorf("Receive after cancel = %v, want nil or context.Canceled", r.err)
			}
		case <-time.After(prompt):
			t.Errorf("Receive did not return within %v of its ctx being cancelled", prompt)
		}
	})
	return r.err
}

func (s sourceSuite) lazyConnect(t *testing.T) {
	if !s.h.Features.LazyConnect {
		t.Skip("exempt: Features.LazyConnect is false")
	}
	yml, v := s.h.Vendor(t)
	v.Down()
	s.openWith(t, yml, v)
}

func (s sourceSuite) delivery(t *testing.T) {
	src, v := s.open(t)
	rec := s.newRecorder(t, v, func(_ knutpunkt.Message, attempt int) bool { return attempt == 1 })
	startReceive(t, src, rec.deliver)
	m := testMessage(newPrefix(), 0)
	if err := v.Emit(t.Context(), m.Clone()); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	eventually(t, "the message to be redelivered after a deliver error", func() bool { return rec.attemptsOf(m) >= 2 })
	if s.h.Features.Snapshot {
		eventually(t, "a snapshot carrying the message to be delivered", func() bool { return rec.acked(m, 1) })
	} else {
		eventually(t, "the vendor to see exactly one ack and nothing pending", func() bool { return v.Acked() == 1 && v.Pending() == 0 })
	}
	time.Sleep(quiet)
	if n := rec.attemptsOf(m); n != 2 {
		t.Errorf("message delivered %d times, want 2 (one failure, one success)", n)
	}
	if !s.h.Features.Snapshot {
		if n := v.Acked(); n != 1 {
			t.Errorf("vendor saw %d acks, want exactly 1", n)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ackedEarly {
		t.Error("the vendor was acked before deliver returned nil")
	}
	if s.h.Features.Snapshot {
		ids := rec.externalIDs[rec.key(m.Body)]
		if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
			t.Errorf("external-id of the failed and the redelivered snapshot = %q, want the same, not empty", ids)
		}
		return
	}
	checkHeaders(t, s.h.Features, "delivered", m, rec.last[rec.key(m.Body)])
}

func (s sourceSuite) cancel(t *testing.T) {
	yml, v := s.h.Vendor(t)
	before := goleak.IgnoreCurrent()
	src := s.openWith(t, yml, v)
	rec := s.newRecorder(t, v, nil)
	r := startReceive(t, src, rec.deliver)
	m := testMessage(newPrefix(), 0)
	if err := v.Emit(t.Context(), m); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	eventually(t, "the ack", func() bool { return rec.acked(m, 1) })
	start := time.Now()
	r.stop(t)
	if d := time.Since(start); d > prompt {
		t.Errorf("Receive took %v to return after cancel, want < %v", d, prompt)
	}
	closeIfCloser(t, src)
	goleak.VerifyNone(t, before)
}

func (s sourceSuite) check(t *testing.T) {
	if !s.h.Features.Check {
		t.Skip("exempt: Features.Check is false")
	}
	src, v := s.open(t)
	c, ok := src.(adapters.Checker)
	if !ok {
		t.Fatalf("Features.Check is set but %T is not an adapters.Checker", src)
	}
	testCheck(t, c, v)
}

func (s sourceSuite) close(t *testing.T) {
	if s.h.Features.NoClose {
		t.Skip("exempt: Features.NoClose")
	}
	src, v := s.open(t)
	c, ok := src.(interface{ Close() error })
	if !ok {
		t.Fatalf("%T is not an io.Closer; set Features.NoClose if it holds nothing", src)
	}
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	done := make(chan error, 1)
	rec := s.newRecorder(t, v, nil)
	go func() { done <- src.Receive(t.Context(), rec.deliver) }()
	select {
	case err := <-done:
		if !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("Receive after Close = %v, want ErrClosed", err)
		}
	case <-time.After(prompt):
		t.Fatalf("Receive after Close did not return within %v", prompt)
	}
}

func (s sourceSuite) secrets(t *testing.T) {
	logs := newLogCapture()
	yml, v := s.h.Vendor(t)
	src := s.openWith(t, yml, v, logs.option())
	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	rec := s.newRecorder(t, v, func(_ knutpunkt.Message, attempt int) bool { return attempt == 1 })
	r := startReceive(t, src, rec.deliver)
	m := testMessage(newPrefix(), 0)
	if err := v.Emit(t.Context(), m); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	eventually(t, "the ack", func() bool { return rec.acked(m, 1) })
	v.Down()
	if c, ok := src.(adapters.Checker); ok {
		record(c.Check(t.Context()))
	}
	time.Sleep(quiet) // let a polling source meet the outage and log it
	v.Up()
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		record(err)
	}
	if c, ok := src.(interface{ Close() error }); ok {
		record(c.Close())
	}
	checkNoSecrets(t, v, logs, errs)
}

func (s sourceSuite) ordered(t *testing.T) {
	if !s.h.Features.Ordered {
		t.Skip("exempt: Features.Ordered is false")
	}
	src, v := s.open(t)
	prefix := newPrefix()
	const n = 10
	var want []string
	for i := range n {
		m := testMessage(prefix, i)
		want = append(want, s.key(m.Body))
		if err := v.Emit(t.Context(), m); err != nil {
			t.Fatalf("Emit %d: %v", i, err)
		}
	}
	// A failure in the middle must not let a later message overtake.
	third := s.key(testMessage(prefix, 3).Body)
	rec := s.newRecorder(t, v, func(m knutpunkt.Message, attempt int) bool { return s.key(m.Body) == third && attempt == 1 })
	startReceive(t, src, rec.deliver)
	eventually(t, "every message to be delivered", func() bool { return len(rec.delivered()) >= n })
	if diff := cmp.Diff(want, rec.delivered()); diff != "" {
		t.Errorf("delivery order mismatch (-emitted +delivered):\n%s", diff)
	}
}
