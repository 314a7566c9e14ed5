package schema

import (
	"bytes"
	"fmt"
)

// Default XML limits. libxml2 2.9 checks each new attribute of an element
// against all earlier ones, so one element with n attributes costs n²:
// 10,000 attributes took 0.9 s and 200,000 (1 MB) never finished, and the
// validate step parses the body a second time. Real messages are far from
// every default: our schemas' elements carry at most a handful of
// attributes, nest fewer than 10 deep and have names under 64 bytes.
const (
	// DefaultMaxXMLAttrs bounds the attributes (namespace declarations
	// included) of one element: at 256 the quadratic check costs well
	// under a millisecond.
	DefaultMaxXMLAttrs = 256
	// DefaultMaxXMLElements bounds the elements of one document, the XML
	// counterpart of MaxJSONValues: libxml2 spends a 120-byte node per
	// element plus its text node, so 100,000 elements are a tree of tens of
	// MB, while an order or a visit has tens.
	DefaultMaxXMLElements = 100_000
	// DefaultMaxXMLDepth is libxml2's own nesting limit without
	// XMLParseHuge (256), so refusing here changes no verdict, only moves
	// it before libxml2 allocates anything.
	DefaultMaxXMLDepth = 256
	// DefaultMaxXMLNameLen bounds an element or attribute name in bytes
	// (prefix included): far beyond any real name, far below libxml2's
	// 50,000.
	DefaultMaxXMLNameLen = 1024
)

// XMLLimits bounds the shape of an XML body. Check enforces them in one
// linear pass before libxml2 sees the body, because libxml2's own cost is
// not linear in the size of what we refuse here. A zero field means its
// default (DefaultMaxXMLAttrs and so on). ParseXML, and through it every
// XSD validation and XML mapping, applies the defaults: the hub has no
// per-pipeline parser settings, and a limit that differs between the
// validate and the map step of one pipeline would let a body pass one
// and fail the other.
type XMLLimits struct {
	// MaxAttrs is the most attributes one element may have.
	MaxAttrs int
	// MaxElements is the most elements one document may have.
	MaxElements int
	// MaxDepth is the deepest an element may nest; the root is at 1.
	MaxDepth int
	// MaxNameLen is the longest element or attribute name, in bytes.
	MaxNameLen int
}

func (l XMLLimits) withDefaults() XMLLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxAttrs, DefaultMaxXMLAttrs)
	def(&l.MaxElements, DefaultMaxXMLElements)
	def(&l.MaxDepth, DefaultMaxXMLDepth)
	def(&l.MaxNameLen, DefaultMaxXMLNameLen)
	return l
}

// Check returns a *ParseError when body exceeds l, or when its markup
// is malformed in a way that would leave this scan and libxml2 disagreeing
// about where tags start: an unterminated comment, CDATA section,
// processing instruction, tag or attribute value, a '<' inside an
// attribute value, a tag that is not `<name attr="v" ...>`. Such a body is
// not well-formed, so libxml2 would refuse it too; refusing it here means
// that whatever this scan accepts, libxml2 sees at most the elements and
// attributes counted. The error names the line and column of the element
// (or construct) at fault and the limit, never its content.
func (l XMLLimits) Check(body []byte) error {
	l = l.withDefaults()
	elements, depth := 0, 0
	for i := 0; ; {
		j := bytes.IndexByte(body[i:], '<')
		if j < 0 {
			return nil
		}
		start := i + j
		rest := body[start+1:]
		var reason string
		switch {
		case bytes.HasPrefix(rest, []byte("!--")):
			i, reason = skipPast(body, start+4, "-->", "comment is not terminated")
		case bytes.HasPrefix(rest, []byte("![CDATA[")):
			i, reason = skipPast(body, start+9, "]]>", "CDATA section is not terminated")
		case bytes.HasPrefix(rest, []byte("?")):
			i, reason = skipPast(body, start+2, "?>", "processing instruction is not terminated")
		case bytes.HasPrefix(rest, []byte("!")):
			// DOCTYPE in the prolog was refused before; anywhere else a
			// declaration is not well-formed.
			reason = "markup declaration is not allowed here"
		case bytes.HasPrefix(rest, []byte("/")):
			i, reason = endTag(body, start+2, l.MaxNameLen)
			depth = max(depth-1, 0) // a stray end tag must not buy depth
		default:
			if elements++; elements > l.MaxElements {
				reason = fmt.Sprintf("more than %d elements (the limit): refused before parsing", l.MaxElements)
				break
			}
			var empty bool
			i, empty, reason = startTag(body, start+1, l)
			switch {
			case reason != "":
			case depth+1 > l.MaxDepth:
				reason = fmt.Sprintf("elements nested more than %d deep (the limit): refused before parsing", l.MaxDepth)
			case !empty:
				depth++
			}
		}
		if reason != "" {
			return limitError(body, start, reason)
		}
	}
}

