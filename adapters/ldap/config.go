package ldap

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Defaults of SourceConfig.
const (
	DefaultFilter                 = "(objectClass=person)"
	DefaultPageSize               = 500
	DefaultPollInterval           = 15 * time.Minute
	DefaultTimeout                = 30 * time.Second
	DefaultEmploymentEndAttribute = "hsaEndDate"
)

// DefaultAttributes are the attributes a snapshot carries unless the
// config lists others: what mappings/ldap/entry_to_staff reads. The
// employment-end attribute (employment_end_attribute) is added to them.
var DefaultAttributes = []string{
	"hsaIdentity", "personalIdentityNumber", "givenName", "sn", "mail",
	"title", "ou", "employeeNumber", "modifyTimestamp",
}

// SourceConfig configures the ldap source: where the directory is, how to
// bind, what to search and how often.
type SourceConfig struct {
	// Directory names the directory: the source-system header of every
	// snapshot (ldap-omsorg-norr). Required.
	Directory string `yaml:"directory"`
	// URL is ldap://host[:port] or ldaps://host[:port]. Required.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection with StartTLS before the
	// bind. Not with ldaps://.
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM file of the CAs that may sign the server's
	// certificate (ldaps or start_tls); default the system's.
	CAFile string `yaml:"ca_file"`
	// BindDN is the service account to bind as (simple bind). Required.
	BindDN string `yaml:"bind_dn"`
	// Password is the bind password, a secret reference (env:NAME or
	// file:/path). Required.
	Password adapters.Secret `yaml:"password"`
	// BaseDN is where the search starts (subtree). Required.
	BaseDN string `yaml:"base_dn"`
	// Filter selects the persons. Default (objectClass=person).
	Filter string `yaml:"filter"`
	// Attributes are the attributes each entry carries in the snapshot.
	Attributes []string `yaml:"attributes"`
	// EmploymentEndAttribute is the attribute holding the last day of
	// employment (GeneralizedTime), added to attributes. Default hsaEndDate.
	EmploymentEndAttribute string `yaml:"employment_end_attribute"`
	// PageSize is the RFC 2696 page size. Default 500.
	PageSize int `yaml:"page_size"`
	// PollInterval is the time between syncs (one at start). Default 15m.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Timeout bounds connecting and each request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// NewSourceConfig returns the defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{
		Filter:                 DefaultFilter,
		Attributes:             append([]string(nil), DefaultAttributes...),
		EmploymentEndAttribute: DefaultEmploymentEndAttribute,
		PageSize:               DefaultPageSize,
		PollInterval:           DefaultPollInterval,
		Timeout:                DefaultTimeout,
	}
}

// attrName is an LDAP attribute description as RFC 4512 writes a name
// (options such as ;binary are not taken: values must be text).
var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// directoryName is a source-system header: short, no spaces.
var directoryName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Validate implements adapters.Config.
func (c *SourceConfig) Validate() error {
	var errs []error
	if !directoryName.MatchString(c.Directory) {
		errs = append(errs, fmt.Errorf("directory: is required: 1-64 lower-case letters, digits, '.', '_' or '-' (the source-system header), got %q", c.Directory))
	}
	if c.URL == "" {
		errs = append(errs, errors.New("url: is required (ldap://host:389 or ldaps://host:636)"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, fmt.Errorf("url: must be ldap://host[:port] or ldaps://host[:port], got %q", c.URL))
	} else if c.StartTLS && u.Scheme == "ldaps" {
		errs = append(errs, errors.New("start_tls: is for ldap:// URLs; ldaps:// is TLS already"))
	}
	if c.BindDN == "" {
		errs = append(errs, errors.New("bind_dn: is required"))
	} else if _, err := goldap.ParseDN(c.BindDN); err != nil {
		errs = append(errs, fmt.Errorf("bind_dn: is not a DN: %v", err))
	}
	if err := c.Password.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("password: %w", err))
	}
	if c.BaseDN == "" {
		errs = append(errs, errors.New("base_dn: is required"))
	} else if _, err := goldap.ParseDN(c.BaseDN); err != nil {
		errs = append(errs, fmt.Errorf("base_dn: is not a DN: %v", err))
	}
	if c.Filter == "" {
		errs = append(errs, errors.New("filter: is required"))
	} else if _, err := goldap.CompileFilter(c.Filter); err != nil {
		errs = append(errs, fmt.Errorf("filter: %v", err))
	}
	if len(c.Attributes) == 0 {
		errs = append(errs, errors.New("attributes: list at least one attribute"))
	}
	seen := map[string]bool{}
	for _, a := range append(append([]string(nil), c.Attributes...), c.EmploymentEndAttribute) {
		switch {
		case !attrName.MatchString(a):
			errs = append(errs, fmt.Errorf("attributes: %q is not an attribute name", a))
		case seen[strings.ToLower(a)] && !strings.EqualFold(a, c.EmploymentEndAttribute):
			errs = append(errs, fmt.Errorf("attributes: %q is listed twice", a))
		}
		seen[strings.ToLower(a)] = true
	}
	if c.EmploymentEndAttribute == "" {
		errs = append(errs, errors.New("employment_end_attribute: is required"))
	}
	if c.PageSize < 1 || c.PageSize > 100_000 {
		errs = append(errs, fmt.Errorf("page_size: must be 1-100000, got %d", c.PageSize))
	}
	if c.PollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll_interval: must be at least 10ms, got %v", c.PollInterval))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %v", c.Timeout))
	}
	return errors.Join(errs...)
}

// attributes are the attributes to ask for: the configured ones, then the
// employment-end attribute unless listed.
func (c *SourceConfig) attributes() []string {
	out := append([]string(nil), c.Attributes...)
	for _, a := range out {
		if strings.EqualFold(a, c.EmploymentEndAttribute) {
			return out
		}
	}
	return append(out, c.EmploymentEndAttribute)
}
