package lifecare

import (
	"errors"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

// Transport is how order messages and receipts travel between the case
// system and the hub.
type Transport string

// The transports.
const (
	// HTTP: the case system pushes to the hub (source); the hub POSTs
	// receipts to the case system (sink).
	HTTP Transport = "http"
	// SFTP: a drop directory on an SFTP server.
	SFTP Transport = "sftp"
	// File: a local (or mounted) drop directory.
	File Transport = "file"
)

// UnmarshalText accepts only the known transports.
func (t *Transport) UnmarshalText(text []byte) error {
	switch v := Transport(text); v {
	case HTTP, SFTP, File:
		*t = v
		return nil
	}
	return fmt.Errorf("transport: must be %q, %q or %q, not %q", HTTP, SFTP, File, text)
}

// DefaultSourceSystem is the source-system header of every message the
// source delivers unless source_system says otherwise.
const DefaultSourceSystem = "lifecare"

// SourceConfig configures the lifecare source. The config is flat: the
// keys of the chosen transport apply, and setting a key that only another
// transport uses is an error.
//
// transport http uses path, max_body_size, content_types, retry_after;
// transport sftp uses host, port, user, password or private_key,
// host_key, timeout and the drop-directory keys; transport file uses the
// drop-directory keys (dir, pattern, ignore, poll_interval, settle_time,
// after_delivery, done_dir, failed_dir, content_type). source_system
// applies to all three.
type SourceConfig struct {
	// Transport is http (the case system POSTs each message to
	// /ingest/{path} on the hub), sftp or file (the case system drops one
	// file per message in a directory the hub polls). Default http.
	Transport Transport `yaml:"transport"`

	// Path is the name under /ingest/ (http). Default: the pipeline name.
	Path string `yaml:"path"`
	// MaxBodySize is the largest message accepted over http; larger
	// requests get 413. Default 10MiB.
	MaxBodySize adapters.ByteSize `yaml:"max_body_size"`
	// ContentTypes lists the media types accepted over http; others get
	// 415. Empty accepts any. Default [application/xml, text/xml].
	ContentTypes []string `yaml:"content_types"`
	// RetryAfter is sent with 503 answers over http. Default 10s.
	RetryAfter time.Duration `yaml:"retry_after"`

	// Connection is the SFTP server (sftp only): host, port (default 22),
	// user, password or private_key (secret references), host_key
	// (required, pinned), timeout (default 30s).
	sftp.Connection `yaml:",inline"`

	// SourceConfig is the drop directory (sftp and file): dir (required),
	// pattern (default "*.xml"), ignore, poll_interval (default 5s),
	// settle_time (default 2s), after_delivery, done_dir, failed_dir,
	// content_type (default application/xml) and source_system, which
	// applies to every transport (default "lifecare"; with http, empty
	// takes the caller's X-Source-System header).
	dropdir.SourceConfig `yaml:",inline"`
}

// SinkConfig configures the lifecare sink, which sends receipts
// (Kvittens) to the case system. Flat like SourceConfig.
//
// transport http uses url, bearer_token, client_cert, client_key,
// ca_file, timeout; transport sftp uses host, port, user, password or
// private_key, host_key, timeout, dir, filename; transport file uses dir
// and filename.
type SinkConfig struct {
	// Transport is http (POST each receipt to url) or sftp or file (one
	// file per receipt, written atomically). Default http.
	Transport Transport `yaml:"transport"`

	// URL receives the receipts (http, required), e.g.
	// https://lifecare.kommun.example/knutpunkt/kvittens.
	URL string `yaml:"url"`
	// BearerToken, a secret reference (env:NAME or file:/path), is sent as
	// "Authorization: Bearer ..." (http, optional).
	BearerToken adapters.Secret `yaml:"bearer_token"`
	// ClientCert is the PEM file of the hub's client certificate for
	// mutual TLS (http, optional; with client_key), e.g. the SITHS
	// function certificate.
	ClientCert string `yaml:"client_cert"`
	// ClientKey is the certificate's private key (PEM), a secret
	// reference, normally file:/path (http, required with client_cert).
	ClientKey adapters.Secret `yaml:"client_key"`
	// CAFile is a PEM bundle of the CAs that sign the case system's
	// server certificate (http, optional). Default: the hub's trust store.
	CAFile string `yaml:"ca_file"`

	// Connection is the SFTP server (sftp only); its timeout (default
	// 30s) also bounds each http request, including reading the answer.
	sftp.Connection `yaml:",inline"`

	// SinkConfig is the target directory (sftp and file): dir (required)
	// and filename (default "{{.ID}}.xml").
	dropdir.SinkConfig `yaml:",inline"`
}

// NewSourceConfig returns the source defaults.
func NewSourceConfig() adapters.Config {
	dd := dropdir.DefaultSourceConfig()
	dd.Pattern = "*.xml"
	dd.ContentType = "application/xml"
	dd.SourceSystem = DefaultSourceSystem
	return &SourceConfig{
		Transport:    HTTP,
		MaxBodySize:  10 << 20,
		ContentTypes: []string{"application/xml", "text/xml"},
		RetryAfter:   10 * time.Second,
		Connection:   sftp.Connection{Port: 22, Timeout: 30 * time.Second},
		SourceConfig: dd,
	}
}

// NewSinkConfig returns the sink defaults.
func NewSinkConfig() adapters.Config {
	return &SinkConfig{
		Transport:  HTTP,
		Connection: sftp.Connection{Port: 22, Timeout: 30 * time.Second},
		SinkConfig: dropdir.SinkConfig{Filename: "{{.ID}}.xml"},
	}
}

// httpSource returns the http adapter's config for c.
func (c *SourceConfig) httpSource() kphttp.SourceConfig {
	return kphttp.SourceConfig{
		Path:         c.Path,
		MaxBodySize:  c.MaxBodySize,
		ContentTypes: c.ContentTypes,
		SourceSystem: c.SourceSystem,
		RetryAfter:   c.RetryAfter,
	}
}

func (c *SourceConfig) sftpSource() sftp.SourceConfig {
	return sftp.SourceConfig{Connection: c.Connection, SourceConfig: c.SourceConfig}
}

// Validate implements adapters.Config: the chosen transport's keys are
// checked by the adapter that carries it, and keys of other transports
// must be unset.
func (c *SourceConfig) Validate() error {
	var errs []error
	switch c.Transport {
	case HTTP:
		hc := c.httpSource()
		errs = append(errs, hc.Validate())
		errs = append(errs, unused(HTTP, map[string]bool{
			"host": c.Host != "", "user": c.User != "", "password": !c.Password.IsZero(),
			"private_key": !c.PrivateKey.IsZero(), "host_key": c.HostKey != "", "dir": c.Dir != "",
		}))
	case SFTP:
		sc := c.sftpSource()
		errs = append(errs, sc.Validate(), unused(SFTP, map[string]bool{"path": c.Path != ""}))
	case File:
		errs = append(errs, errors.Join(c.SourceConfig.Problems()...), unused(File, map[string]bool{
			"path": c.Path != "", "host": c.Host != "", "user": c.User != "", "password": !c.Password.IsZero(),
			"private_key": !c.PrivateKey.IsZero(), "host_key": c.HostKey != "",
		}))
	default:
		errs = append(errs, fmt.Errorf("transport: must be %q, %q or %q, got %q", HTTP, SFTP, File, c.Transport))
	}
	return errors.Join(errs...)
}

func (c *SinkConfig) httpSink() kphttp.SinkConfig {
	return kphttp.SinkConfig{URL: c.URL, Method: "POST", BearerToken: c.BearerToken, Timeout: c.Timeout}
}

func (c *SinkConfig) sftpSink() sftp.SinkConfig {
	return sftp.SinkConfig{Connection: c.Connection, SinkConfig: c.SinkConfig}
}

// Validate implements adapters.Config, like SourceConfig.Validate.
func (c *SinkConfig) Validate() error {
	var errs []error
	httpOnly := map[string]bool{
		"url": c.URL != "", "bearer_token": !c.BearerToken.IsZero(), "client_cert": c.ClientCert != "",
		"client_key": !c.ClientKey.IsZero(), "ca_file": c.CAFile != "",
	}
	switch c.Transport {
	case HTTP:
		hc := c.httpSink()
		errs = append(errs, hc.Validate())
		if (c.ClientCert == "") != c.ClientKey.IsZero() {
			errs = append(errs, errors.New("client_cert: client_cert and client_key go together: set both or neither"))
		}
		if !c.ClientKey.IsZero() {
			if err := c.ClientKey.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("client_key: %w", err))
			}
		}
		errs = append(errs, unused(HTTP, map[string]bool{
			"host": c.Host != "", "user": c.User != "", "password": !c.Password.IsZero(),
			"private_key": !c.PrivateKey.IsZero(), "host_key": c.HostKey != "", "dir": c.Dir != "",
		}))
	case SFTP:
		sc := c.sftpSink()
		errs = append(errs, sc.Validate(), unused(SFTP, httpOnly))
	case File:
		httpOnly["host"], httpOnly["user"] = c.Host != "", c.User != ""
		httpOnly["password"], httpOnly["private_key"] = !c.Password.IsZero(), !c.PrivateKey.IsZero()
		httpOnly["host_key"] = c.HostKey != ""
		errs = append(errs, errors.Join(c.SinkConfig.Problems()...), unused(File, httpOnly))
	default:
		errs = append(errs, fmt.Errorf("transport: must be %q, %q or %q, got %q", HTTP, SFTP, File, c.Transport))
	}
	return errors.Join(errs...)
}

// unused reports each set key that transport t does not use, in a stable
// order.
func unused(t Transport, set map[string]bool) error {
	var errs []error
	for _, k := range []string{"path", "url", "bearer_token", "client_cert", "client_key", "ca_file",
		"host", "user", "password", "private_key", "host_key", "dir"} {
		if set[k] {
			errs = append(errs, fmt.Errorf("%s: is not used with transport %s", k, t))
		}
	}
	return errors.Join(errs...)
}
