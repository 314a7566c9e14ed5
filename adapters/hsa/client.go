package hsa

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/hsa/internal/soap"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// MaxResponseSize bounds one SOAP response (a GetCommissionMembers answer
// of 20,000 persons is about 8 MiB).
const MaxResponseSize = 128 << 20

// Person is a personInformation of GetEmployeeIncludingProtectedPerson or
// GetCommissionMembers: what the adapter reads of it.
type Person struct {
	HSAID      string `xml:"personHsaId"`
	GivenName  string `xml:"givenName"`
	FamilyName string `xml:"middleAndSurName"`
	Mail       string `xml:"mail"`
	Title      string `xml:"title"`
	Protected  bool   `xml:"protectedPerson"`
	EndDate    string `xml:"personEndDate"` // xs:dateTime
}

// Credentials is a credentialInformation of
// GetCredentialsForPersonIncludingProtectedPerson.
type Credentials struct {
	HSAID       string       `xml:"personHsaId"`
	Protected   bool         `xml:"protectedPerson"`
	Commissions []Commission `xml:"commission"`
	Identity    struct {
		Root      string `xml:"root"`
		Extension string `xml:"extension"`
	} `xml:"personalIdentity"`
}

// Commission is a medarbetaruppdrag.
type Commission struct {
	Name          string `xml:"commissionName"`
	HSAID         string `xml:"commissionHsaId"`
	Purpose       string `xml:"commissionPurpose"`
	UnitHSAID     string `xml:"healthCareUnitHsaId"`
	UnitStart     string `xml:"healthCareUnitStartDate"`
	UnitEnd       string `xml:"healthCareUnitEndDate"`
	ProviderHSAID string `xml:"healthCareProviderHsaId"`
}

// PersonnummerOID is the root of a personalIdentity that is a
// personnummer.
const PersonnummerOID = "1.2.752.129.2.1.3.1"

// ClientConfig is what a Client needs.
type ClientConfig struct {
	// URL is the service endpoint (https).
	URL string
	// LogicalAddress is the RIV-TA header's (the HSA directory's HSA-ID).
	LogicalAddress string
	// TLS is the mutual TLS configuration: the function certificate and
	// the CAs that may sign the server's.
	TLS *tls.Config
	// Timeout bounds each call.
	Timeout time.Duration
	// Pause is the wait between calls (the contract asks for one call at a
	// time).
	Pause time.Duration
	// AllowTestIDs accepts test-form HSA-IDs (TSTNMT2321000156-…).
	AllowTestIDs bool
}

// Client calls the HSA RIV-TA services, one call at a time. Every request
// and response is validated against the shipped XSDs.
type Client struct {
	cfg       ClientConfig
	contracts *soap.Contracts
	http      *http.Client
	last      time.Time
}

