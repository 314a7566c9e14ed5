package lifecare

import (
	"errors"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
	"github.com/knutpunkt/knutpunkt/adapters/internal/transport"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

// Transport is how order messages and receipts travel between the case
// system and the hub: http (the case system pushes to the hub, the hub
// POSTs receipts), sftp or file (drop directories).
type Transport = transport.Kind

// The transports.
const (
	HTTP = transport.HTTP
	SFTP = transport.SFTP
	File = transport.File
)

// DefaultSourceSystem is the source-system header of every message the
// source delivers unless source_system says otherwise.
const DefaultSourceSystem = "lifecare"

// SourceConfig configures the lifecare source: the flat transport config
// (transport.Source: the keys of the chosen transport apply). Defaults:
// http, content types [application/xml, text/xml], pattern "*.xml",
// content_type application/xml, source_system "lifecare".
type SourceConfig struct {
	transport.Source `yaml:",inline"`
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
	c := transport.NewSource()
	c.ContentTypes = []string{"application/xml", "text/xml"}
	c.Pattern = "*.xml"
	c.ContentType = "application/xml"
	c.SourceSystem = DefaultSourceSystem
	return &SourceConfig{Source: c}
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
		errs = append(errs, transport.Unused(HTTP, map[string]bool{
			"host": c.Host != "", "user": c.User != "", "password": !c.Password.IsZero(),
			"private_key": !c.PrivateKey.IsZero(), "host_key": c.HostKey != "", "dir": c.Dir != "",
		}))
	case SFTP:
		sc := c.sftpSink()
		errs = append(errs, sc.Validate(), transport.Unused(SFTP, httpOnly))
	case File:
		httpOnly["host"], httpOnly["user"] = c.Host != "", c.User != ""
		httpOnly["password"], httpOnly["private_key"] = !c.Password.IsZero(), !c.PrivateKey.IsZero()
		httpOnly["host_key"] = c.HostKey != ""
		errs = append(errs, errors.Join(c.SinkConfig.Problems()...), transport.Unused(File, httpOnly))
	default:
		errs = append(errs, fmt.Errorf("transport: must be %q, %q or %q, got %q", HTTP, SFTP, File, c.Transport))
	}
	return errors.Join(errs...)
}