func limitError(body []byte, off int, reason string) *ParseError {
	col := off - bytes.LastIndexByte(body[:off], '\n')
	return &ParseError{Line: lineAt(body, off), Column: col, Offset: off, Reason: reason}
}

// skipPast returns the index after the first end at or after i.
func skipPast(body []byte, i int, end, unterminated string) (int, string) {
	k := bytes.Index(body[i:], []byte(end))
	if k < 0 {
		return i, unterminated
	}
	return i + k + len(end), ""
}

// startTag reads `name (S attr S? = S? "value")* S? (> | />)` from i, just
// after the '<', and returns the index after it and whether it was an
// empty-element tag.
func startTag(body []byte, i int, l XMLLimits) (next int, empty bool, reason string) {
	end, reason := nameAt(body, i, "element", "malformed start tag", l.MaxNameLen)
	if reason != "" {
		return i, false, reason
	}
	i = end
	for attrs := 0; ; {
		ws := skipXMLSpace(body, i)
		switch {
		case ws >= len(body):
			return ws, false, "start tag is not terminated"
		case body[ws] == '>':
			return ws + 1, false, ""
		case body[ws] == '/':
			if ws+1 < len(body) && body[ws+1] == '>' {
				return ws + 2, true, ""
			}
			return ws, false, "malformed start tag"
		case ws == i:
			return ws, false, "malformed start tag (no white space before an attribute)"
		}
		i = ws
		end, reason := nameAt(body, i, "attribute", "malformed start tag", l.MaxNameLen)
		if reason != "" {
			return i, false, reason
		}
		if attrs++; attrs > l.MaxAttrs {
			return i, false, fmt.Sprintf("more than %d attributes on one element (the limit): refused before parsing", l.MaxAttrs)
		}
		i = skipXMLSpace(body, end)
		if i >= len(body) || body[i] != '=' {
			return i, false, "malformed attribute (want '=')"
		}
		i = skipXMLSpace(body, i+1)
		if i >= len(body) || (body[i] != '"' && body[i] != '\'') {
			return i, false, "malformed attribute (want a quoted value)"
		}
		k := bytes.IndexByte(body[i+1:], body[i])
		if k < 0 {
			return i, false, "attribute value is not terminated"
		}
		if bytes.IndexByte(body[i+1:i+1+k], '<') >= 0 {
			return i, false, "'<' in an attribute value"
		}
		i += k + 2
	}
}

// endTag reads `name S? >` from i, just after the "</".
func endTag(body []byte, i, maxName int) (int, string) {
	end, reason := nameAt(body, i, "element", "malformed end tag", maxName)
	if reason != "" {
		return i, reason
	}
	i = skipXMLSpace(body, end)
	if i >= len(body) || body[i] != '>' {
		return i, "malformed end tag"
	}
	return i + 1, ""
}

// nameAt returns the end of the name of an element or attribute (kind)
// at i, or why there is none (malformed) or it is too long.
func nameAt(body []byte, i int, kind, malformed string, maxLen int) (int, string) {
	end := nameEnd(body, i)
	switch {
	case end == i:
		return i, malformed
	case end-i > maxLen:
		return i, fmt.Sprintf("%s name longer than %d bytes (the limit): refused before parsing", kind, maxLen)
	}
	return end, ""
}

// nameEnd returns the end of the name at i. It is looser than XML's Name
// production (libxml2 refuses what it must); what matters here is only
// that a name never swallows a delimiter.
func nameEnd(body []byte, i int) int {
	for i < len(body) {
		switch body[i] {
		case ' ', '\t', '\r', '\n', '/', '>', '<', '=', '"', '\'', '!', '?':
			return i
		}
		i++
	}
	return i
}

func skipXMLSpace(body []byte, i int) int {
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
		i++
	}
	return i
}
