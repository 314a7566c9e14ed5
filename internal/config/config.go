// Package config is the hub's own configuration (knut.yaml): where the store
// and bus live, which directories hold pipelines, mappings and schemas, the
// HTTP listener and its TLS, and logging. Decoding is strict; every problem
// is reported at once with its YAML key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Environment says what kind of deployment this is. Outside production the
// hub accepts test HSA-IDs and expects only official test personnummer.
type Environment string

// Environments.
const (
	Production  Environment = "production"
	Development Environment = "development"
	Test        Environment = "test"
)

// UnmarshalText rejects unknown environments.
func (e *Environment) UnmarshalText(b []byte) error {
	switch v := Environment(b); v {
	case Production, Development, Test:
		*e = v
		return nil
	}
	return fmt.Errorf("environment %q: want production, development or test", b)
}

// Config is knut.yaml.
type Config struct {
	// Environment is production, development (default) or test.
	Environment Environment `yaml:"environment"`
	// Store is the hub's database.
	Store Store `yaml:"store"`
	// Bus is the message transport between pipelines.
	Bus Bus `yaml:"bus"`
	// HTTP is the hub's HTTP server (ingest, health, metrics).
	HTTP HTTP `yaml:"http"`
	// Pipelines is the directory of pipeline files. Default "pipelines".
	Pipelines string `yaml:"pipelines"`
	// Mappings is the directory of mapping files. Default "mappings".
	Mappings string `yaml:"mappings"`
	// Schemas is the directory of schemas. Default "schemas".
	Schemas string `yaml:"schemas"`
	// Log sets log format and level.
	Log Log `yaml:"log"`
	// Vars are the values of ${name} references in pipeline files, e.g. a
	// provider's webhook URL: what one municipality's deployment sets.
	Vars map[string]string `yaml:"vars"`

	// dir is the config file's directory; relative paths resolve against it.
	dir string
}

// Store configures the database.
type Store struct {
	// DSN is a SQLite file path (default "knut.db") or a postgres:// URL.
	DSN string `yaml:"dsn"`
	// Key is the secret from which the keys that encrypt and hash personal
	// identifiers are derived, e.g. env:KNUT_STORE_KEY. Required in production;
	// elsewhere a fixed development key is used when unset.
	Key adapters.Secret `yaml:"key"`
}

// Bus configures the message transport.
type Bus struct {
	// Kind is "embedded" (the default and, for now, the only kind): queues
	// in the hub's process, made durable by the store's message log, which
	// holds every message before it is queued and requeues what was not
	// finished at the next start. A networked bus for several hub
	// processes is a later kind.
	Kind string `yaml:"kind"`
}

// HTTP configures the server.
type HTTP struct {
	// Listen is the address to listen on. Default "127.0.0.1:8080"; empty
	// string with disabled: true serves nothing.
	Listen string `yaml:"listen"`
	// Disabled turns the HTTP server off.
	Disabled bool `yaml:"disabled"`
	// TLS turns on HTTPS and, with client_ca, mutual TLS.
	TLS TLS `yaml:"tls"`
	// MaxBody is the largest request body accepted on /ingest, e.g. 10MiB.
	MaxBody string `yaml:"max_body"`
}

// TLS configures HTTPS.
type TLS struct {
	// Cert and Key are PEM files of the server certificate and key.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA, if set, is a PEM file of the CA(s) whose client certificates
	// are accepted; every request without one is refused. The certificate
	// subject's serialNumber (an HSA-ID in SITHS certificates) identifies
	// the caller.
	ClientCA string `yaml:"client_ca"`
}

// Log configures logging.
type Log struct {
	// Format is "json" (default in production) or "console".
	Format string `yaml:"format"`
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
}

// Default returns the configuration used when no file is given, with paths
// relative to dir.
func Default(dir string) *Config {
	return &Config{
		Environment: Development,
		Store:       Store{DSN: "knut.db"},
		Bus:         Bus{Kind: "embedded"},
		HTTP:        HTTP{Listen: "127.0.0.1:8080", MaxBody: "10MiB"},
		Pipelines:   "pipelines",
		Mappings:    "mappings",
		Schemas:     "schemas",
		Log:         Log{Level: "info"},
		dir:         dir,
	}
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a config strictly over the defaults and validates it.
func Parse(path string, data []byte) (*Config, error) {
	c := Default(filepath.Dir(path))
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeError(path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// decodeError puts each YAML problem on a line of its own as
// "file:line: problem".
func decodeError(path string, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			errs[i] = fmt.Errorf("%s:%s: %s", path, g[1], g[2])
		} else {
			errs[i] = fmt.Errorf("%s: %s", path, m)
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Store.DSN == "" {
		errs = append(errs, errors.New("store.dsn: is required"))
	}
	if c.Environment == Production && c.Store.Key.IsZero() {
		errs = append(errs, errors.New("store.key: is required in production"))
	}
	if !c.Store.Key.IsZero() {
		if err := c.Store.Key.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("store.key: %w", err))
		}
	}
	switch c.Bus.Kind {
	case "embedded":
	default:
		errs = append(errs, fmt.Errorf("bus.kind: %q: want embedded", c.Bus.Kind))
	}
	if (c.HTTP.TLS.Cert == "") != (c.HTTP.TLS.Key == "") {
		errs = append(errs, errors.New("http.tls: cert and key go together"))
	}
	if c.HTTP.TLS.ClientCA != "" && c.HTTP.TLS.Cert == "" {
		errs = append(errs, errors.New("http.tls.client_ca: needs cert and key"))
	}
	if c.Environment == Production && !c.HTTP.Disabled && c.HTTP.TLS.ClientCA == "" {
		errs = append(errs, errors.New("http.tls.client_ca: is required in production (mutual TLS)"))
	}
	if _, err := ParseSize(c.HTTP.MaxBody); err != nil {
		errs = append(errs, fmt.Errorf("http.max_body: %w", err))
	}
	switch c.Log.Format {
	case "", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q: want json or console", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q: want debug, info, warn or error", c.Log.Level))
	}
	return errors.Join(errs...)
}

// Path resolves p against the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// IsPostgres reports whether the store is PostgreSQL.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.Store.DSN, "postgres://") || strings.HasPrefix(c.Store.DSN, "postgresql://")
}

// StoreDSN is the store DSN with a relative SQLite path resolved.
func (c *Config) StoreDSN() string {
	if c.IsPostgres() {
		return c.Store.DSN
	}
	return c.Path(c.Store.DSN)
}

// ParseSize parses sizes such as 512KiB, 10MiB or 1GiB (or plain bytes).
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}, {"", 0}}
	for _, u := range units {
		num, ok := strings.CutSuffix(strings.TrimSpace(s), u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q: want a size such as 512KiB or 10MiB", s)
		}
		return n << u.shift, nil
	}
	return 0, fmt.Errorf("%q: want a size such as 512KiB or 10MiB", s)
}
