package hsa

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Defaults of SourceConfig.
const (
	DefaultDirectory    = "hsa"
	DefaultPause        = 100 * time.Millisecond
	DefaultPollInterval = time.Hour
	DefaultTimeout      = 30 * time.Second
)

// CommissionQuery selects the members of one care unit's commissions of
// one purpose (GetCommissionMembers).
type CommissionQuery struct {
	// Unit is the care unit's HSA-ID (healthCareUnitHsaId). Required.
	Unit string `yaml:"unit"`
	// Purpose is the commission purpose (commissionPurpose), e.g. "Vård
	// och behandling". Required.
	Purpose string `yaml:"purpose"`
}

// SourceConfig configures the hsa source.
type SourceConfig struct {
	// Directory names the directory: the source-system header of every
	// snapshot and the directory field of each record. Default hsa.
	Directory string `yaml:"directory"`
	// ProviderID is the provider (utförare) the staff work for: each
	// record's provider_id. Required.
	ProviderID string `yaml:"provider_id"`
	// URL is the RIV-TA endpoint (https; the national service platform or
	// the directory's own). Required.
	URL string `yaml:"url"`
	// LogicalAddress is the RIV-TA LogicalAddress header: the HSA-ID of
	// the directory answering. Required.
	LogicalAddress string `yaml:"logical_address"`
	// Contracts is the directory holding the RIV-TA HSA WSDLs and XSDs
	// (employee/2.2/…, authorizationmanagement/2.3/…) as published;
	// every request and response is validated against them. Required.
	Contracts string `yaml:"contracts"`
	// CertFile is the SITHS function certificate (PEM, chain allowed).
	// Required.
	CertFile string `yaml:"cert_file"`
	// Key is the certificate's private key (PEM), a secret reference
	// (env:NAME or file:/path). Required.
	Key adapters.Secret `yaml:"key"`
	// CAFile holds the CAs that may sign the server's certificate (PEM).
	// Required: the directory is never trusted through the system's CAs.
	CAFile string `yaml:"ca_file"`
	// Commissions are the units and purposes whose members are synced.
	// At least one.
	Commissions []CommissionQuery `yaml:"commissions"`
	// Pause is the wait between two calls: the contract asks bulk readers
	// to call one at a time. Default 100ms; 0 for none.
	Pause time.Duration `yaml:"pause"`
	// PollInterval is the time between syncs (one at start). Default 1h.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Timeout bounds each call. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// AllowTestIDs accepts test-form HSA-IDs (TSTNMT2321000156-…), for
	// HSA's test environment. Default false.
	AllowTestIDs bool `yaml:"allow_test_ids"`
}

// NewSourceConfig returns the defaults.
func NewSourceConfig() adapters.Config {
	return &SourceConfig{Directory: DefaultDirectory, Pause: DefaultPause, PollInterval: DefaultPollInterval, Timeout: DefaultTimeout}
}

// logicalAddr is a RIV-TA logical address: an HSA-ID or an
// organisation's address such as SE165565594230-1000.
var logicalAddr = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

var shortName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Validate implements adapters.Config. It reads no file.
func (c *SourceConfig) Validate() error {
	var errs []error
	if !shortName.MatchString(c.Directory) {
		errs = append(errs, fmt.Errorf("directory: 1-64 lower-case letters, digits, '.', '_' or '-', got %q", c.Directory))
	}
	if c.ProviderID == "" || len(c.ProviderID) > 64 {
		errs = append(errs, errors.New("provider_id: is required (1-64 characters)"))
	}
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: is required: an https:// URL, got %q", c.URL))
	}
	if !logicalAddr.MatchString(c.LogicalAddress) {
		errs = append(errs, fmt.Errorf("logical_address: is required: the directory's HSA-ID or the platform's address (letters, digits, '-', up to 64), got %q", c.LogicalAddress))
	}
	if c.Contracts == "" {
		errs = append(errs, errors.New("contracts: is required: the directory of the RIV-TA HSA XSDs"))
	}
	if c.CertFile == "" {
		errs = append(errs, errors.New("cert_file: is required: the function certificate (PEM)"))
	}
	if err := c.Key.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("key: %w", err))
	}
	if c.CAFile == "" {
		errs = append(errs, errors.New("ca_file: is required: the CAs of the directory's server certificate"))
	}
	if len(c.Commissions) == 0 {
		errs = append(errs, errors.New("commissions: list at least one {unit, purpose}"))
	}
	for i, q := range c.Commissions {
		if _, err := homecare.ParseHSAID(q.Unit, c.AllowTestIDs); err != nil {
			errs = append(errs, fmt.Errorf("commissions[%d].unit: %v", i, err))
		}
		if q.Purpose == "" {
			errs = append(errs, fmt.Errorf("commissions[%d].purpose: is required", i))
		}
	}
	if c.Pause < 0 {
		errs = append(errs, fmt.Errorf("pause: must not be negative, got %v", c.Pause))
	}
	if c.PollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll_interval: must be at least 10ms, got %v", c.PollInterval))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %v", c.Timeout))
	}
	return errors.Join(errs...)
}
