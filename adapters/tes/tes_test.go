package tes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/sftp/sftptest"
	"github.com/knutpunkt/knutpunkt/adapters/tes"
)

const sftpRef = adapters.Secret("env:TES_SFTP_PASSWORD")

// postSync is the registration system pushing m's body as the one visit
// of a sync.
func postSync(ctx context.Context, url string, m knutpunkt.Message) bool {
	body, _ := json.Marshal(map[string]any{"syncId": m.ID, "visits": []json.RawMessage{m.Body}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusAccepted
}

func TestSourcePush(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: tes.SourceDef,
		// Requests are served concurrently: no ordering promise. A sync
		// carries visits, not the sender's headers: each visit's are the
		// adapter's (source system, its key, the sync as correlation).
		Features: adapterstest.Features{LazyConnect: true, NoHeaders: true, Framed: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			return []byte("transport: http\nmax_body_size: 1MiB\nretry_after: 1s\n"),
				adapterstest.NewPusher(t, "SE2321000016-TES1", postSync)
		},
	})
}

func TestSourceFile(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def:      tes.SourceDef,
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true, Framed: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			d := newDropDir(t, false)
			return []byte(d.config() + "pattern: '*.jsonl'\npoll_interval: 20ms\nsettle_time: 0s\n"), d
		},
	})
}

func TestSourceSFTP(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def:      tes.SourceDef,
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true, Framed: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			d := newDropDir(t, true)
			return []byte(d.config() + "pattern: '*.jsonl'\npoll_interval: 20ms\nsettle_time: 0s\n"), d
		},
	})
}

// dropDir is the export's drop directory, local or served by sftptest. An
// outage renames it away.
type dropDir struct {
	t   testing.TB
	dir string
	srv *sftptest.Server // nil for the file transport
	seq int
	mu  sync.Mutex
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

// Emit writes m's body as a one-visit export file, named in order.
func (d *dropDir) Emit(_ context.Context, m knutpunkt.Message) error {
	d.mu.Lock()
	d.seq++
	name := fmt.Sprintf("tes-export-%06d.jsonl", d.seq)
	d.mu.Unlock()
	return drop(d.dir, name, append(slices.Clone(m.Body), '\n'))
}

// drop writes a file the way an exporter should: aside, then renamed in.
func drop(dir, name string, body []byte) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, body, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

func (d *dropDir) Acked() int   { return len(d.files("done")) }
func (d *dropDir) Pending() int { return len(d.files(".")) + len(d.files(".processing")) }

func (d *dropDir) files(sub string) []string {
	entries, _ := os.ReadDir(filepath.Join(d.dir, sub))
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}
