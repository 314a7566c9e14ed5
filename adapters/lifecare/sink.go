package lifecare

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/file"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

// Sink sends receipts (Kvittens XML) to the case system through the
// configured transport. Over http it is the http adapter's sink: one POST
// per receipt with Idempotency-Key = the message's IdempotencyKey (the
// case system deduplicates; a replayed receipt keeps the first one's key), Content-Type from the message (default application/xml),
// a bearer token and, with client_cert, a mutual TLS client certificate;
// 2xx is success, 408, 429, 5xx and network failures are transient, any
// other 4xx is permanent. Over sftp and file it writes one file per
// receipt atomically, idempotent by file name (default "{{.ID}}.xml").
// Send is safe for concurrent use.
type Sink struct {
	inner adapters.Sink
	tr    *http.Transport // the mutual TLS transport, when the sink made one
}

var (
	_ adapters.Sink    = (*Sink)(nil)
	_ adapters.Checker = (*Sink)(nil)
)

// NewSink builds the sink for a validated cfg. It resolves secrets and
// reads the certificate files, but makes no connection.
func NewSink(cfg SinkConfig, env adapters.Env) (*Sink, error) {
	env = env.WithDefaults()
	s := &Sink{}
	var err error
	switch cfg.Transport {
	case HTTP:
		if cfg.ClientCert != "" || cfg.CAFile != "" {
			if env, s.tr, err = withTLS(cfg, env); err != nil {
				return nil, fmt.Errorf("lifecare sink: %w", err)
			}
		}
		s.inner, err = kphttp.NewSink(cfg.httpSink(), env)
	case SFTP:
		s.inner, err = sftp.NewSink(cfg.sftpSink(), env)
	case File:
		s.inner, err = file.NewSink(file.SinkConfig{SinkConfig: cfg.SinkConfig})
	default:
		err = fmt.Errorf("transport: unknown %q", cfg.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("lifecare sink: %w", err)
	}
	return s, nil
}

// withTLS returns env with an HTTP client that presents the configured
// client certificate and trusts ca_file, over a copy of the hub's
// transport (proxy and timeouts kept).
func withTLS(cfg SinkConfig, env adapters.Env) (adapters.Env, *http.Transport, error) {
	var tr *http.Transport
	switch base := env.HTTPClient.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = base.Clone()
	default:
		return env, nil, fmt.Errorf("client_cert: the hub's HTTP client has a %T transport, which cannot take a client certificate", base)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		tc = tr.TLSClientConfig.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
	}
	if cfg.ClientCert != "" {
		certPEM, err := os.ReadFile(cfg.ClientCert)
		if err != nil {
			return env, nil, fmt.Errorf("client_cert: %w", err)
		}
		keyPEM, err := env.Secrets.Resolve(cfg.ClientKey)
		if err != nil {
			return env, nil, fmt.Errorf("client_key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, []byte(keyPEM))
		if err != nil {
			// The parser's error may quote key material; never pass it on.
			return env, nil, fmt.Errorf("client_cert %s with client_key %s: not a matching PEM certificate and private key", cfg.ClientCert, cfg.ClientKey)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return env, nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return env, nil, fmt.Errorf("ca_file %s: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	tr.TLSClientConfig = tc
	hc := *env.HTTPClient
	hc.Transport = tr
	env.HTTPClient = &hc
	return env, tr, nil
}

// Send implements adapters.Sink. A message without a content-type header
// is sent as application/xml.
func (s *Sink) Send(ctx context.Context, m knutpunkt.Message) error {
	if m.Header(knutpunkt.HeaderContentType) == "" {
		m = m.Clone()
		m.Headers[knutpunkt.HeaderContentType] = "application/xml"
	}
	return s.inner.Send(ctx, m)
}

// Check implements adapters.Checker: over http, HEAD url must answer below
// 500; over sftp and file, dir must exist and be writable.
func (s *Sink) Check(ctx context.Context) error {
	if c, ok := s.inner.(adapters.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// Close makes later Sends fail with ErrClosed and releases connections.
// It is idempotent.
func (s *Sink) Close() error {
	var err error
	if c, ok := s.inner.(interface{ Close() error }); ok {
		err = c.Close()
	}
	if s.tr != nil {
		s.tr.CloseIdleConnections()
	}
	return err
}
