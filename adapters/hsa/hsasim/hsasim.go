// Package hsasim is an HSA directory speaking the RIV-TA contracts the hsa
// adapter calls (GetCommissionMembers, GetEmployeeIncludingProtectedPerson,
// GetCredentialsForPersonIncludingProtectedPerson) on a real HTTPS socket
// with mutual TLS, so the adapter is tested against the protocol rather
// than a mock: every request is validated against the shipped XSDs
// (refused with a SOAP fault when invalid), and so is every answer it
// gives, unless told to give an invalid one.
//
// It serves a set of staff with test HSA-IDs (TSTNMT2321000156-…) and
// Skatteverket's official test personnummer, their commissions and
// protected persons, and moves over simulated days: AddEmployee (a
// joiner), RemoveEmployee (a leaver gone from the directory),
// EndCommission and NextDay. Fault injection: Down/Up (connection
// refused), SetFault (a SOAP fault, an answer violating the XSD, a
// truncated answer) for every call or from the Nth call on.
package hsasim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/hsa/internal/soap"
)

// Staff is a person the directory lists.
type Staff struct {
	HSAID      string
	PersonID   string // 12 digits, an official test personnummer
	GivenName  string
	FamilyName string
	Mail       string
	Title      string
	Protected  bool
	EndDate    time.Time // last day of employment; zero: none
	// Commissions are the person's medarbetaruppdrag.
	Commissions []Commission
}

// Commission is a medarbetaruppdrag.
type Commission struct {
	HSAID         string
	Name          string
	Purpose       string
	UnitHSAID     string
	UnitName      string
	ProviderHSAID string
	ProviderName  string
	ProviderOrgNo string
	From          time.Time // first day; zero: always
	To            time.Time // last day; zero: open-ended
}

// activeOn reports whether c is in force on day.
func (c Commission) activeOn(day time.Time) bool {
	return (c.From.IsZero() || !day.Before(c.From)) && (c.To.IsZero() || !day.After(c.To))
}

// Fault is an injected failure.
type Fault int

// The injectable failures.
const (
	NoFault      Fault = iota
	SOAPFault          // a soap:Server fault, HTTP 500
	Invalid            // a 200 answer violating the XSD
	Truncated          // the answer cut off mid-body
	UnknownAll         // every person unknown (empty answers to person queries)
	InvalidHSAID       // member HSA-IDs malformed (valid XSD, bad format)
)

// Options configure a Server.
type Options struct {
	// Contracts is the riv-ta-hsa directory. Required.
	Contracts string
	// PKI gives the server certificate and the CA that signs client
	// certificates. Required.
	PKI *PKI
	// LogicalAddress, when set, is the only one accepted.
	LogicalAddress string
	// Today is the first simulated day; default today (UTC).
	Today time.Time
}

// Server is a running simulator.
type Server struct {
	// URL is the service endpoint, https://127.0.0.1:port/hsa.
	URL string

	opts      Options
	contracts *soap.Contracts
	tls       *tls.Config
	addr      string

	mu       sync.Mutex
	staff    map[string]*Staff
	today    time.Time
	fault    Fault
	faultOp  string
	faultAt  int
	calls    int
	requests map[string]int
	srv      *http.Server
	down     bool
	inFlight int
	maxIn    int
}

// Start starts a simulator on 127.0.0.1 (a free port).
func Start(opts Options) (*Server, error) {
	c, err := soap.LoadContracts(opts.Contracts)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(opts.PKI.ServerCert, opts.PKI.ServerKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(opts.PKI.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if opts.Today.IsZero() {
		opts.Today = time.Now().UTC()
	}
	s := &Server{
		opts: opts, contracts: c, staff: map[string]*Staff{}, requests: map[string]int{},
		today: day(opts.Today),
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: pool, MinVersion: tls.VersionTLS12},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.URL = "https://" + s.addr + "/hsa"
	s.serve(ln)
	return s, nil
}

func day(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }

func (s *Server) serve(ln net.Listener) {
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil}
	s.srv.ErrorLog = discardLog
	srv := s.srv
	go func() { _ = srv.Serve(tls.NewListener(ln, s.tls)) }()
}

// Close stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
	s.down = true
}

