// Package transport is the flat source configuration of vendor adapters
// that take the same messages over any of three transports (the lifecare
// and tes adapters): transport http (the vendor pushes to /ingest/{path}),
// sftp (a drop directory on an SFTP server) or file (a local drop
// directory). The keys of the chosen transport apply, and setting a key
// that only another transport uses is an error, so a config says plainly
// how messages arrive. The transports themselves are the http, sftp and
// file adapters.
package transport

import (
	"errors"
	"fmt"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/file"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
	"github.com/knutpunkt/knutpunkt/adapters/sftp"
)

// Kind is how messages travel between a vendor and the hub.
type Kind string

// The transports.
const (
	// HTTP: the vendor pushes to the hub (source); the hub POSTs to the
	// vendor (sink).
	HTTP Kind = "http"
	// SFTP: a drop directory on an SFTP server.
	SFTP Kind = "sftp"
	// File: a local (or mounted) drop directory.
	File Kind = "file"
)

// UnmarshalText accepts only the known transports.
func (t *Kind) UnmarshalText(text []byte) error {
	switch v := Kind(text); v {
	case HTTP, SFTP, File:
		*t = v
		return nil
	}
	return fmt.Errorf("transport: must be %q, %q or %q, not %q", HTTP, SFTP, File, text)
}

// Source is a flat source config: transport http uses path,
// max_body_size, content_types, retry_after; transport sftp uses host,
// port, user, password or private_key, host_key, timeout and the
// drop-directory keys; transport file uses the drop-directory keys (dir,
// pattern, ignore, poll_interval, settle_time, after_delivery, done_dir,
// failed_dir, content_type). source_system applies to all three.
type Source struct {
	// Transport is http (the vendor POSTs to /ingest/{path} on the hub),
	// sftp or file (the vendor drops files in a directory the hub polls).
	Transport Kind `yaml:"transport"`

	// Path is the name under /ingest/ (http). Default: the pipeline name.
	Path string `yaml:"path"`
	// MaxBodySize is the largest request accepted over http; larger
	// requests get 413.
	MaxBodySize adapters.ByteSize `yaml:"max_body_size"`
	// ContentTypes lists the media types accepted over http; others get
	// 415. Empty accepts any.
	ContentTypes []string `yaml:"content_types"`
	// RetryAfter is sent with 503 answers over http.
	RetryAfter time.Duration `yaml:"retry_after"`

	// Connection is the SFTP server (sftp only): host, port (default 22),
	// user, password or private_key (secret references), host_key
	// (required, pinned), timeout (default 30s).
	sftp.Connection `yaml:",inline"`

	// SourceConfig is the drop directory (sftp and file): dir (required),
	// pattern, ignore, poll_interval, settle_time, after_delivery,
	// done_dir, failed_dir, content_type, and source_system, which applies
	// to every transport (with http, empty takes the caller's
	// X-Source-System header).
	dropdir.SourceConfig `yaml:",inline"`
}

// NewSource returns the defaults every transport shares: http, 10 MiB,
// Retry-After 10s, SFTP port 22 and a 30s timeout, the drop directory's
// defaults. The vendor sets its content types, pattern and source system.
func NewSource() Source {
	return Source{
		Transport:    HTTP,
		MaxBodySize:  10 << 20,
		RetryAfter:   10 * time.Second,
		Connection:   sftp.Connection{Port: 22, Timeout: 30 * time.Second},
		SourceConfig: dropdir.DefaultSourceConfig(),
	}
}

// HTTPSource is the http source's config for transport http.
func (c *Source) HTTPSource() kphttp.SourceConfig {
	return kphttp.SourceConfig{
		Path:         c.Path,
		MaxBodySize:  c.MaxBodySize,
		ContentTypes: c.ContentTypes,
		SourceSystem: c.SourceSystem,
		RetryAfter:   c.RetryAfter,
	}
}

// SFTPSource is the sftp source's config for transport sftp.
func (c *Source) SFTPSource() sftp.SourceConfig {
	return sftp.SourceConfig{Connection: c.Connection, SourceConfig: c.SourceConfig}
}

// Validate checks the chosen transport's keys with the adapter that
// carries it; keys of other transports must be unset.
func (c *Source) Validate() error {
	var errs []error
	switch c.Transport {
	case HTTP:
		hc := c.HTTPSource()
		errs = append(errs, hc.Validate())
		errs = append(errs, Unused(HTTP, map[string]bool{
			"host": c.Host != "", "user": c.User != "", "password": !c.Password.IsZero(),
			"private_key": !c.PrivateKey.IsZero(), "host_key": c.HostKey != "", "dir": c.Dir != "",
		}))
	case SFTP:
		sc := c.SFTPSource()
		errs = append(errs, sc.Validate(), Unused(SFTP, map[string]bool{"path": c.Path != ""}))
	case File:
		errs = append(errs, errors.Join(c.SourceConfig.Problems()...), Unused(File, map[string]bool{
			"path": c.Path != "", "host": c.Host != "", "user": c.User != "", "password": !c.Password.IsZero(),
			"private_key": !c.PrivateKey.IsZero(), "host_key": c.HostKey != "",
		}))
	default:
		errs = append(errs, fmt.Errorf("transport: must be %q, %q or %q, got %q", HTTP, SFTP, File, c.Transport))
	}
	return errors.Join(errs...)
}

// Open opens the chosen transport's source; over http with split (nil:
// one request is one message), mounted on env.Ingress.
func (c *Source) Open(env adapters.Env, split kphttp.Splitter) (adapters.Source, error) {
	switch c.Transport {
	case HTTP:
		return kphttp.NewBatchSource(c.HTTPSource(), env, split)
	case SFTP:
		return sftp.NewSource(c.SFTPSource(), env)
	case File:
		return file.NewSource(file.SourceConfig{SourceConfig: c.SourceConfig}, env), nil
	}
	return nil, fmt.Errorf("transport: unknown %q", c.Transport)
}

// Unused reports each set key that transport t does not use, in a stable
// order.
func Unused(t Kind, set map[string]bool) error {
	var errs []error
	for _, k := range []string{"path", "url", "bearer_token", "client_cert", "client_key", "ca_file",
		"host", "user", "password", "private_key", "host_key", "dir"} {
		if set[k] {
			errs = append(errs, fmt.Errorf("%s: is not used with transport %s", k, t))
		}
	}
	return errors.Join(errs...)
}
