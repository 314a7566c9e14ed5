// Package sftptest provides an SFTP server on loopback for tests, in the
// manner of net/http/httptest: a real SSH and SFTP protocol server
// (golang.org/x/crypto/ssh and github.com/pkg/sftp) on a TCP socket, serving
// a directory. Down, Up and Stall simulate outages.
package sftptest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Server is an SFTP server for one test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// User and Password are the accepted password credentials.
	User, Password string
	// Root is the directory served: relative SFTP paths resolve against it.
	// Absolute paths are not confined; this is a test server.
	Root string

	logf   func(format string, args ...any)
	config *ssh.ServerConfig

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	keys    []ssh.PublicKey
	stalled chan struct{} // non-nil while stalled; closed on Up
	wg      sync.WaitGroup
}

// NewServer starts a server for root that stops when t ends. It accepts
// user "knut" with a random password, and the keys given to AuthorizeKey.
func NewServer(t testing.TB, root string) *Server {
	t.Helper()
	s, err := Start(root, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server for root outside a test, e.g. as the demo's SFTP
// provider; logf receives its troubles. Close stops it.
func Start(root string, logf func(format string, args ...any)) (*Server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	s := &Server{
		HostKey:  signer.PublicKey(),
		User:     "knut",
		Password: "pw-" + rand.Text(),
		Root:     root,
		logf:     logf,
		conns:    map[net.Conn]struct{}{},
	}
	s.config = &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == s.User && subtle.ConstantTimeCompare(pw, []byte(s.Password)) == 1 {
				return nil, nil
			}
			return nil, errors.New("wrong user or password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, k := range s.keys {
				if c.User() == s.User && string(k.Marshal()) == string(key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("unknown key")
		},
	}
	s.config.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = ln.Addr().String()
	s.start(ln)
	return s, nil
}

// Close stops the server and waits for its sessions to end.
func (s *Server) Close() {
	s.Down()
	s.wg.Wait()
}

// AuthorizeKey makes the server accept key for User.
func (s *Server) AuthorizeKey(key ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, key)
}

// Fingerprint returns the host key's SHA256 fingerprint, as ssh-keygen -l
// prints it ("SHA256:...").
func (s *Server) Fingerprint() string { return ssh.FingerprintSHA256(s.HostKey) }

// KnownHostsLine returns a known_hosts line for the server.
func (s *Server) KnownHostsLine() string {
	return fmt.Sprintf("%s %s", s.Addr, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey))))
}

// Down closes the listener and every connection: clients see connection
// refused until Up.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		_ = c.Close()
	}
	if s.stalled != nil {
		close(s.stalled)
		s.stalled = nil
	}
}

// Stall makes the server stop reading from every connection, open or new,
// until Up or Down: requests hang without an answer.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled == nil {
		s.stalled = make(chan struct{})
	}
}

// Up ends a stall and, after Down, listens again on Addr.
func (s *Server) Up() {
	s.mu.Lock()
	if s.stalled != nil {
		close(s.stalled)
		s.stalled = nil
	}
	listening := s.ln != nil
	s.mu.Unlock()
	if listening {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.logf("sftptest: listen again on %s: %v", s.Addr, err)
		return
	}
	s.start(ln)
}

func (s *Server) start(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() {
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					_ = c.Close()
				}()
				s.serveConn(&stallConn{Conn: c, s: s})
			})
		}
	})
}

func (s *Server) serveConn(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serveSession(ch, creqs) })
	}
}

func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
		_ = req.Reply(ok, nil)
		if !ok {
			continue
		}
		s.wg.Go(func() { ssh.DiscardRequests(reqs) })
		srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.Root))
		if err != nil {
			return
		}
		if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
			s.logf("sftptest: session ended: %v", err)
		}
		_ = srv.Close()
		return
	}
}

// stallConn blocks reads while the server is stalled.
type stallConn struct {
	net.Conn
	s *Server
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.s.mu.Lock()
	stalled := c.s.stalled
	c.s.mu.Unlock()
	if stalled != nil {
		<-stalled
	}
	return c.Conn.Read(p)
}
