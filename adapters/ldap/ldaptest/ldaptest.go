// Package ldaptest runs Debian's OpenLDAP server (/usr/sbin/slapd) for the
// ldap adapter's tests: a private instance with its own slapd.conf, an mdb
// database in a temporary directory and a free port on 127.0.0.1, stopped at
// the test's cleanup. A real server, because what matters is how a real one
// pages, limits and refers, which an in-process fake only imitates.
//
// The schema is core, cosine and inetorgperson from /etc/ldap/schema plus a
// tiny test schema (TestSchema) that gives hsaIdentity,
// personalIdentityNumber and hsaEndDate the names the HSA schema uses, in an
// auxiliary objectClass knutTestPerson, under a private test OID arc: the
// attribute names are what the adapter and the mapping see, the OIDs are not.
//
// Without slapd (apt-get install slapd ldap-utils) the tests are skipped
// locally and fail when CI is set, so CI never skips them silently.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Paths of Debian's packages slapd and ldap-utils.
const (
	SlapdPath   = "/usr/sbin/slapd"
	LDAPAddPath = "/usr/bin/ldapadd"
	SchemaDir   = "/etc/ldap/schema"
)

// The tree every Server holds.
const (
	Suffix          = "dc=kommun,dc=se"
	People          = "ou=people,dc=kommun,dc=se"
	AdminDN         = "cn=admin,dc=kommun,dc=se"
	ServiceDN       = "cn=knutpunkt,ou=services,dc=kommun,dc=se"
	AdminPassword   = "ldaptest-admin-7c41e2"
	ServicePassword = "ldaptest-service-9b03d5"
)

// TestSchema declares the HSA attributes the tests use (see the package doc).
const TestSchema = `# ldaptest: HSA attribute names for tests, private test OIDs (not HSA's).
attributetype ( 1.3.6.1.4.1.99999.7.1.1 NAME 'hsaIdentity'
	DESC 'HSA-ID (test schema)'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} )
attributetype ( 1.3.6.1.4.1.99999.7.1.2 NAME 'personalIdentityNumber'
	DESC 'personnummer (test schema)'
	EQUALITY caseIgnoreMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{32} SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.3 NAME 'hsaEndDate'
	DESC 'end of employment (test schema)'
	EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.7.2.1 NAME 'knutTestPerson'
	DESC 'HSA attributes on an inetOrgPerson (test schema)'
	SUP top AUXILIARY
	MAY ( hsaIdentity $ personalIdentityNumber $ hsaEndDate ) )
`

// Options change a Server's slapd.conf.
type Options struct {
	// SizeLimit is slapd's sizelimit for everyone but the rootdn: the most
	// entries one search may return, paged or not. 0 is unlimited.
	SizeLimit int
	// TLS makes slapd also listen for ldaps:// (Server.LDAPSURL) and offer
	// StartTLS, with a certificate for 127.0.0.1 from a CA of the test's own
	// (Server.CAFile).
	TLS bool
}

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:PORT.
	URL string
	// Addr is 127.0.0.1:PORT.
	Addr string
	// LDAPSURL is ldaps://127.0.0.1:PORT2 with Options.TLS, else empty.
	LDAPSURL string
	// CAFile is the PEM of the CA that signed slapd's certificate
	// (Options.TLS).
	CAFile string

	t    testing.TB
	dir  string
	conf string
	cmd  *exec.Cmd
	done chan struct{}
}

// Require skips t when slapd is not installed, or fails it when the
// environment variable CI is set.
func Require(t testing.TB) {
	t.Helper()
	for _, p := range []string{SlapdPath, LDAPAddPath, filepath.Join(SchemaDir, "inetorgperson.schema")} {
		if _, err := os.Stat(p); err != nil {
			msg := fmt.Sprintf("ldaptest: %s not found: install Debian's slapd and ldap-utils (apt-get install -y --no-install-recommends slapd ldap-utils)", p)
			if os.Getenv("CI") != "" {
				t.Fatal(msg + "; CI is set, so this fails instead of skipping")
			}
			t.Skip(msg)
		}
	}
}

