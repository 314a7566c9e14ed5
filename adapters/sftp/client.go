package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// client is one lazily dialled SFTP connection, shared by the operations
// of one source or sink and redialled after it breaks. pkg/sftp takes no
// context, so every operation runs beside its ctx: if ctx ends first, the
// connection is closed to unblock the operation.
type client struct {
	conn     Connection
	addr     string
	secrets  adapters.SecretResolver
	matchKey func(ssh.PublicKey) bool

	mu   sync.Mutex
	ssh  *ssh.Client
	sftp *sftp.Client
}

func newClient(conn Connection, secrets adapters.SecretResolver) (*client, error) {
	match, err := hostKeyMatcher(conn.HostKey)
	if err != nil {
		return nil, fmt.Errorf("host_key: %w", err)
	}
	c := &client{conn: conn, addr: net.JoinHostPort(conn.Host, strconv.Itoa(conn.Port)), secrets: secrets, matchKey: match}
	// Resolve once now so that a missing secret fails Open, not the first poll.
	if _, err := c.auth(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *client) auth() (ssh.AuthMethod, error) {
	if !c.conn.Password.IsZero() {
		pw, err := c.secrets.Resolve(c.conn.Password)
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		return ssh.Password(pw), nil
	}
	pem, err := c.secrets.Resolve(c.conn.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("private_key %s: cannot parse the key", c.conn.PrivateKey)
	}
	return ssh.PublicKeys(signer), nil
}

// get returns the live connection, dialling one if needed.
func (c *client) get(ctx context.Context) (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	sshc, sftpc, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect sftp %s: %w", c.addr, err)
	}
	c.ssh, c.sftp = sshc, sftpc
	return sftpc, nil
}

func (c *client) dial(ctx context.Context) (*ssh.Client, *sftp.Client, error) {
	auth, err := c.auth() // again, so rotated secret files take effect
	if err != nil {
		return nil, nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, nil, err
	}
	// The handshake and the SFTP version exchange obey ctx too.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	sc, chans, reqs, err := ssh.NewClientConn(nc, c.addr, &ssh.ClientConfig{
		User: c.conn.User,
		Auth: []ssh.AuthMethod{auth},
		HostKeyCallback: func(host string, _ net.Addr, key ssh.PublicKey) error {
			if !c.matchKey(key) {
				return fmt.Errorf("host key %s of %s does not match host_key", ssh.FingerprintSHA256(key), host)
			}
			return nil
		},
	})
	if err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	sshc := ssh.NewClient(sc, chans, reqs)
	sftpc, err := sftp.NewClient(sshc)
	if err != nil {
		_ = sshc.Close()
		return nil, nil, fmt.Errorf("start sftp: %w", err)
	}
	if !stop() {
		_ = sftpc.Close()
		_ = sshc.Close()
		return nil, nil, ctx.Err()
	}
	return sshc, sftpc, nil
}

// drop closes the connection if it is still sc, so the next call redials.
func (c *client) drop(sc *sftp.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp == sc {
		c.closeLocked()
	}
}

func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *client) closeLocked() {
	if c.sftp != nil {
		_ = c.sftp.Close()
		_ = c.ssh.Close()
		c.sftp, c.ssh = nil, nil
	}
}

// do runs op on the connection within timeout and ctx.
func (c *client) do(ctx context.Context, op func(*sftp.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.conn.Timeout)
	defer cancel()
	sc, err := c.get(ctx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- op(sc) }()
	select {
	case err := <-done:
		if err != nil && brokenConn(err) {
			c.drop(sc)
		}
		return err
	case <-ctx.Done():
		c.drop(sc)
		<-done
		return fmt.Errorf("sftp %s: %w", c.addr, ctx.Err())
	}
}

// brokenConn reports whether err may mean the connection is unusable,
// rather than a server answer about one file.
func brokenConn(err error) bool {
	var status *sftp.StatusError
	return !errors.As(err, &status) && !errors.Is(err, fs.ErrNotExist) &&
		!errors.Is(err, fs.ErrPermission) && !errors.Is(err, fs.ErrExist)
}

// remoteFS is the server as a dropdir.FS, each call bounded by ctx and the
// configured timeout.
type remoteFS struct {
	ctx context.Context
	c   *client
}

var _ dropdir.FS = remoteFS{}

func (f remoteFS) ReadDir(dir string) (infos []fs.FileInfo, err error) {
	err = f.c.do(f.ctx, func(sc *sftp.Client) (err error) { infos, err = sc.ReadDir(dir); return err })
	return infos, err
}

func (f remoteFS) ReadFile(name string) (data []byte, err error) {
	err = f.c.do(f.ctx, func(sc *sftp.Client) error {
		file, err := sc.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		var buf bytes.Buffer
		_, err = file.WriteTo(&buf) // concurrent reads, faster than io.ReadAll
		data = buf.Bytes()
		return err
	})
	return data, err
}

func (f remoteFS) WriteFile(name string, data []byte) error {
	return f.c.do(f.ctx, func(sc *sftp.Client) error {
		file, err := sc.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return err
		}
		if _, err := file.Write(data); err != nil {
			_ = file.Close()
			return err
		}
		return file.Close()
	})
}

// Rename uses the posix-rename extension, which replaces newname; servers
// without it get remove-then-rename.
func (f remoteFS) Rename(oldname, newname string) error {
	return f.c.do(f.ctx, func(sc *sftp.Client) error {
		err := sc.PosixRename(oldname, newname)
		var status *sftp.StatusError
		if errors.As(err, &status) && status.FxCode() == sftp.ErrSSHFxOpUnsupported {
			if err := sc.Remove(newname); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return sc.Rename(oldname, newname)
		}
		return err
	})
}

func (f remoteFS) Remove(name string) error {
	return f.c.do(f.ctx, func(sc *sftp.Client) error { return sc.Remove(name) })
}

func (f remoteFS) MkdirAll(dir string) error {
	return f.c.do(f.ctx, func(sc *sftp.Client) error { return sc.MkdirAll(dir) })
}

func (f remoteFS) Stat(name string) (fi fs.FileInfo, err error) {
	err = f.c.do(f.ctx, func(sc *sftp.Client) (err error) { fi, err = sc.Stat(name); return err })
	return fi, err
}