// Down closes the socket (connections refused) until Up.
func (s *Server) Down() { s.Close() }

// Up listens again on the same address and clears any fault.
func (s *Server) Up() {
	s.mu.Lock()
	s.fault = NoFault
	if !s.down {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		panic(fmt.Sprintf("hsasim: listen again on %s: %v", s.addr, err))
	}
	s.mu.Lock()
	s.down = false
	s.serve(ln)
	s.mu.Unlock()
}

// SetFault injects f into calls of op ("" for every operation) from the
// at-th such call counted from now (1 = the next); NoFault clears it.
func (s *Server) SetFault(f Fault, op string, at int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.faultOp, s.faultAt, s.calls = f, op, max(at, 1), 0
}

// Requests counts the requests per operation received so far (invalid
// ones included).
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[op]
}

// MaxInFlight is the most requests the server has handled at once: 1 for
// a client that calls one at a time, as the contract asks.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// Today is the simulated day.
func (s *Server) Today() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.today
}

// NextDay moves the simulated day on by one.
func (s *Server) NextDay() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.today = s.today.AddDate(0, 0, 1)
}

// AddEmployee adds (or replaces) a person: a joiner.
func (s *Server) AddEmployee(p Staff) {
	p.Commissions = slices.Clone(p.Commissions)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staff[p.HSAID] = &p
}

// RemoveEmployee removes a person from the directory: a leaver.
func (s *Server) RemoveEmployee(hsaID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.staff[hsaID]
	delete(s.staff, hsaID)
	return ok
}

// EndEmployment sets a person's last day of employment.
func (s *Server) EndEmployment(hsaID string, last time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.staff[hsaID]
	if ok {
		p.EndDate = day(last)
	}
	return ok
}

// EndCommission makes a person's commission end on last (its last day);
// after that day the person is no longer its member.
func (s *Server) EndCommission(hsaID, commissionHSAID string, last time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.staff[hsaID]
	if !ok {
		return false
	}
	for i := range p.Commissions {
		if p.Commissions[i].HSAID == commissionHSAID {
			p.Commissions[i].To = day(last)
			return true
		}
	}
	return false
}

// Len is the number of persons listed.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.staff)
}

