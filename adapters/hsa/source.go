package hsa

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/hsa/internal/soap"
	"github.com/knutpunkt/knutpunkt/adapters/internal/snapshot"
)

// Source syncs the configured commissions' members as snapshots. See the
// package doc.
type Source struct {
	cfg    SourceConfig
	client *Client
	log    *zap.Logger
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex // one sync (and so one call) at a time
	poller *snapshot.Poller
}

var (
	_ adapters.Source  = (*Source)(nil)
	_ adapters.Checker = (*Source)(nil)
)

// NewSource returns a source for a validated cfg: it compiles the
// contracts, reads the certificate, the key (a secret) and the CA file,
// but does not connect.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	key, err := env.Secrets.Resolve(cfg.Key)
	if err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("cert_file and key (%s) are no certificate and matching PEM key", cfg.Key)
	}
	caPEM, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", cfg.CAFile)
	}
	contracts, err := soap.LoadContracts(cfg.Contracts)
	if err != nil {
		return nil, fmt.Errorf("contracts: %w", err)
	}
	u, _ := url.Parse(cfg.URL)
	client := NewClient(ClientConfig{
		URL: cfg.URL, LogicalAddress: cfg.LogicalAddress, Timeout: cfg.Timeout, Pause: cfg.Pause, AllowTestIDs: cfg.AllowTestIDs,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: u.Hostname()},
	}, contracts)
	s := &Source{
		cfg: cfg, client: client, closed: make(chan struct{}),
		log: env.Logger.With(zap.String("directory", cfg.Directory), zap.String("url", cfg.URL)),
	}
	s.poller = &snapshot.Poller{Source: cfg.Directory, Prefix: "hsa-", Interval: cfg.PollInterval, Log: s.log,
		Take: func(ctx context.Context) (snapshot.Snapshot, error) {
			snap, err := s.Snapshot(ctx)
			return snapshot.Snapshot{Body: snap.Body, Count: snap.Count, Digest: snap.Digest,
				Log: []zap.Field{zap.Int("protected", snap.Protected)}}, err
		}}
	return s, nil
}

// Receive implements adapters.Source: a sync at once and then every
// poll_interval (snapshot.Poller). An unchanged snapshot is not delivered
// again.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	defer s.client.CloseIdle()
	return s.poller.Run(ctx, s.closed, deliver)
}

// Snapshot is one sync's result, encoded.
type Snapshot struct {
	Body      []byte // JSON lines, one staff record each, sorted by HSA-ID
	Count     int    // records
	Protected int    // of which protected persons
	Digest    string // SHA-256 of Body, hex
}

// Record is a canonical staff record (schemas/canonical/staff.schema.json).
type Record struct {
	Directory       string             `json:"directory"`
	ProviderID      string             `json:"provider_id"`
	HSAIDs          []string           `json:"hsa_ids"`
	PersonID        string             `json:"person_id,omitempty"`
	GivenName       string             `json:"given_name,omitempty"`
	FamilyName      string             `json:"family_name,omitempty"`
	Mail            string             `json:"mail,omitempty"`
	Title           string             `json:"title,omitempty"`
	Units           []string           `json:"units,omitempty"`
	EmploymentEnd   string             `json:"employment_end,omitempty"`
	ProtectedPerson bool               `json:"protected_person,omitempty"`
	Commissions     []RecordCommission `json:"commissions,omitempty"`
}

// RecordCommission is a record's commission.
type RecordCommission struct {
	HSAID             string `json:"hsa_id"`
	Name              string `json:"name,omitempty"`
	Purpose           string `json:"purpose,omitempty"`
	CareUnitHSAID     string `json:"care_unit_hsa_id,omitempty"`
	CareProviderHSAID string `json:"care_provider_hsa_id,omitempty"`
	From              string `json:"valid_from,omitempty"`
	To                string `json:"valid_to,omitempty"`
}

