package sftp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/adapterstest"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
	"github.com/knutpunkt/knutpunkt/adapters/sftp/sftptest"
)

const passwordRef = adapters.Secret("env:SFTP_PASSWORD")

// vendor is an SFTP server whose drop directory the test reads and writes
// directly on disk.
type vendor struct {
	t   testing.TB
	srv *sftptest.Server
	dir string // local path of the remote "drop" directory
}

func newVendor(t testing.TB) *vendor {
	root := t.TempDir()
	v := &vendor{t: t, srv: sftptest.NewServer(t, root), dir: filepath.Join(root, "drop")}
	if err := os.Mkdir(v.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return v
}

// config points an adapter at the vendor; extra is appended.
func (v *vendor) config(extra string) []byte {
	host, port, _ := net.SplitHostPort(v.srv.Addr)
	return fmt.Appendf(nil, "host: %s\nport: %s\nuser: %s\npassword: %s\nhost_key: %s\ntimeout: 5s\ndir: drop\n%s",
		host, port, v.srv.User, passwordRef, v.srv.Fingerprint(), extra)
}

func (v *vendor) Secrets() adapters.MapSecrets {
	return adapters.MapSecrets{passwordRef: v.srv.Password}
}
func (v *vendor) Down() { v.srv.Down() }
func (v *vendor) Up()   { v.srv.Up() }

func (v *vendor) Emit(_ context.Context, m knutpunkt.Message) error {
	tmp := filepath.Join(v.dir, m.ID+".json.part")
	if err := os.WriteFile(tmp, m.Body, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(v.dir, m.ID+".json"))
}

func (v *vendor) Acked() int   { return len(v.files("done")) }
func (v *vendor) Pending() int { return len(v.files(".")) + len(v.files(".processing")) }

func (v *vendor) files(sub string) []os.FileInfo {
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

func (v *vendor) Received() []knutpunkt.Message {
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

// Reject: SFTP has no final rejection; a retryable failure is an outage.
func (v *vendor) Reject(r adapterstest.Rejection) {
	switch r {
	case adapterstest.RejectRetryable:
		v.srv.Down()
	case adapterstest.Stall:
		v.srv.Stall()
	default:
		v.t.Fatalf("sftp vendor cannot simulate rejection %d", r)
	}
}

func TestSource(t *testing.T) {
	adapterstest.RunSource(t, adapterstest.SourceHarness{
		Def: sftp.SourceDef,
		// Files carry no headers.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SourceVendor) {
			v := newVendor(t)
			return v.config("poll_interval: 20ms\nsettle_time: 0s\n"), v
		},
	})
}

func TestSink(t *testing.T) {
	adapterstest.RunSink(t, adapterstest.SinkHarness{
		Def: sftp.SinkDef,
		// Files carry no headers; SFTP has no final rejection. The sink is
		// idempotent by file name itself.
		Features: adapterstest.Features{Ordered: true, Check: true, LazyConnect: true, NoHeaders: true, NoFinalRejection: true},
		Vendor: func(t testing.TB) ([]byte, adapterstest.SinkVendor) {
			v := newVendor(t)
			return v.config(""), v
		},
	})
}

// TestConnection covers authentication and host key pinning.
func TestConnection(t *testing.T) {
	v := newVendor(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	v.srv.AuthorizeKey(signer.PublicKey())
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := ssh.NewPublicKey(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(v.srv.Addr)
	secrets := adapters.MapSecrets{
		passwordRef:             v.srv.Password,
		"env:WRONG":             "not-the-password",
		"file:/run/secrets/key": string(pem.EncodeToMemory(block)),
	}
	tests := []struct {
		name, auth, hostKey string
		wantErr             string
	}{
		{"password and fingerprint", "password: " + string(passwordRef), v.srv.Fingerprint(), ""},
		{"private key and known_hosts line", "private_key: file:/run/secrets/key", v.srv.KnownHostsLine(), ""},
		{"wrong password", "password: env:WRONG", v.srv.Fingerprint(), "unable to authenticate"},
		{"other host key", "password: " + string(passwordRef), ssh.FingerprintSHA256(otherPub), "does not match host_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := fmt.Sprintf("host: %s\nport: %s\nuser: %s\n%s\nhost_key: '%s'\ndir: drop\n", host, port, v.srv.User, tt.auth, tt.hostKey)
			cfg, err := adapters.DecodeConfig(sftp.SinkDef.Config, []byte(yml))
			if err != nil {
				t.Fatal(err)
			}
			sink, err := sftp.SinkDef.Open(cfg, adapters.Env{Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.(*sftp.Sink).Close()
			err = sink.(adapters.Checker).Check(t.Context())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Check = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
