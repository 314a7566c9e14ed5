package sftp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/internal/dropdir"
)

// Connection is how to reach and authenticate to the SFTP server. There is
// deliberately no way to skip host key verification: a server whose key
// does not match host_key is refused.
type Connection struct {
	// Host is the server's name or address. Required.
	Host string `yaml:"host"`
	// Port is the server's SSH port. Default 22.
	Port int `yaml:"port"`
	// User to log in as. Required.
	User string `yaml:"user"`
	// Password, a secret reference (env:NAME or file:/path). Set password
	// or private_key.
	Password adapters.Secret `yaml:"password"`
	// PrivateKey, a secret reference to an unencrypted PEM or OpenSSH
	// private key. Set password or private_key.
	PrivateKey adapters.Secret `yaml:"private_key"`
	// HostKey pins the server's host key: its SHA256 fingerprint as
	// `ssh-keyscan HOST | ssh-keygen -lf -` prints it ("SHA256:..."), or a
	// known_hosts line, or a public key ("ssh-ed25519 AAAA..."). Required.
	HostKey string `yaml:"host_key"`
	// Timeout bounds connecting and each file operation. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// SourceConfig configures an sftp source: the connection and the remote
// drop directory (keys of dropdir.SourceConfig).
type SourceConfig struct {
	Connection           `yaml:",inline"`
	dropdir.SourceConfig `yaml:",inline"`
}

// SinkConfig configures an sftp sink: the connection and the remote target
// directory (keys dir and filename of dropdir.SinkConfig).
type SinkConfig struct {
	Connection         `yaml:",inline"`
	dropdir.SinkConfig `yaml:",inline"`
}

func defaultConnection() Connection { return Connection{Port: 22, Timeout: 30 * time.Second} }

// NewSourceConfig returns the source defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{Connection: defaultConnection(), SourceConfig: dropdir.DefaultSourceConfig()}
}

// NewSinkConfig returns the sink defaults.
func NewSinkConfig() adapters.Config {
	return &SinkConfig{Connection: defaultConnection(), SinkConfig: dropdir.DefaultSinkConfig()}
}

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	return errors.Join(append(c.Connection.problems(), c.SourceConfig.Problems()...)...)
}

// Validate implements adapters.Config.
func (c *SinkConfig) Validate() error {
	return errors.Join(append(c.Connection.problems(), c.SinkConfig.Problems()...)...)
}

func (c *Connection) problems() []error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("host: is required"))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: must be 1-65535, got %d", c.Port))
	}
	if c.User == "" {
		errs = append(errs, errors.New("user: is required"))
	}
	switch {
	case c.Password.IsZero() && c.PrivateKey.IsZero():
		errs = append(errs, errors.New("password: is required unless private_key is set"))
	case !c.Password.IsZero() && !c.PrivateKey.IsZero():
		errs = append(errs, errors.New("password: set either password or private_key, not both"))
	case !c.Password.IsZero():
		if err := c.Password.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("password: %w", err))
		}
	default:
		if err := c.PrivateKey.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("private_key: %w", err))
		}
	}
	if c.HostKey == "" {
		errs = append(errs, errors.New("host_key: is required (the server's SHA256 fingerprint or known_hosts line)"))
	} else if _, err := hostKeyMatcher(c.HostKey); err != nil {
		errs = append(errs, fmt.Errorf("host_key: %w", err))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %v", c.Timeout))
	}
	return errs
}

// hostKeyMatcher parses host_key into a test for the server's key.
func hostKeyMatcher(s string) (func(ssh.PublicKey) bool, error) {
	s = strings.TrimSpace(s)
	if fp, ok := strings.CutPrefix(s, "SHA256:"); ok {
		if len(fp) != 43 {
			return nil, fmt.Errorf("fingerprint %q is not SHA256: followed by 43 base64 characters", s)
		}
		return func(k ssh.PublicKey) bool { return ssh.FingerprintSHA256(k) == s }, nil
	}
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		_, _, want, _, _, err = ssh.ParseKnownHosts([]byte(s))
	}
	if err != nil {
		return nil, errors.New("is neither a SHA256: fingerprint, a public key nor a known_hosts line")
	}
	return func(k ssh.PublicKey) bool { return string(k.Marshal()) == string(want.Marshal()) }, nil
}