// Snapshot reads every member of the configured commissions with their
// employee records and commissions, returning all of them or an error.
func (s *Source) Snapshot(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	units := map[string][]string{} // member HSA-ID → configured units
	for _, q := range s.cfg.Commissions {
		ms, err := s.client.GetCommissionMembers(ctx, q.Unit, q.Purpose)
		if err != nil {
			return Snapshot{}, fmt.Errorf("commission members of %s: %w", q.Unit, err)
		}
		for _, m := range ms {
			if !slices.Contains(units[m.HSAID], q.Unit) {
				units[m.HSAID] = append(units[m.HSAID], q.Unit)
			}
		}
	}
	ids := make([]string, 0, len(units))
	for id := range units {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []byte
	snap := Snapshot{}
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return Snapshot{}, err
		}
		p, err := s.client.GetEmployee(ctx, EmployeeQuery{PersonHSAID: id})
		if err != nil {
			return Snapshot{}, fmt.Errorf("member %d of %d (%s): %w", i+1, len(ids), id, err)
		}
		cr, err := s.client.GetCredentials(ctx, EmployeeQuery{PersonHSAID: id})
		if err != nil {
			return Snapshot{}, fmt.Errorf("member %d of %d (%s): %w", i+1, len(ids), id, err)
		}
		if p.HSAID != id || cr.HSAID != id {
			return Snapshot{}, fmt.Errorf("member %d of %d (%s): the directory answered for another person", i+1, len(ids), id)
		}
		rec := s.record(p, cr, units[id])
		if rec.ProtectedPerson {
			snap.Protected++
		}
		line, err := json.Marshal(rec)
		if err != nil {
			return Snapshot{}, fmt.Errorf("member %d: %w", i+1, err)
		}
		out = append(append(out, line...), '\n')
	}
	sum := sha256.Sum256(out)
	snap.Body, snap.Count, snap.Digest = out, len(ids), hex.EncodeToString(sum[:])
	return snap, nil
}

// record joins an employee record and its credentials into a canonical
// staff record.
func (s *Source) record(p Person, cr Credentials, units []string) Record {
	r := Record{
		Directory: s.cfg.Directory, ProviderID: s.cfg.ProviderID, HSAIDs: []string{p.HSAID},
		GivenName: p.GivenName, FamilyName: p.FamilyName, Mail: p.Mail, Title: p.Title,
		Units: units, EmploymentEnd: datePart(p.EndDate), ProtectedPerson: p.Protected || cr.Protected,
	}
	if cr.Identity.Root == PersonnummerOID && len(cr.Identity.Extension) == 12 && isDigits(cr.Identity.Extension) {
		r.PersonID = cr.Identity.Extension
	}
	for _, c := range cr.Commissions {
		r.Commissions = append(r.Commissions, RecordCommission{
			HSAID: c.HSAID, Name: c.Name, Purpose: c.Purpose, CareUnitHSAID: c.UnitHSAID,
			CareProviderHSAID: c.ProviderHSAID, From: datePart(c.UnitStart), To: datePart(c.UnitEnd),
		})
	}
	slices.SortFunc(r.Commissions, func(a, b RecordCommission) int { return strings.Compare(a.HSAID, b.HSAID) })
	return r
}

// datePart is the date of an xs:dateTime (its first ten characters), ""
// when it has none.
func datePart(dt string) string {
	dt = strings.TrimSpace(dt)
	if len(dt) < 10 {
		return ""
	}
	if _, err := time.Parse("2006-01-02", dt[:10]); err != nil {
		return ""
	}
	return dt[:10]
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Check implements adapters.Checker: the directory answers the first
// configured commission's members over mutual TLS with a valid answer.
func (s *Source) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.cfg.Commissions[0]
	_, err := s.client.GetCommissionMembers(ctx, q.Unit, q.Purpose)
	return err
}

// Close stops a running Receive with ErrClosed. It is idempotent.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.client.CloseIdle()
	return nil
}
