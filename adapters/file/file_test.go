package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/file"
)

// dirVendor is a vendor that shares a directory with the adapter. An
// outage renames the directory away.
type dirVendor struct {
	t   testing.TB
	dir string
}

func newDirVendor(t testing.TB) *dirVendor {
	v := &dirVendor{t: t, dir: filepath.Join(t.TempDir(), "drop")}
	if err := os.Mkdir(v.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *dirVendor) Down() { _ = os.Rename(v.dir, v.dir+".away") }
func (v *dirVendor) Up()   { _ = os.Rename(v.dir+".away", v.dir) }

// Emit writes m the way a careful vendor does: under a temporary name,
// then renamed into place.
func (v *dirVendor) Emit(_ context.Context, m knutpunkt.Message) error {
	tmp := filepath.Join(v.dir, m.ID+".json.tmp")
	if err := os.WriteFile(tmp, m.Body, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(v.dir, m.ID+".json"))
}

func (v *dirVendor) Acked() int { return len(v.files("done")) }

func (v *dirVendor) Pending() int { return len(v.files(".")) + len(v.files(".processing")) }

// files lists the visible regular files of a subdirectory, oldest first.
func (v *dirVendor) files(sub string) []os.FileInfo {
	entries, _ := os.ReadDir(filepath.Join(v.dir, sub))
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

func (v *dirVendor) Received() []knutpunkt.Message {
	var out []knutpunkt.Message
	for _, fi := range v.files(".") {
		body, err := os.ReadFile(filepath.Join(v.dir, fi.Name()))
		if err != nil {
			v.t.Errorf("read received file: %v", err)
		}
		out = append(out, knutpunkt.Message{ID: fi.Name(), Body: body})
	}
	return out
}

// Reject: a directory has no final rejection and cannot stall; a
// retryable failure is the directory going away.
func (v *dirVendor) Reject(r adapterstest.Rejection) {
	if r != adapterstest.RejectRetryable {
		v.t.Fatalf("file vendor cannot simulate rejection %d", r)
	}
	v.Down()
}

func TestSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: file.SourceDef,
		// Files carry no headers.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			v := newDirVendor(t)
			return fmt.Appendf(nil, "dir: %s\npoll_interval: 20ms\nsettle_time: 0s\n", v.dir), v
		},
	})
}

func TestSink(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: file.SinkDef,
		// Files carry no headers; a directory never rejects for good and
		// cannot hang. The sink itself is idempotent by file name.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true, NoFinalRejection: true, NoStall: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			v := newDirVendor(t)
			return fmt.Appendf(nil, "dir: %s\n", v.dir), v
		},
	})
}

// receiveOnce runs a source until cond holds (or 5s pass), lets it poll
// a few more times, then stops it.
func receiveOnce(t *testing.T, yml string, deliver adapters.DeliverFunc, cond func() bool) {
	t.Helper()
	cfg, err := adapters.DecodeConfig(file.SourceDef.Config, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	src, err := file.SourceDef.Open(cfg, adapters.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Receive(ctx, deliver) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a few more polls, to catch extra deliveries
	cancel()
	<-done
}

func TestSourceFiles(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		files     map[string]string // relative path -> content; "old:" prefix = mtime an hour ago
		deliver   error
		wantNames []string // filename headers delivered
		wantLeft  []string // files under dir afterwards, relative, sorted
	}{
		{
			name:      "ignores partial files and unsettled files",
			config:    "settle_time: 10m",
			files:     map[string]string{"a.xml": "old:A", "b.xml.tmp": "old:B", ".c.xml": "old:C", "d.xml": "D", "e.txt": "old:E"},
			wantNames: []string{"a.xml"},
			wantLeft:  []string{".c.xml", "b.xml.tmp", "d.xml", "done/a.xml", "e.txt"},
		},
		{
			name:      "delete after delivery",
			config:    "after_delivery: delete",
			files:     map[string]string{"a.xml": "A"},
			wantNames: []string{"a.xml"},
		},
		{
			name:      "permanent refusal goes to failed_dir with reason",
			files:     map[string]string{"a.xml": "A"},
			deliver:   adapters.Permanent(errors.New("not a lifecare order")),
			wantNames: []string{"a.xml"},
			wantLeft:  []string{"failed/a.xml", "failed/a.xml.error"},
		},
		{
			name:      "files left in processing are recovered",
			files:     map[string]string{".processing/a.xml": "A"},
			wantNames: []string{"a.xml"},
			wantLeft:  []string{"done/a.xml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
					t.Fatal(err)
				}
				body, old := strings.CutPrefix(content, "old:")
				if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
					t.Fatal(err)
				}
				if old {
					hour := time.Now().Add(-time.Hour)
					if err := os.Chtimes(p, hour, hour); err != nil {
						t.Fatal(err)
					}
				}
			}
			var (
				mu  sync.Mutex
				got []string
			)
			deliver := func(_ context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, m.Header(knutpunkt.HeaderFilename))
				return adapters.Receipt{ID: m.ID}, tt.deliver
			}
			yml := fmt.Sprintf("dir: %s\npattern: '*.xml*'\npoll_interval: 20ms\n%s\n", dir, tt.config)
			if !strings.Contains(tt.config, "settle_time") {
				yml += "settle_time: 0s\n"
			}
			receiveOnce(t, yml, deliver, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) >= len(tt.wantNames)
			})
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantNames, got); diff != "" {
				t.Errorf("delivered files mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLeft, listFiles(t, dir)); diff != "" {
				t.Errorf("files left mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestSinkFilename(t *testing.T) {
	tests := []struct {
		name, template string
		msg            knutpunkt.Message
		want           string // file written; "" when Send must fail permanently
	}{
		{"id with extension", "{{.ID}}.xml", knutpunkt.Message{ID: "42"}, "42.xml"},
		{"header", `{{index .Headers "external-id"}}.json`, knutpunkt.Message{ID: "1", Headers: map[string]string{"external-id": "ORD-7"}}, "ORD-7.json"},
		{"missing header gives hidden name", `{{index .Headers "external-id"}}.json`, knutpunkt.Message{ID: "1"}, ""},
		{"path separator", "{{.ID}}", knutpunkt.Message{ID: "../etc/passwd"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := adapters.DecodeConfig(file.SinkDef.Config, fmt.Appendf(nil, "dir: %s\nfilename: '%s'\n", dir, tt.template))
			if err != nil {
				t.Fatal(err)
			}
			sink, err := file.SinkDef.Open(cfg, adapters.Env{})
			if err != nil {
				t.Fatal(err)
			}
			err = sink.Send(t.Context(), tt.msg)
			if tt.want == "" {
				if !adapters.IsPermanent(err) {
					t.Errorf("Send = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if diff := cmp.Diff([]string{tt.want}, listFiles(t, dir)); diff != "" {
				t.Errorf("files mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
