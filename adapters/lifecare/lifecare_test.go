package lifecare_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/sftp/sftptest"
)

// The case system's bearer token for receipts.
const (
	tokenRef = adapters.Secret("env:LIFECARE_TOKEN")
	token    = "lifecare-token-91c3e7"
	sftpRef  = adapters.Secret("env:LIFECARE_SFTP_PASSWORD")
)

func newCaseSystem(t testing.TB, opts lifecaresim.Options) *lifecaresim.CaseSystem {
	t.Helper()
	cs, err := lifecaresim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// pusher is the case system pushing to the hub's ingress through its
// outbox (ordered, retried until 202).
type pusher struct {
	cs      *lifecaresim.CaseSystem
	ingress *adapterstest.Ingress
	url     string
}

func newPusher(t testing.TB) *pusher {
	// No keep-alive: the kit's goroutine-leak check must not see idle
	// connections of the case system.
	cs := newCaseSystem(t, lifecaresim.Options{AcceptAny: true, HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	return &pusher{cs: cs, ingress: adapterstest.NewIngress(t, "SE2321000016-ABCD")}
}

func (p *pusher) Env(env adapters.Env) adapters.Env {
	env.Ingress = p.ingress
	p.url = p.ingress.URL(env.Name)
	return env
}

func (p *pusher) Emit(_ context.Context, m knutpunkt.Message) error {
	p.cs.Queue(p.url, m.Body, http.Header{
		"Content-Type":            {m.Header(knutpunkt.HeaderContentType)},
		kphttp.HeaderSourceSystem: {m.Header(knutpunkt.HeaderSourceSystem)},
		kphttp.HeaderExternalID:   {m.Header(knutpunkt.HeaderExternalID)},
	})
	return nil
}

func (p *pusher) Acked() int   { return p.cs.Sent() }
func (p *pusher) Pending() int { return p.cs.Pending() }
func (p *pusher) Down()        { p.cs.Down() }
func (p *pusher) Up()          { p.cs.Up() }

// receiver is the case system receiving receipts.
type receiver struct{ cs *lifecaresim.CaseSystem }

func newReceiver(t testing.TB) *receiver {
	// AcceptAny: the kit sends its own JSON test bodies, not receipts.
	return &receiver{cs: newCaseSystem(t, lifecaresim.Options{AcceptAny: true, BearerToken: token})}
}

func (r *receiver) Secrets() adapters.MapSecrets { return adapters.MapSecrets{tokenRef: token} }
func (r *receiver) Down()                        { r.cs.Down() }
func (r *receiver) Up()                          { r.cs.Up() }

func (r *receiver) Reject(rej adapterstest.Rejection) {
	r.cs.SetFailure(map[adapterstest.Rejection]lifecaresim.Failure{
		adapterstest.RejectFinal:     lifecaresim.Reject,
		adapterstest.RejectRetryable: lifecaresim.Unavailable,
		adapterstest.Stall:           lifecaresim.Stall,
	}[rej])
}

func (r *receiver) Received() []knutpunkt.Message {
	var out []knutpunkt.Message
	for _, rc := range r.cs.Receipts() {
		out = append(out, knutpunkt.Message{ID: rc.IdempotencyKey, Body: rc.Body, Headers: map[string]string{
			"idempotency-key":             rc.IdempotencyKey,
			knutpunkt.HeaderContentType:   rc.ContentType,
			knutpunkt.HeaderSourceSystem:  rc.Header.Get(kphttp.HeaderSourceSystem),
			knutpunkt.HeaderExternalID:    rc.Header.Get(kphttp.HeaderExternalID),
			knutpunkt.HeaderCorrelationID: rc.Header.Get(kphttp.HeaderCorrelationID),
		}})
	}
	return out
}

// dropDir is a drop directory shared by the case system and the hub,
// local or served by sftptest. An outage renames it away.
type dropDir struct {
	t   testing.TB
	dir string
	srv *sftptest.Server // nil for the file transport
}

func newDropDir(t testing.TB, overSFTP bool) *dropDir {
	root := t.TempDir()
	d := &dropDir{t: t, dir: filepath.Join(root, "drop")}
	if err := os.Mkdir(d.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if overSFTP {
		d.srv = sftptest.NewServer(t, root)
	}
	return d
}

// config is the transport part of the adapter's config.
func (d *dropDir) config() string {
	if d.srv == nil {
		return fmt.Sprintf("transport: file\ndir: %s\n", d.dir)
	}
	host, port, _ := net.SplitHostPort(d.srv.Addr)
	return fmt.Sprintf("transport: sftp\nhost: %s\nport: %s\nuser: %s\npassword: %s\nhost_key: %s\ntimeout: 5s\ndir: drop\n",
		host, port, d.srv.User, sftpRef, d.srv.Fingerprint())
}

func (d *dropDir) Secrets() adapters.MapSecrets {
	if d.srv == nil {
		return nil
	}
	return adapters.MapSecrets{sftpRef: d.srv.Password}
}

func (d *dropDir) Down() {
	if d.srv != nil {
		d.srv.Down()
		return
	}
	_ = os.Rename(d.dir, d.dir+".away")
}

func (d *dropDir) Up() {
	if d.srv != nil {
		d.srv.Up()
		return
	}
	_ = os.Rename(d.dir+".away", d.dir)
}

func (d *dropDir) Emit(_ context.Context, m knutpunkt.Message) error {
	return lifecaresim.Drop(d.dir, m.ID+".xml", m.Body)
}

func (d *dropDir) Acked() int   { return len(d.files("done")) }
func (d *dropDir) Pending() int { return len(d.files(".")) + len(d.files(".processing")) }

func (d *dropDir) files(sub string) []os.FileInfo {
	entries, _ := os.ReadDir(filepath.Join(d.dir, sub))
	var out []os.FileInfo
	for _, e := range entries {
		fi, err := e.Info()
		if err == nil && fi.Mode().IsRegular() && !strings.HasPrefix(fi.Name(), ".") {
			out = append(out, fi)
		}
	}
	slices.SortStableFunc(out, func(a, b os.FileInfo) int { return a.ModTime().Compare(b.ModTime()) })
	return out
}

func (d *dropDir) Received() []knutpunkt.Message {
	var out []knutpunkt.Message
	for _, fi := range d.files(".") {
		body, err := os.ReadFile(filepath.Join(d.dir, fi.Name()))
		if err != nil {
			d.t.Errorf("read received file: %v", err)
		}
		out = append(out, knutpunkt.Message{ID: fi.Name(), Body: body})
	}
	return out
}

// Reject: a directory has no final rejection and cannot stall; a
// retryable failure is the directory going away.
func (d *dropDir) Reject(r adapterstest.Rejection) {
	if r != adapterstest.RejectRetryable {
		d.t.Fatalf("drop directory cannot simulate rejection %d", r)
	}
	d.Down()
}

func TestSourceHTTP(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: lifecare.SourceDef,
		// Requests are served concurrently: no ordering promise. Nothing
		// to probe: the hub's own server is the endpoint. The kit's test
		// bodies are JSON from "adapterstest", so the config accepts that.
		Features: adapterstest.Features{LazyConnect: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			return []byte("transport: http\nmax_body_size: 1MiB\nretry_after: 1s\ncontent_types: [application/json]\nsource_system: adapterstest\n"), newPusher(t)
		},
	})
}

func TestSourceFile(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: lifecare.SourceDef,
		// Files carry no headers.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			d := newDropDir(t, false)
			return []byte(d.config() + "poll_interval: 20ms\nsettle_time: 0s\n"), d
		},
	})
}

func TestSourceSFTP(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def:      lifecare.SourceDef,
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			d := newDropDir(t, true)
			return []byte(d.config() + "poll_interval: 20ms\nsettle_time: 0s\n"), d
		},
	})
}

func TestSinkHTTP(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: lifecare.SinkDef,
		// The case system deduplicates by Idempotency-Key.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, IdempotencyHeader: "idempotency-key"},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			r := newReceiver(t)
			return fmt.Appendf(nil, "transport: http\nurl: %s\nbearer_token: %s\ntimeout: 5s\n", r.cs.ReceiptURL(), tokenRef), r
		},
	})
}

func TestSinkFile(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: lifecare.SinkDef,
		// Files carry no headers; a directory never rejects for good and
		// cannot hang. The sink itself is idempotent by file name.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true, NoFinalRejection: true, NoStall: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			d := newDropDir(t, false)
			return []byte(d.config()), d
		},
	})
}
