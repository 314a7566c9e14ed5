// Package soap is the SOAP 1.1 envelope of RIV-TA BP 2.1 as the hsa
// adapter and its simulator both speak it: document/literal, the
// LogicalAddress header of urn:riv:itintegration:registry:1, one payload
// element in the Body, and SOAP faults. It lives apart so that the client
// and the simulator cannot drift: both build, split and validate envelopes
// with the same code, and both validate every payload against the shipped
// RIV-TA XSDs (Contracts) with libxml2 through internal/schema.
//
// The XSDs describe the payload, not the envelope, so Split cuts the
// payload element out of the envelope byte for byte and carries the
// namespace declarations it inherits from Envelope and Body onto its own
// start tag; what libxml2 validates is exactly what was on the wire.
package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// Namespaces of the envelope.
const (
	EnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	RegistryNS = "urn:riv:itintegration:registry:1"
)

// ContentType is SOAP 1.1's.
const ContentType = "text/xml; charset=utf-8"

// Operation is one RIV-TA interaction: its name (the payload's element),
// the responder namespace, the SOAPAction the WSDL binds and the responder
// XSD under the contracts directory.
type Operation struct {
	Name   string
	NS     string
	Action string
	XSD    string
}

// The interactions the adapter uses.
var (
	GetEmployee = Operation{
		Name:   "GetEmployeeIncludingProtectedPerson",
		NS:     "urn:riv:infrastructure:directory:employee:GetEmployeeIncludingProtectedPersonResponder:2",
		Action: "urn:riv:infrastructure:directory:employee:GetEmployeeIncludingProtectedPersonResponder:2:GetEmployeeIncludingProtectedPerson",
		XSD:    "employee/2.2/interactions/GetEmployeeIncludingProtectedPersonInteraction/GetEmployeeIncludingProtectedPersonResponder_2.2.xsd",
	}
	GetCommissionMembers = Operation{
		Name:   "GetCommissionMembers",
		NS:     "urn:riv:infrastructure:directory:employee:GetCommissionMembersResponder:2",
		Action: "urn:riv:infrastructure:directory:employee:GetCommissionMembersResponder:2:GetCommissionMembers",
		XSD:    "employee/2.2/interactions/GetCommissionMembersInteraction/GetCommissionMembersResponder_2.1.xsd",
	}
	GetCredentials = Operation{
		Name:   "GetCredentialsForPersonIncludingProtectedPerson",
		NS:     "urn:riv:infrastructure:directory:authorizationmanagement:GetCredentialsForPersonIncludingProtectedPersonResponder:2",
		Action: "urn:riv:infrastructure:directory:authorizationmanagement:GetCredentialsForPersonIncludingProtectedPersonResponder:2:GetCredentialsForPersonIncludingProtectedPerson",
		XSD:    "authorizationmanagement/2.3/interactions/GetCredentialsForPersonIncludingProtectedPersonInteraction/GetCredentialsForPersonIncludingProtectedPersonResponder_2.2.xsd",
	}
	// Operations lists them all.
	Operations = []Operation{GetEmployee, GetCommissionMembers, GetCredentials}
)

// ByAction returns the operation bound to a SOAPAction (quoted or not).
func ByAction(action string) (Operation, bool) {
	action = strings.Trim(action, `"`)
	for _, op := range Operations {
		if op.Action == action {
			return op, true
		}
	}
	return Operation{}, false
}

// Contracts are the compiled responder XSDs of Operations.
type Contracts struct {
	dir string
	xsd map[string]*schema.XSD
}

// LoadContracts compiles the responder XSDs under dir (the riv-ta-hsa
// folder holding employee/ and authorizationmanagement/).
func LoadContracts(dir string) (*Contracts, error) {
	c := &Contracts{dir: dir, xsd: map[string]*schema.XSD{}}
	for _, op := range Operations {
		x, err := schema.LoadXSD(filepath.Join(dir, filepath.FromSlash(op.XSD)))
		if err != nil {
			return nil, fmt.Errorf("contracts %s: %s: %w", dir, op.Name, err)
		}
		c.xsd[op.Name] = x
	}
	return c, nil
}

// Validate checks a payload element (request or response) of op against
// its responder XSD. The error lists the XSD's problems (element paths and
// rules, never values: internal/schema rewords libxml2's texts).
//
// internal/schema parses at most schema.DefaultMaxXMLElements elements
// per document, fewer than an answer of 20,000 members holds. A larger
// payload is validated in parts: its root start tag (which carries every
// namespace declaration the payload inherits), as many whole top-level
// children as keep under the limit, its end tag. The payload types are
// sequences of repeated children, so each part is an instance of the same
// type and every byte of the payload is validated against the XSD.
func (c *Contracts) Validate(op Operation, payload []byte) error {
	x := c.xsd[op.Name]
	if x == nil {
		return fmt.Errorf("no contract for %s", op.Name)
	}
	if bytes.Count(payload, []byte("<")) < partElements {
		return x.Validate(payload)
	}
	return validateParts(x, payload)
}

