package ldap

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot"
)

// Source syncs a directory's persons as snapshots. See the package doc.
type Source struct {
	cfg      SourceConfig
	password string
	tls      *tls.Config // nil for plain ldap:// without start_tls
	log      *zap.Logger
	attrs    []string
	closed   chan struct{}
	once     sync.Once
	poller   *snapshot.Poller
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns a source for a validated cfg. It resolves the password
// and reads ca_file but does not connect.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	pw, err := env.Secrets.Resolve(cfg.Password)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	var tc *tls.Config
	if u.Scheme == "ldaps" || cfg.StartTLS {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
	}
	s := &Source{
		cfg:      cfg,
		password: pw,
		tls:      tc,
		log:      env.Logger.With(zap.String("directory", cfg.Directory), zap.String("url", cfg.URL)),
		attrs:    cfg.attributes(),
		closed:   make(chan struct{}),
	}
	s.poller = &snapshot.Poller{Source: cfg.Directory, Prefix: "ldap-", Interval: cfg.PollInterval, Log: s.log,
		Headers: map[string]string{HeaderEmploymentEndAttribute: cfg.EmploymentEndAttribute},
		Take: func(ctx context.Context) (snapshot.Snapshot, error) {
			snap, err := s.Snapshot(ctx)
			return snapshot.Snapshot{Body: snap.Body, Count: snap.Count, Digest: snap.Digest}, err
		}}
	return s, nil
}

// Receive implements adapters.Source: a sync at once and then every
// poll_interval (snapshot.Poller). An unchanged snapshot is not delivered
// again.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	return s.poller.Run(ctx, s.closed, deliver)
}

// Snapshot is one search's result, encoded.
type Snapshot struct {
	Body   []byte // JSON lines, sorted by DN
	Count  int    // entries
	Digest string // SHA-256 of Body, hex
}

// Snapshot binds and searches once, returning every entry or an error:
// never part of the directory.
func (s *Source) Snapshot(ctx context.Context) (Snapshot, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	enc := newEncoder(s.attrs)
	if err := s.search(conn, enc); err != nil {
		if ctx.Err() != nil {
			return Snapshot{}, ctx.Err()
		}
		return Snapshot{}, err
	}
	body, err := enc.body()
	if err != nil {
		return Snapshot{}, err
	}
	sum := sha256.Sum256(body)
	return Snapshot{Body: body, Count: len(enc.lines), Digest: hex.EncodeToString(sum[:])}, nil
}

// connect dials, upgrades with StartTLS if configured and binds.
func (s *Source) connect(ctx context.Context) (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	opts := []goldap.DialOpt{goldap.DialWithDialer(d)}
	if s.tls != nil && !s.cfg.StartTLS {
		opts = append(opts, goldap.DialWithTLSConfig(s.tls))
	}
	conn, err := goldap.DialURL(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	conn.SetTimeout(s.cfg.Timeout)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.cfg.StartTLS {
		if err := conn.StartTLS(s.tls); err != nil {
			conn.Close()
			return nil, fmt.Errorf("start_tls: %w", err)
		}
	}
	if err := conn.Bind(s.cfg.BindDN, s.password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind (bind_dn, password): %w", err)
	}
	if ctx.Err() != nil {
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, nil
}

// ErrTruncated is wrapped by the error of a search whose answer is not the
// whole directory.
var ErrTruncated = errors.New("the directory's answer is incomplete; no snapshot delivered")

// refusals are the LDAP results that refuse the search as asked, rather
// than stop its answer short.
var refusals = map[uint16]bool{
	goldap.LDAPResultNoSuchObject:             true,
	goldap.LDAPResultInsufficientAccessRights: true,
	goldap.LDAPResultInvalidDNSyntax:          true,
	goldap.LDAPResultUnwillingToPerform:       true,
	goldap.LDAPResultProtocolError:            true,
	goldap.LDAPResultOperationsError:          true,
	goldap.LDAPResultInappropriateMatching:    true,
	goldap.LDAPResultUndefinedAttributeType:   true,
}

// search runs the paged subtree search, page by page, refusing anything
// short of the complete answer.
func (s *Source) search(conn *goldap.Conn, enc *encoder) error {
	paging := goldap.NewControlPaging(uint32(s.cfg.PageSize))
	req := goldap.NewSearchRequest(s.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, s.cfg.Filter, s.attrs, []goldap.Control{paging})
	for page := 1; ; page++ {
		res, err := conn.Search(req)
		if err != nil {
			var le *goldap.Error
			if errors.As(err, &le) && refusals[le.ResultCode] {
				return fmt.Errorf("search %s, page %d: %w", s.cfg.BaseDN, page, err)
			}
			// A limit, a referral, a paging error, a connection lost: the
			// answer stopped short.
			return fmt.Errorf("search %s, page %d after %d entries: %w: %w", s.cfg.BaseDN, page, len(enc.lines), ErrTruncated, err)
		}
		if len(res.Referrals) > 0 {
			return fmt.Errorf("search %s: %d referrals (search continuation references), which the source does not follow: %w",
				s.cfg.BaseDN, len(res.Referrals), ErrTruncated)
		}
		for _, e := range res.Entries {
			if err := enc.add(e); err != nil {
				return err
			}
		}
		ctl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if ctl == nil || len(ctl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctl.Cookie)
	}
}

// Check implements adapters.Checker: the server answers, the bind succeeds
// and base_dn exists.
func (s *Source) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, err = conn.Search(goldap.NewSearchRequest(s.cfg.BaseDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return fmt.Errorf("base_dn %s: %w", s.cfg.BaseDN, err)
	}
	return nil
}

// Close stops a running Receive with ErrClosed. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