// Start runs a slapd holding the suffix, ou=people and ou=services with
// the service account (ServiceDN, ServicePassword), which may read
// everything but passwords. It stops at t's cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "knut-test.schema"), []byte(TestSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	limit := "unlimited"
	if opts.SizeLimit > 0 {
		limit = strconv.Itoa(opts.SizeLimit)
	}
	conf := fmt.Sprintf(`include %[1]s/core.schema
include %[1]s/cosine.schema
include %[1]s/inetorgperson.schema
include %[2]s/knut-test.schema
pidfile %[2]s/slapd.pid
argsfile %[2]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
sizelimit size.soft=%[3]s size.hard=%[3]s size.prtotal=%[3]s
database mdb
maxsize 1073741824
suffix "%[4]s"
rootdn "%[5]s"
rootpw %[6]s
directory %[2]s/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
`, SchemaDir, dir, limit, Suffix, AdminDN, AdminPassword)
	s := &Server{t: t, dir: dir, conf: filepath.Join(dir, "slapd.conf")}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	s.URL = "ldap://" + s.Addr
	if opts.TLS {
		s.CAFile = filepath.Join(dir, "ca.pem")
		writeCerts(t, s.CAFile, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
		conf = fmt.Sprintf("TLSCertificateFile %[1]s/server.pem\nTLSCertificateKeyFile %[1]s/server-key.pem\n", dir) + conf
		s.LDAPSURL = "ldaps://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	}
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Up()
	t.Cleanup(s.Down)
	s.Add(t, fmt.Sprintf(`dn: %s
objectClass: dcObject
objectClass: organization
dc: kommun
o: Kommunen

dn: %s
objectClass: organizationalUnit
ou: people

dn: ou=services,%s
objectClass: organizationalUnit
ou: services

dn: %s
objectClass: person
cn: knutpunkt
sn: knutpunkt
userPassword: %s
`, Suffix, People, Suffix, ServiceDN, ServicePassword))
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Up starts slapd (again, after Down, with the same data and port) and
// waits until it accepts connections.
func (s *Server) Up() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	var logs bytes.Buffer
	// -d 0 keeps slapd in the foreground, so the test owns the process.
	urls := s.URL + "/"
	if s.LDAPSURL != "" {
		urls += " " + s.LDAPSURL + "/"
	}
	cmd := exec.Command(SlapdPath, "-f", s.conf, "-h", urls, "-d", "0")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("ldaptest: start slapd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for { // poll the real server's readiness
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			s.t.Fatalf("ldaptest: slapd exited at start: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			s.t.Fatalf("ldaptest: slapd did not listen on %s within 10s: %s", s.Addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd, s.done = cmd, done
}

// Down stops slapd (SIGTERM, then SIGKILL after 5s); the data stay for Up.
func (s *Server) Down() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Admin returns a connection bound as the rootdn, closed at t's cleanup.
func (s *Server) Admin(t testing.TB) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("ldaptest: dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		t.Fatalf("ldaptest: bind as admin: %v", err)
	}
	return c
}

// Add loads LDIF (entries separated by blank lines) with ldapadd as the
// rootdn; -M (ManageDsaIT) lets it add referral objects as they are.
func (s *Server) Add(t testing.TB, ldif string) {
	t.Helper()
	s.AddFile(t, writeTemp(t, ldif))
}

// AddFile is Add for an LDIF file.
func (s *Server) AddFile(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command(LDAPAddPath, "-x", "-M", "-H", s.URL, "-D", AdminDN, "-w", AdminPassword, "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ldaptest: ldapadd: %v: %s", err, firstLines(out, 5))
	}
}

func writeTemp(t testing.TB, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.ldif")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Person is a test entry below People: an inetOrgPerson with the test
// schema's HSA attributes. Empty fields are left out.
type Person struct {
	UID            string // the RDN: uid=UID,ou=people,…
	GivenName, SN  string
	HSAIDs         []string
	PersonalID     string
	Mail, Title    string
	OUs            []string
	EmployeeNumber string
	EndDate        string // GeneralizedTime, 20261231000000Z
	Description    string
}

// DN is the person's DN.
func (p Person) DN() string { return "uid=" + p.UID + "," + People }

// LDIF is the person as an LDIF record (values base64 where LDIF needs it).
func (p Person) LDIF() string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			writeAttr(&b, k, v)
		}
	}
	line("dn", p.DN())
	b.WriteString("objectClass: inetOrgPerson\nobjectClass: knutTestPerson\n")
	line("uid", p.UID)
	cn := strings.TrimSpace(p.GivenName + " " + p.SN)
	if cn == "" {
		cn = p.UID
	}
	line("cn", cn)
	sn := p.SN
	if sn == "" {
		sn = p.UID
	}
	line("sn", sn)
	line("givenName", p.GivenName)
	for _, h := range p.HSAIDs {
		line("hsaIdentity", h)
	}
	line("personalIdentityNumber", p.PersonalID)
	line("mail", p.Mail)
	line("title", p.Title)
	for _, o := range p.OUs {
		line("ou", o)
	}
	line("employeeNumber", p.EmployeeNumber)
	line("hsaEndDate", p.EndDate)
	line("description", p.Description)
	return b.String()
}

func writeAttr(b *strings.Builder, k, v string) {
	safe := v[0] != ' ' && v[0] != ':' && v[0] != '<' && v[len(v)-1] != ' '
	for i := 0; i < len(v) && safe; i++ {
		safe = v[i] >= 0x20 && v[i] < 0x7f
	}
	if safe {
		fmt.Fprintf(b, "%s: %s\n", k, v)
		return
	}
	fmt.Fprintf(b, "%s:: %s\n", k, base64.StdEncoding.EncodeToString([]byte(v)))
}

// Entries joins LDIF records into one LDIF.
func Entries(ps ...Person) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.LDIF())
	}
	return b.String()
}

// writeCerts writes a CA and a server certificate for 127.0.0.1 it signed.
func writeCerts(t testing.TB, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ldaptest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: leafDER},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