// partElements bounds the tags of one part (each element has at most two).
const partElements = schema.DefaultMaxXMLElements * 9 / 10

func validateParts(x *schema.XSD, payload []byte) error {
	d := xml.NewDecoder(bytes.NewReader(payload))
	var root []byte
	for root == nil {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotSOAP, err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			root = payload[:d.InputOffset()]
		}
	}
	i := bytes.IndexAny(root, " \t\r\n/>")
	if i < 0 || bytes.HasSuffix(root, []byte("/>")) {
		return x.Validate(payload)
	}
	start := bytes.IndexByte(root, '<')
	end := []byte("</" + string(root[start+1:i]) + ">")
	part := append([]byte(nil), root...)
	tags := 0
	flush := func() error {
		part = append(part, end...)
		err := x.Validate(part)
		part, tags = append(part[:0], root...), 0
		return err
	}
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotSOAP, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return flush()
		case xml.StartElement:
			_ = t
			if err := d.Skip(); err != nil {
				return fmt.Errorf("%w: %v", ErrNotSOAP, err)
			}
			child := payload[off:d.InputOffset()]
			n := bytes.Count(child, []byte("<"))
			if tags > 0 && tags+n > partElements {
				if err := flush(); err != nil {
					return err
				}
			}
			part = append(part, child...)
			tags += n
		default:
			part = append(part, payload[off:d.InputOffset()]...)
		}
	}
}

// Envelope wraps payload in a SOAP 1.1 envelope whose header carries the
// LogicalAddress.
func Envelope(logicalAddress string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payload) + 320)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<soap:Envelope xmlns:soap="` + EnvelopeNS + `"><soap:Header>`)
	if logicalAddress != "" {
		b.WriteString(`<itr:LogicalAddress xmlns:itr="` + RegistryNS + `">`)
		Escape(&b, logicalAddress)
		b.WriteString(`</itr:LogicalAddress>`)
	}
	b.WriteString(`</soap:Header><soap:Body>`)
	b.Write(payload)
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes()
}

// FaultEnvelope is a SOAP 1.1 fault (code soap:Client or soap:Server).
func FaultEnvelope(code, reason string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="` + EnvelopeNS +
		`"><soap:Body><soap:Fault><faultcode>soap:`)
	Escape(&b, code)
	b.WriteString(`</faultcode><faultstring>`)
	Escape(&b, reason)
	b.WriteString(`</faultstring></soap:Fault></soap:Body></soap:Envelope>`)
	return b.Bytes()
}

// Escape writes s as XML character data (also \r and \t as references, so
// they survive a parse).
func Escape(w io.Writer, s string) {
	_ = xml.EscapeText(w, []byte(s))
}

// Message is a split envelope.
type Message struct {
	// LogicalAddress is the header's, "" when absent.
	LogicalAddress string
	// Payload is the Body's element with its inherited namespace
	// declarations; nil for a fault.
	Payload []byte
	// PayloadName is the payload element's namespace and local name.
	PayloadName xml.Name
	// Fault is set when the Body holds a soap:Fault.
	Fault *Fault
}

// Fault is a SOAP 1.1 fault.
type Fault struct {
	Code   string `xml:"faultcode"`
	Reason string `xml:"faultstring"`
}

// longDigits are runs that could be a personnummer.
var longDigits = regexp.MustCompile(`[0-9][0-9 +-]{8,}[0-9]`)

// Error reads "SOAP fault soap:Server: reason", the reason cut to 160
// bytes with digit runs that could be a personnummer masked: a server's
// text is not ours to trust.
func (f *Fault) Error() string {
	r := longDigits.ReplaceAllString(f.Reason, "…")
	if len(r) > 160 {
		r = strings.ToValidUTF8(r[:160], "") + "…"
	}
	return fmt.Sprintf("SOAP fault %s: %s", strings.TrimSpace(f.Code), strings.TrimSpace(r))
}

// ErrNotSOAP is wrapped by Split's errors for a body that is no SOAP 1.1
// envelope.
var ErrNotSOAP = errors.New("not a SOAP 1.1 envelope")

// limits bound an envelope before encoding/xml sees it: its size is
// bounded by the caller (an answer of 20,000 members has about 200,000
// elements).
var limits = schema.XMLLimits{MaxElements: 4_000_000}