// request is every field the three requests may carry.
type request struct {
	PersonHSAID  string `xml:"personHsaId"`
	PersonalID   string `xml:"personalIdentityNumber"`
	UnitHSAID    string `xml:"healthCareUnitHsaId"`
	Purpose      string `xml:"commissionPurpose"`
	SearchBase   string `xml:"searchBase"`
	IncludeFeign string `xml:"includeFeignedObject"`
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeFault(w, http.StatusMethodNotAllowed, "Client", "POST a SOAP 1.1 envelope")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	op, ok := soap.ByAction(r.Header.Get("SOAPAction"))
	if !ok {
		writeFault(w, http.StatusInternalServerError, "Client", "unknown SOAPAction")
		return
	}
	s.mu.Lock()
	s.requests[op.Name]++
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	m, err := soap.Split(body)
	if err != nil {
		writeFault(w, http.StatusInternalServerError, "Client", err.Error())
		return
	}
	if m.PayloadName.Space != op.NS || m.PayloadName.Local != op.Name {
		writeFault(w, http.StatusInternalServerError, "Client", "the Body's element does not match the SOAPAction")
		return
	}
	if s.opts.LogicalAddress != "" && m.LogicalAddress != s.opts.LogicalAddress {
		writeFault(w, http.StatusInternalServerError, "Client", "unknown LogicalAddress")
		return
	}
	if err := s.contracts.Validate(op, m.Payload); err != nil {
		writeFault(w, http.StatusInternalServerError, "Client", "request violates "+op.Name+": "+err.Error())
		return
	}
	var req request
	if err := xml.Unmarshal(m.Payload, &req); err != nil {
		writeFault(w, http.StatusInternalServerError, "Client", "request: "+err.Error())
		return
	}
	s.mu.Lock()
	fault := NoFault
	if s.fault != NoFault && (s.faultOp == "" || s.faultOp == op.Name) {
		if s.calls++; s.calls >= s.faultAt {
			fault = s.fault
		}
	}
	var payload []byte
	switch op.Name {
	case soap.GetCommissionMembers.Name:
		payload = s.members(req, fault)
	case soap.GetEmployee.Name:
		payload = s.employee(req, fault)
	case soap.GetCredentials.Name:
		payload = s.credentials(req, fault)
	}
	s.mu.Unlock()
	switch fault {
	case SOAPFault:
		writeFault(w, http.StatusInternalServerError, "Server", "simulated directory failure")
		return
	case Invalid:
		// A required element missing (personHsaId before middleAndSurName).
		payload = bytes.Replace(payload, []byte("middleAndSurName>"), []byte("middleAndSurNameX>"), -1)
		payload = append(payload[:len(payload)-len("</"+op.Name+"Response>")], []byte("<bogus/></"+op.Name+"Response>")...)
	default:
		if err := s.contracts.Validate(op, payload); err != nil {
			writeFault(w, http.StatusInternalServerError, "Server", "hsasim built an invalid answer: "+err.Error())
			return
		}
	}
	env := soap.Envelope("", payload)
	w.Header().Set("Content-Type", soap.ContentType)
	if fault == Truncated {
		w.Header().Set("Content-Length", fmt.Sprint(len(env)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(env[:len(env)/2])
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	_, _ = w.Write(env)
}

func writeFault(w http.ResponseWriter, status int, code, reason string) {
	w.Header().Set("Content-Type", soap.ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(soap.FaultEnvelope(code, reason))
}

// Namespaces of the answers' inner elements.
const (
	employeeCoreNS = "urn:riv:infrastructure:directory:employee:2"
	employeeM2NS   = "urn:riv:infrastructure:directory:employee:2.2"
	authCoreNS     = "urn:riv:infrastructure:directory:authorizationmanagement:2"
	authM1NS       = "urn:riv:infrastructure:directory:authorizationmanagement:2.1"
)

func (s *Server) lookup(req request) *Staff {
	if req.PersonHSAID != "" {
		return s.staff[req.PersonHSAID]
	}
	for _, p := range s.staff {
		if p.PersonID == req.PersonalID {
			return p
		}
	}
	return nil
}

// members answers GetCommissionMembers: everyone with a commission of the
// unit and purpose in force today, sorted by HSA-ID.
func (s *Server) members(req request, f Fault) []byte {
	var ps []*Staff
	for _, p := range s.staff {
		for _, c := range p.Commissions {
			if c.UnitHSAID == req.UnitHSAID && c.Purpose == req.Purpose && c.activeOn(s.today) {
				ps = append(ps, p)
				break
			}
		}
	}
	slices.SortFunc(ps, func(a, b *Staff) int {
		if a.HSAID < b.HSAID {
			return -1
		}
		if a.HSAID > b.HSAID {
			return 1
		}
		return 0
	})
	op := soap.GetCommissionMembers
	var b bytes.Buffer
	b.Grow(len(ps) * 420)
	b.WriteString(`<` + op.Name + `Response xmlns="` + op.NS + `" xmlns:c="` + employeeCoreNS + `" xmlns:m2="` + employeeM2NS + `">`)
	for _, p := range ps {
		writePerson(&b, p, f)
	}
	b.WriteString(`</` + op.Name + `Response>`)
	return b.Bytes()
}

func (s *Server) employee(req request, f Fault) []byte {
	op := soap.GetEmployee
	var b bytes.Buffer
	b.WriteString(`<` + op.Name + `Response xmlns="` + op.NS + `" xmlns:c="` + employeeCoreNS + `" xmlns:m2="` + employeeM2NS + `">`)
	if p := s.lookup(req); p != nil && f != UnknownAll {
		writePerson(&b, p, f)
	}
	b.WriteString(`</` + op.Name + `Response>`)
	return b.Bytes()
}

func writePerson(b *bytes.Buffer, p *Staff, f Fault) {
	el := func(name, v string) {
		b.WriteString("<c:" + name + ">")
		soap.Escape(b, v)
		b.WriteString("</c:" + name + ">")
	}
	b.WriteString("<personInformation>")
	id := p.HSAID
	if f == InvalidHSAID {
		id = "hsa id " + id
	}
	el("personHsaId", id)
	if p.GivenName != "" {
		el("givenName", p.GivenName)
	}
	el("middleAndSurName", p.FamilyName)
	if p.Mail != "" {
		el("mail", p.Mail)
	}
	if p.Title != "" {
		el("title", p.Title)
	}
	el("dn", "CN="+p.HSAID+",OU=Hemtjanst,O=Testkommun,C=SE")
	if p.Protected {
		el("protectedPerson", "true")
	}
	if !p.EndDate.IsZero() {
		el("personEndDate", p.EndDate.Format("2006-01-02")+"T23:59:59")
	}
	b.WriteString("<m2:gender>0</m2:gender></personInformation>")
}

func (s *Server) credentials(req request, f Fault) []byte {
	op := soap.GetCredentials
	var b bytes.Buffer
	b.WriteString(`<` + op.Name + `Response xmlns="` + op.NS + `" xmlns:c="` + authCoreNS + `" xmlns:m1="` + authM1NS + `">`)
	p := s.lookup(req)
	if p != nil && f != UnknownAll {
		el := func(prefix, name, v string) {
			b.WriteString("<" + prefix + ":" + name + ">")
			soap.Escape(&b, v)
			b.WriteString("</" + prefix + ":" + name + ">")
		}
		b.WriteString("<credentialInformation>")
		if p.GivenName != "" {
			el("c", "givenName", p.GivenName)
		}
		el("c", "middleAndSurName", p.FamilyName)
		el("c", "personHsaId", p.HSAID)
		if p.Protected {
			el("c", "protectedPerson", "true")
		}
		for _, c := range p.Commissions {
			b.WriteString("<c:commission>")
			el("c", "commissionName", c.Name)
			el("c", "commissionHsaId", c.HSAID)
			el("c", "commissionPurpose", c.Purpose)
			el("c", "healthCareUnitHsaId", c.UnitHSAID)
			if c.UnitName != "" {
				el("c", "healthCareUnitName", c.UnitName)
			}
			if !c.From.IsZero() {
				el("c", "healthCareUnitStartDate", c.From.Format("2006-01-02")+"T00:00:00")
			}
			if !c.To.IsZero() {
				el("c", "healthCareUnitEndDate", c.To.Format("2006-01-02")+"T23:59:59")
			}
			el("c", "healthCareProviderHsaId", c.ProviderHSAID)
			el("c", "healthCareProviderName", c.ProviderName)
			el("c", "healthCareProviderOrgNo", c.ProviderOrgNo)
			b.WriteString("</c:commission>")
		}
		if p.PersonID != "" {
			b.WriteString("<m1:personalIdentity>")
			el("m1", "root", "1.2.752.129.2.1.3.1")
			el("m1", "extension", p.PersonID)
			b.WriteString("</m1:personalIdentity>")
		}
		b.WriteString("</credentialInformation>")
	}
	b.WriteString(`</` + op.Name + `Response>`)
	return b.Bytes()
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.down = nil, true
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}
