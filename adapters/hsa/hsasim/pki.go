package hsasim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ClientHSAID is the HSA-ID in the test function certificate's subject
// serialNumber, as SITHS puts it there.
const ClientHSAID = "TSTNMT2321000156-KNUT"

// PKI is a test PKI in a directory: a self-signed CA, a server
// certificate for 127.0.0.1 and localhost, and a SITHS-style function
// certificate for the client (subject serialNumber = HSA-ID), as PEM files.
type PKI struct {
	Dir string
	// CAFile is the CA certificate (PEM), for both sides.
	CAFile string
	// ServerCert and ServerKey are the simulator's.
	ServerCert, ServerKey string
	// ClientCert is the client's certificate file; ClientKeyPEM its key,
	// which the adapter takes as a secret.
	ClientCert   string
	ClientKeyPEM string

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	n     int64
}

// NewPKI makes a PKI under dir (which must exist), valid from an hour ago
// for a year.
func NewPKI(dir string) (*PKI, error) {
	p := &PKI{Dir: dir}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Knutpunkt Test SITHS CA", Organization: []string{"Testkommun"}, Country: []string{"SE"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.n = 1
	p.CAFile = filepath.Join(dir, "ca.pem")
	if err := writePEM(p.CAFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	now := time.Now()
	cert, keyPEM, err := p.issue("server", pkix.Name{CommonName: "hsa.test"}, true, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, err
	}
	p.ServerCert = cert
	p.ServerKey = filepath.Join(dir, "server-key.pem")
	if err := os.WriteFile(p.ServerKey, []byte(keyPEM), 0o600); err != nil {
		return nil, err
	}
	p.ClientCert, p.ClientKeyPEM, err = p.IssueClient("client", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	return p, err
}

// oidSerialNumber is the subject attribute SITHS puts the HSA-ID in.
var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

// IssueClient issues a function certificate for ClientHSAID valid from
// notBefore to notAfter, written as name.pem; it returns the file and the
// key as PEM.
func (p *PKI) IssueClient(name string, notBefore, notAfter time.Time) (certFile, keyPEM string, err error) {
	subj := pkix.Name{CommonName: "Knutpunkt funktionscertifikat", Organization: []string{"Testkommun"}, Country: []string{"SE"},
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidSerialNumber, Value: ClientHSAID}}}
	return p.issue(name, subj, false, notBefore, notAfter)
}

func (p *PKI) issue(name string, subj pkix.Name, server bool, notBefore, notAfter time.Time) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	p.n++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.n),
		Subject:      subj,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost", "hsa.test"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return "", "", err
	}
	file := filepath.Join(p.Dir, name+".pem")
	if err := writePEM(file, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return file, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), nil
}

func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
