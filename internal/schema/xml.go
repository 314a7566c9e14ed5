package schema

/*
#include <stdlib.h>
#include "libxml2_shim.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/knutpunkt/knutpunkt/internal/textenc"
)

// ParseError reports why ParseXML refused a document. Line and Column
// are 1-based when known (Column counts bytes for the pre-scan's
// refusals); Offset is the byte offset for encoding errors and the
// pre-scan's refusals (XMLLimits.Check), -1 otherwise. Reason never quotes DTD or entity
// content, so an attacker's payload cannot be reflected into logs.
type ParseError struct {
	Line   int
	Column int
	Offset int
	Reason string
}

// Error reads "xml: line 3, column 5: reason" or "xml: reason".
func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("xml: line %d, column %d: %s", e.Line, e.Column, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("xml: line %d: %s", e.Line, e.Reason)
	}
	return "xml: " + e.Reason
}

// reasonDOCTYPE is the single refusal text for every DTD-bearing
// document: XXE, external DTDs and billion laughs all look the same.
const reasonDOCTYPE = "DOCTYPE is not allowed (DTDs and entities are refused)"

// XMLDocument is a parsed document owned by one goroutine at a time. It
// holds C memory: call Free when done (a GC cleanup frees it otherwise,
// but late). Nodes obtained from it are invalid after Free.
type XMLDocument struct {
	mu      sync.Mutex // guards ptr against Free racing a late use
	ptr     C.xmlDocPtr
	cleanup runtime.Cleanup
}

// XMLNode is a node of an XMLDocument, handed out by Each and Node so
// repeating groups can be read relative to each occurrence. It is only
// valid until its document is freed.
type XMLNode struct {
	doc  *XMLDocument
	node *C.xmlNode
}

// ParseXML is the hub's only way to parse XML. It refuses anything with
// a DOCTYPE (so no DTD, internal or external entity is ever processed)
// and never touches the network. The document is read in the encoding
// its XML declaration names (UTF-8, US-ASCII, ISO-8859-1 or Windows-1252,
// package textenc) and must be UTF-8 without one; bytes that are not
// characters in it are refused with their offset. Before libxml2 runs,
// the body must keep within the default XMLLimits. Errors are
// *ParseError.
func ParseXML(body []byte) (*XMLDocument, error) {
	if len(body) == 0 {
		return nil, &ParseError{Line: 1, Offset: -1, Reason: "document is empty"}
	}
	text, err := xmlText(body)
	if err != nil {
		return nil, err
	}
	if off := doctypeOffset(body); off >= 0 {
		return nil, &ParseError{Line: lineAt(body, off), Offset: -1, Reason: reasonDOCTYPE}
	}
	if len(text) > int(^uint32(0)>>1) {
		return nil, &ParseError{Offset: -1, Reason: "document larger than 2 GiB"}
	}
	// libxml2's cost is quadratic in attributes per element; the
	// pre-scan is linear and refuses such bodies before libxml2 runs.
	if err := (XMLLimits{}).Check(body); err != nil {
		return nil, err
	}
	initLibxml2()
	errs := newErrs()
	cbuf := C.CBytes(text)
	defer C.free(cbuf)
	var hasDTD C.int
	ptr := C.kp_parse((*C.char)(cbuf), C.int(len(text)), C.int(parseOptions), errs, &hasDTD)
	ps, _ := drainErrs(errs)
	if hasDTD != 0 {
		return nil, &ParseError{Line: 1, Offset: -1, Reason: reasonDOCTYPE}
	}
	if ptr == nil {
		pe := &ParseError{Line: 1, Offset: -1, Reason: "document is not well-formed"}
		if len(ps) > 0 {
			// The first error is the cause; later ones are usually fallout.
			pe.Line, pe.Column, pe.Reason = ps[0].line, ps[0].col, ps[0].msg
		}
		return nil, pe
	}
	d := &XMLDocument{ptr: ptr}
	d.cleanup = runtime.AddCleanup(d, func(p C.xmlDocPtr) { C.xmlFreeDoc(p) }, ptr)
	return d, nil
}

// xmlText returns body as the UTF-8 libxml2 is told it is (kp_parse
// names the encoding, so libxml2 never decodes by itself): the same bytes
// when body is UTF-8, decoded by textenc when its declaration names
// ISO-8859-1 or Windows-1252, with the declaration then saying UTF-8.
// Decoding here rather than in libxml2 reads a document as the CSV
// reader reads the same bytes (ISO-8859-1 as Windows-1252), does not
// depend on the iconv libxml2 was built with (Windows-1252 is not among
// its own encodings), and says which byte at which offset is wrong.
// Offsets and lines are the body's: the encodings are single-byte, so
// lines do not move.
func xmlText(body []byte) ([]byte, error) {
	label, at, declared := textenc.XMLEncoding(body)
	cs := textenc.UTF8
	if declared {
		c, err := textenc.Lookup(label)
		if err != nil || c == textenc.Auto {
			reason := "the XML declaration names an encoding that is not supported (supported: " + textenc.Supported + ")"
			if ue, ok := errors.AsType[*textenc.UnsupportedError](err); ok {
				reason = "the XML declaration's encoding: " + ue.Error()
			}
			return nil, &ParseError{Line: 1, Offset: -1, Reason: reason}
		}
		cs = c
	}
	if bytes.HasPrefix(body, []byte(textenc.BOM)) && cs != textenc.UTF8 {
		return nil, &ParseError{Line: 1, Offset: 0, Reason: fmt.Sprintf("the document starts with a UTF-8 byte order mark but its XML declaration says %s", cs)}
	}
	text, _, err := textenc.Decode(body, cs)
	if err != nil {
		reason := err.Error()
		if declared {
			reason += fmt.Sprintf(" (the XML declaration says %s)", cs)
		} else {
			reason += `: XML that declares no encoding must be UTF-8 (a Latin-1 document says encoding="ISO-8859-1" or "windows-1252" in its XML declaration)`
		}
		pe := &ParseError{Line: 1, Offset: -1, Reason: reason}
		if te, ok := errors.AsType[*textenc.Error](err); ok {
			pe.Line, pe.Offset = lineAt(body, te.Offset), te.Offset
		}
		return nil, pe
	}
	if cs == textenc.Latin1 || cs == textenc.Windows1252 {
		// Only ASCII comes before the name, so it sits at the same offset
		// in text.
		text = slices.Concat(text[:at], []byte("UTF-8"), text[at+len(label):])
	}
	return text, nil
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

func lineAt(b []byte, off int) int {
	return bytes.Count(b[:off], []byte("\n")) + 1
}

// doctypeOffset scans the prolog (XMLDecl, comments, PIs, white space)
// up to the first element and returns where a DOCTYPE starts, or -1. A
// DOCTYPE may only appear there; one later in the document is a
// well-formedness error that libxml2 reports without reading it.
func doctypeOffset(body []byte) int {
	b := bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			i := bytes.Index(b, []byte("?>"))
			if i < 0 {
				return -1
			}
			b = b[i+2:]
		case bytes.HasPrefix(b, []byte("<!--")):
			i := bytes.Index(b[4:], []byte("-->"))
			if i < 0 {
				return -1
			}
			b = b[4+i+3:]
		case bytes.HasPrefix(b, []byte("<!")):
			if len(b) >= 9 && bytes.EqualFold(b[2:9], []byte("DOCTYPE")) {
				return len(body) - len(b)
			}
			return -1
		default:
			return -1
		}
	}
}

// Free releases the document's C memory. It is idempotent.
func (d *XMLDocument) Free() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ptr == nil {
		return
	}
	d.cleanup.Stop()
	C.xmlFreeDoc(d.ptr)
	d.ptr = nil
}

// Node returns the document node, the context for evaluating a compiled
// XPath against the whole document.
func (d *XMLDocument) Node() *XMLNode {
	return &XMLNode{doc: d, node: (*C.xmlNode)(unsafe.Pointer(d.ptr))}
}

// Values returns the string value of every node expr selects (element
// text content, attribute value), or the single result of an expression
// of type string, number or boolean. ns maps prefixes used in expr to
// namespace URIs. No match gives an empty slice and no error.
func (d *XMLDocument) Values(expr string, ns map[string]string) ([]string, error) {
	return d.Node().Values(expr, ns)
}

// Value returns the first of Values and whether there was one.
func (d *XMLDocument) Value(expr string, ns map[string]string) (string, bool, error) {
	return d.Node().Value(expr, ns)
}

// Each calls fn for every node expr selects, in document order, so
// repeating groups can be read with XPaths relative to each node. It
// stops at the first error fn returns and returns it.
func (d *XMLDocument) Each(expr string, ns map[string]string, fn func(*XMLNode) error) error {
	return d.Node().Each(expr, ns, fn)
}

// Values is XMLDocument.Values relative to n.
func (n *XMLNode) Values(expr string, ns map[string]string) ([]string, error) {
	x, err := compileOnce(expr)
	if err != nil {
		return nil, err
	}
	defer x.free()
	return x.Values(n, ns)
}

// Value is XMLDocument.Value relative to n.
func (n *XMLNode) Value(expr string, ns map[string]string) (string, bool, error) {
	vs, err := n.Values(expr, ns)
	if err != nil || len(vs) == 0 {
		return "", false, err
	}
	return vs[0], true, nil
}

// Each is XMLDocument.Each relative to n.
func (n *XMLNode) Each(expr string, ns map[string]string, fn func(*XMLNode) error) error {
	x, err := compileOnce(expr)
	if err != nil {
		return err
	}
	defer x.free()
	return x.Each(n, ns, fn)
}

// Text returns the node's string value: the concatenated text of an
// element, or an attribute's value.
func (n *XMLNode) Text() (string, error) {
	if err := n.lock(); err != nil {
		return "", err
	}
	defer n.doc.mu.Unlock()
	cs := C.kp_node_string(n.node)
	defer C.kp_xmlfree(unsafe.Pointer(cs))
	return C.GoString(cs), nil
}

var errFreed = errors.New("xml: document already freed")

// lock holds the document open for a C call.
func (n *XMLNode) lock() error {
	n.doc.mu.Lock()
	if n.doc.ptr == nil {
		n.doc.mu.Unlock()
		return errFreed
	}
	return nil
}

// XPath is a compiled XPath 1.0 expression: compile it once (at mapping
// load) and evaluate it against any number of documents, from any number
// of goroutines. libxml2 2.9 writes into a compiled expression while
// evaluating it (xpath.c caches function lookups in op->cache), so one
// compiled copy is never shared by two evaluations at once: XPath keeps a
// small pool of copies and compiles another only under contention.
// Namespace prefixes are bound per evaluation, not at compile time.
type XPath struct {
	expr string
	pool *compPool
}

type compPool struct {
	expr   string
	mu     sync.Mutex
	idle   []*C.xmlXPathCompExpr
	closed bool
}

// maxIdle bounds the compiled copies kept per expression.
const maxIdle = 16

// CompileXPath checks expr and compiles it. The error names the problem
// libxml2 found.
func CompileXPath(expr string) (*XPath, error) {
	comp, err := compileXPath(expr)
	if err != nil {
		return nil, err
	}
	p := &compPool{expr: expr, idle: []*C.xmlXPathCompExpr{comp}}
	x := &XPath{expr: expr, pool: p}
	// Expressions live as long as a loaded mapping; the cleanup frees
	// the C copies once nobody can evaluate x any more.
	runtime.AddCleanup(x, func(p *compPool) { p.close() }, p)
	return x, nil
}

// compileOnce compiles an expression for a single use; free it after.
func compileOnce(expr string) (*XPath, error) {
	comp, err := compileXPath(expr)
	if err != nil {
		return nil, err
	}
	return &XPath{expr: expr, pool: &compPool{expr: expr, idle: []*C.xmlXPathCompExpr{comp}}}, nil
}

func (x *XPath) free() { x.pool.close() }

func compileXPath(expr string) (*C.xmlXPathCompExpr, error) {
	if expr == "" {
		return nil, errors.New("compile xpath: expression is empty")
	}
	initLibxml2()
	cs := C.CString(expr)
	defer C.free(unsafe.Pointer(cs))
	errs := newErrs()
	comp := C.kp_xpath_compile(cs, errs)
	ps, _ := drainErrs(errs)
	if comp == nil {
		reason := "invalid expression"
		if len(ps) > 0 {
			reason = ps[0].msg
		}
		return nil, fmt.Errorf("compile xpath %q: %s", expr, reason)
	}
	return comp, nil
}

func (p *compPool) get() (*C.xmlXPathCompExpr, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	return compileXPath(p.expr)
}

func (p *compPool) put(c *C.xmlXPathCompExpr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdle {
		C.xmlXPathFreeCompExpr(c)
		return
	}
	p.idle = append(p.idle, c)
}

func (p *compPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		C.xmlXPathFreeCompExpr(c)
	}
	p.idle = nil
	p.closed = true
}

// String returns the expression as written.
func (x *XPath) String() string { return x.expr }

// Values evaluates x with n as the context node; see XMLDocument.Values.
func (x *XPath) Values(n *XMLNode, ns map[string]string) ([]string, error) {
	var r C.kp_result
	if err := x.eval(n, ns, false, &r); err != nil {
		return nil, err
	}
	defer C.kp_result_free(&r)
	out := make([]string, int(r.n))
	for i := range out {
		out[i] = C.GoString(C.kp_result_str(&r, C.int(i)))
	}
	return out, nil
}

// Value returns the first of Values and whether there was one.
func (x *XPath) Value(n *XMLNode, ns map[string]string) (string, bool, error) {
	vs, err := x.Values(n, ns)
	if err != nil || len(vs) == 0 {
		return "", false, err
	}
	return vs[0], true, nil
}

// Each calls fn for every node x selects relative to n; see
// XMLDocument.Each. The expression must select nodes.
func (x *XPath) Each(n *XMLNode, ns map[string]string, fn func(*XMLNode) error) error {
	var r C.kp_result
	if err := x.eval(n, ns, true, &r); err != nil {
		return err
	}
	if r._type != C.XPATH_NODESET && r._type != C.XPATH_XSLT_TREE {
		C.kp_result_free(&r)
		return fmt.Errorf("evaluate xpath %q: result is not a node set", x.expr)
	}
	if r.nonTree != 0 {
		C.kp_result_free(&r)
		return fmt.Errorf("evaluate xpath %q: namespace nodes cannot be iterated", x.expr)
	}
	nodes := make([]*C.xmlNode, int(r.n))
	for i := range nodes {
		nodes[i] = C.kp_result_node(&r, C.int(i))
	}
	C.kp_result_free(&r)
	for _, node := range nodes {
		if err := fn(&XMLNode{doc: n.doc, node: node}); err != nil {
			return err
		}
	}
	return nil
}

func (x *XPath) eval(n *XMLNode, ns map[string]string, wantNodes bool, r *C.kp_result) error {
	if n == nil || n.doc == nil {
		return fmt.Errorf("evaluate xpath %q: no context node", x.expr)
	}
	comp, err := x.pool.get()
	if err != nil {
		return err
	}
	defer x.pool.put(comp)

	// Prefix/URI pairs in a C array; sorted so errors are deterministic.
	prefixes := make([]string, 0, len(ns))
	for p := range ns {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	var cns **C.char
	if len(prefixes) > 0 {
		arr := (*[1 << 20]*C.char)(C.calloc(C.size_t(2*len(prefixes)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))[: 2*len(prefixes) : 2*len(prefixes)]
		for i, p := range prefixes {
			arr[2*i] = C.CString(p)
			arr[2*i+1] = C.CString(ns[p])
		}
		defer func() {
			for _, s := range arr {
				C.free(unsafe.Pointer(s))
			}
			C.free(unsafe.Pointer(&arr[0]))
		}()
		cns = &arr[0]
	}

	if err := n.lock(); err != nil {
		return err
	}
	errs := newErrs()
	wn := C.int(0)
	if wantNodes {
		wn = 1
	}
	rc := C.kp_xpath_eval(comp, n.doc.ptr, n.node, cns, C.int(len(prefixes)), wn, r, errs)
	n.doc.mu.Unlock()
	ps, _ := drainErrs(errs)
	if rc != 0 {
		reason := "evaluation failed"
		if len(ps) > 0 {
			reason = ps[0].msg
		}
		return fmt.Errorf("evaluate xpath %q: %s", x.expr, reason)
	}
	return nil
}