// NewClient returns a client; contracts are the compiled XSDs.
func NewClient(cfg ClientConfig, contracts *soap.Contracts) *Client {
	tr := &http.Transport{
		TLSClientConfig:     cfg.TLS,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
		ForceAttemptHTTP2:   false,
	}
	return &Client{cfg: cfg, contracts: contracts, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
}

// CloseIdle closes idle connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// OpError is the error of one call: the operation and why, never a
// person's data.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return "hsa " + e.Op + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// Errors wrapped by OpError.
var (
	// ErrBothIdentifiers: a request naming both personHsaId and
	// personalIdentityNumber, refused before sending (the contract's
	// xs:choice).
	ErrBothIdentifiers = errors.New("a request takes personHsaId or personalIdentityNumber, not both")
	// ErrUnknownPerson: the directory answered no such person.
	ErrUnknownPerson = errors.New("unknown person")
	// ErrInvalidRequest: the request violates the contract's XSD (not sent).
	ErrInvalidRequest = errors.New("request violates the contract")
	// ErrInvalidResponse: the response violates the contract's XSD or is
	// no SOAP envelope.
	ErrInvalidResponse = errors.New("response violates the contract")
	// ErrInvalidHSAID: an HSA-ID the directory returned is malformed.
	ErrInvalidHSAID = errors.New("invalid HSA-ID")
)

// EmployeeQuery names a person by exactly one identifier.
type EmployeeQuery struct {
	PersonHSAID            string
	PersonalIdentityNumber string
}

func (q EmployeeQuery) payload(op soap.Operation) ([]byte, error) {
	if q.PersonHSAID != "" && q.PersonalIdentityNumber != "" {
		return nil, ErrBothIdentifiers
	}
	if q.PersonHSAID == "" && q.PersonalIdentityNumber == "" {
		return nil, errors.New("a request names personHsaId or personalIdentityNumber")
	}
	var b bytes.Buffer
	b.WriteString(`<` + op.Name + ` xmlns="` + op.NS + `">`)
	if q.PersonHSAID != "" {
		b.WriteString("<personHsaId>")
		soap.Escape(&b, q.PersonHSAID)
		b.WriteString("</personHsaId>")
	} else {
		b.WriteString("<personalIdentityNumber>")
		soap.Escape(&b, q.PersonalIdentityNumber)
		b.WriteString("</personalIdentityNumber>")
	}
	b.WriteString(`</` + op.Name + `>`)
	return b.Bytes(), nil
}

// GetEmployee calls GetEmployeeIncludingProtectedPerson. A person the
// directory does not know is ErrUnknownPerson.
func (c *Client) GetEmployee(ctx context.Context, q EmployeeQuery) (Person, error) {
	op := soap.GetEmployee
	payload, err := q.payload(op)
	if err != nil {
		return Person{}, &OpError{op.Name, err}
	}
	var resp struct {
		Persons []Person `xml:"personInformation"`
	}
	if err := c.call(ctx, op, payload, &resp); err != nil {
		return Person{}, err
	}
	if len(resp.Persons) == 0 {
		return Person{}, &OpError{op.Name, ErrUnknownPerson}
	}
	p := resp.Persons[0]
	if err := c.checkID(p.HSAID); err != nil {
		return Person{}, &OpError{op.Name, err}
	}
	return p, nil
}

// GetCommissionMembers calls GetCommissionMembers for a care unit and a
// commission purpose.
func (c *Client) GetCommissionMembers(ctx context.Context, unitHSAID, purpose string) ([]Person, error) {
	op := soap.GetCommissionMembers
	var b bytes.Buffer
	b.WriteString(`<` + op.Name + ` xmlns="` + op.NS + `"><healthCareUnitHsaId>`)
	soap.Escape(&b, unitHSAID)
	b.WriteString(`</healthCareUnitHsaId><commissionPurpose>`)
	soap.Escape(&b, purpose)
	b.WriteString(`</commissionPurpose></` + op.Name + `>`)
	var resp struct {
		Persons []Person `xml:"personInformation"`
	}
	if err := c.call(ctx, op, b.Bytes(), &resp); err != nil {
		return nil, err
	}
	for i, p := range resp.Persons {
		if err := c.checkID(p.HSAID); err != nil {
			return nil, &OpError{op.Name, fmt.Errorf("member %d: %w", i+1, err)}
		}
	}
	return resp.Persons, nil
}

// GetCredentials calls GetCredentialsForPersonIncludingProtectedPerson.
func (c *Client) GetCredentials(ctx context.Context, q EmployeeQuery) (Credentials, error) {
	op := soap.GetCredentials
	payload, err := q.payload(op)
	if err != nil {
		return Credentials{}, &OpError{op.Name, err}
	}
	var resp struct {
		Creds []Credentials `xml:"credentialInformation"`
	}
	if err := c.call(ctx, op, payload, &resp); err != nil {
		return Credentials{}, err
	}
	if len(resp.Creds) == 0 {
		return Credentials{}, &OpError{op.Name, ErrUnknownPerson}
	}
	cr := resp.Creds[0]
	if err := c.checkID(cr.HSAID); err != nil {
		return Credentials{}, &OpError{op.Name, err}
	}
	for i, cm := range cr.Commissions {
		if err := c.checkID(cm.HSAID); err != nil {
			return Credentials{}, &OpError{op.Name, fmt.Errorf("commission %d: %w", i+1, err)}
		}
	}
	return cr, nil
}

func (c *Client) checkID(id string) error {
	if _, err := homecare.ParseHSAID(id, c.cfg.AllowTestIDs); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidHSAID, err)
	}
	return nil
}

// call validates payload, waits out the pause, posts the envelope,
// splits and validates the answer and decodes its payload into out.
func (c *Client) call(ctx context.Context, op soap.Operation, payload []byte, out any) error {
	fail := func(err error) error { return &OpError{op.Name, err} }
	if err := c.contracts.Validate(op, payload); err != nil {
		return fail(fmt.Errorf("%w (not sent): %w", ErrInvalidRequest, err))
	}
	if c.cfg.Pause > 0 && !c.last.IsZero() {
		if wait := c.cfg.Pause - time.Since(c.last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fail(ctx.Err())
			case <-t.C:
			}
		}
	}
	defer func() { c.last = time.Now() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(soap.Envelope(c.cfg.LogicalAddress, payload)))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", soap.ContentType)
	req.Header.Set("SOAPAction", `"`+op.Action+`"`)
	res, err := c.http.Do(req)
	if err != nil {
		return fail(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseSize+1))
	if err != nil {
		return fail(fmt.Errorf("read response: %w", err))
	}
	if len(body) > MaxResponseSize {
		return fail(fmt.Errorf("%w: larger than %d bytes", ErrInvalidResponse, MaxResponseSize))
	}
	if !strings.Contains(res.Header.Get("Content-Type"), "xml") {
		return fail(fmt.Errorf("HTTP %d, content type %q: no SOAP answer", res.StatusCode, res.Header.Get("Content-Type")))
	}
	m, err := soap.Split(body)
	if err != nil {
		return fail(fmt.Errorf("HTTP %d: %w: %w", res.StatusCode, ErrInvalidResponse, err))
	}
	if m.Fault != nil {
		return fail(m.Fault)
	}
	if res.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("HTTP %d without a SOAP fault", res.StatusCode))
	}
	if m.PayloadName.Space != op.NS || m.PayloadName.Local != op.Name+"Response" {
		return fail(fmt.Errorf("%w: the Body holds another element than %sResponse", ErrInvalidResponse, op.Name))
	}
	if err := c.contracts.Validate(op, m.Payload); err != nil {
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			return fail(fmt.Errorf("%w: %w", ErrInvalidResponse, err))
		}
		return fail(err)
	}
	if err := xml.Unmarshal(m.Payload, out); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalidResponse, err))
	}
	return nil
}