// Split parses a SOAP 1.1 envelope: DTDs are refused, sizes are bounded
// (schema.XMLLimits), Envelope and Body must be in the SOAP 1.1 namespace
// and the Body must hold exactly one element.
func Split(body []byte) (Message, error) {
	if err := limits.Check(body); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrNotSOAP, err)
	}
	if bytes.Contains(body, []byte("<!DOCTYPE")) || bytes.Contains(body, []byte("<!ENTITY")) {
		return Message{}, fmt.Errorf("%w: a DOCTYPE is not allowed", ErrNotSOAP)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	var m Message
	var inherited []xml.Attr
	next := func() (xml.StartElement, int64, error) { // next start element at this level
		for {
			off := d.InputOffset()
			tok, err := d.Token()
			if err != nil {
				return xml.StartElement{}, 0, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				return t, off, nil
			case xml.EndElement:
				return xml.StartElement{}, 0, io.EOF
			case xml.CharData:
				if len(bytes.TrimSpace(t)) > 0 {
					return xml.StartElement{}, 0, errors.New("text where an element belongs")
				}
			}
		}
	}
	env, _, err := next()
	if err != nil || env.Name.Space != EnvelopeNS || env.Name.Local != "Envelope" {
		return m, fmt.Errorf("%w: want soap:Envelope of %s", ErrNotSOAP, EnvelopeNS)
	}
	inherited = append(inherited, nsDecls(env.Attr)...)
	el, _, err := next()
	if err != nil {
		return m, fmt.Errorf("%w: no Body", ErrNotSOAP)
	}
	if el.Name.Space == EnvelopeNS && el.Name.Local == "Header" {
		for {
			h, _, err := next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return m, fmt.Errorf("%w: header: %v", ErrNotSOAP, err)
			}
			if h.Name.Space == RegistryNS && h.Name.Local == "LogicalAddress" {
				var s string
				if err := d.DecodeElement(&s, &h); err != nil {
					return m, fmt.Errorf("%w: LogicalAddress: %v", ErrNotSOAP, err)
				}
				m.LogicalAddress = strings.TrimSpace(s)
			} else if err := d.Skip(); err != nil {
				return m, fmt.Errorf("%w: header: %v", ErrNotSOAP, err)
			}
		}
		if el, _, err = next(); err != nil {
			return m, fmt.Errorf("%w: no Body", ErrNotSOAP)
		}
	}
	if el.Name.Space != EnvelopeNS || el.Name.Local != "Body" {
		return m, fmt.Errorf("%w: want soap:Body", ErrNotSOAP)
	}
	inherited = append(inherited, nsDecls(el.Attr)...)
	p, start, err := next()
	if err != nil {
		return m, fmt.Errorf("%w: the Body holds no element", ErrNotSOAP)
	}
	m.PayloadName = p.Name
	if p.Name.Space == EnvelopeNS && p.Name.Local == "Fault" {
		f := &Fault{}
		if err := d.DecodeElement(f, &p); err != nil {
			return m, fmt.Errorf("%w: fault: %v", ErrNotSOAP, err)
		}
		m.Fault = f
		return m, nil
	}
	if err := d.Skip(); err != nil {
		return m, fmt.Errorf("%w: body: %v", ErrNotSOAP, err)
	}
	end := d.InputOffset()
	if _, _, err := next(); err != io.EOF {
		return m, fmt.Errorf("%w: the Body holds more than one element", ErrNotSOAP)
	}
	m.Payload = withNamespaces(body[start:end], p.Attr, inherited)
	return m, nil
}

// nsDecls returns the namespace declarations among attrs.
func nsDecls(attrs []xml.Attr) []xml.Attr {
	var out []xml.Attr
	for _, a := range attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			out = append(out, a)
		}
	}
	return out
}

// withNamespaces inserts into raw's start tag the inherited declarations it
// does not make itself (innermost wins).
func withNamespaces(raw []byte, own, inherited []xml.Attr) []byte {
	declared := map[string]bool{}
	for _, a := range nsDecls(own) {
		declared[a.Name.Space+":"+a.Name.Local] = true
	}
	var add bytes.Buffer
	for i := len(inherited) - 1; i >= 0; i-- {
		a := inherited[i]
		k := a.Name.Space + ":" + a.Name.Local
		if declared[k] {
			continue
		}
		declared[k] = true
		if a.Name.Space == "xmlns" {
			add.WriteString(" xmlns:" + a.Name.Local + `="`)
		} else {
			add.WriteString(` xmlns="`)
		}
		_ = xml.EscapeText(&add, []byte(a.Value))
		add.WriteByte('"')
	}
	if add.Len() == 0 {
		return raw
	}
	i := bytes.IndexAny(raw, " \t\r\n/>")
	if i < 0 {
		return raw
	}
	out := make([]byte, 0, len(raw)+add.Len())
	out = append(out, raw[:i]...)
	out = append(out, add.Bytes()...)
	return append(out, raw[i:]...)
}
