package mapping

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// writeObject appends the JSON of an output object. Keys come in
// declaration order; objects and arrays with nothing in them are left out,
// like optional leaves without a value.
func writeObject(b []byte, n *onode, vals []any) ([]byte, error) {
	b = append(b, '{')
	first := true
	for _, c := range n.children {
		var err error
		switch c.kind {
		case oLeaf:
			v := vals[c.slot]
			if v == nil {
				continue
			}
			b = appendKey(b, c.key, &first)
			if b, err = appendValue(b, v); err != nil {
				return nil, fmt.Errorf("field %s: %w", c.key, err)
			}
		case oObject:
			if !hasContent(c, vals) {
				continue
			}
			b = appendKey(b, c.key, &first)
			if b, err = writeObject(b, c, vals); err != nil {
				return nil, err
			}
		case oArray:
			a := asList(vals[c.slot])
			if len(a) == 0 {
				continue
			}
			b = appendKey(b, c.key, &first)
			if b, err = appendValue(b, a); err != nil {
				return nil, fmt.Errorf("field %s: %w", c.key, err)
			}
		}
	}
	return append(b, '}'), nil
}

func appendKey(b []byte, key string, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = appendString(b, key)
	return append(b, ':')
}

// appendValue appends v as JSON. Maps (from expressions or ApplyValue
// input) are written with sorted keys so output stays deterministic.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("number %v has no JSON form", v)
		}
		return append(b, formatFloat(v)...), nil
	case *instance:
		return writeObject(b, v.t.root, v.vals)
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("cannot write a %T as JSON", v)
}

// formatFloat writes numbers as encoding/json does: integral values
// without a fraction, large and tiny ones with an exponent.
func formatFloat(f float64) string {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes appendString copies as they are.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Unlike encoding/json it does
// not escape <, > and &: the output is data, not HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainASCII[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeXML appends the record as an XML document: the root element from
// to.root (in to.namespace), objects as nested elements in declaration
// order, arrays as repeated elements, @name leaves as attributes.
func (m *Mapping) writeXML(out []byte, inst *instance) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(out)
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	name := xml.Name{Local: m.xmlRoot}
	if m.xmlNS != "" {
		name.Space = m.xmlNS
	}
	if err := xmlObject(enc, name, inst.t.root, inst.vals); err != nil {
		return nil, fmt.Errorf("mapping %s: write xml: %w", m.name, err)
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("mapping %s: write xml: %w", m.name, err)
	}
	return buf.Bytes(), nil
}

func xmlObject(enc *xml.Encoder, name xml.Name, n *onode, vals []any) error {
	start := xml.StartElement{Name: name}
	for _, c := range n.children {
		if c.kind == oLeaf && strings.HasPrefix(c.key, "@") && vals[c.slot] != nil {
			s, err := xmlText(vals[c.slot])
			if err != nil {
				return err
			}
			start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: c.key[1:]}, Value: s})
		}
	}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	for _, c := range n.children {
		var err error
		switch c.kind {
		case oLeaf:
			if !strings.HasPrefix(c.key, "@") && vals[c.slot] != nil {
				err = xmlValue(enc, c.key, vals[c.slot])
			}
		case oObject:
			if hasContent(c, vals) {
				err = xmlObject(enc, xml.Name{Local: c.key}, c, vals)
			}
		case oArray:
			for _, x := range asList(vals[c.slot]) {
				if err = xmlValue(enc, c.key, x); err != nil {
					break
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}

func xmlValue(enc *xml.Encoder, key string, v any) error {
	switch v := v.(type) {
	case *instance:
		return xmlObject(enc, xml.Name{Local: key}, v.t.root, v.vals)
	case []any:
		for _, x := range v {
			if err := xmlValue(enc, key, x); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		start := xml.StartElement{Name: xml.Name{Local: key}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, k := range sortedKeys(v) {
			if err := xmlValue(enc, k, v[k]); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	}
	s, err := xmlText(v)
	if err != nil {
		return err
	}
	start := xml.StartElement{Name: xml.Name{Local: key}}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if err := enc.EncodeToken(xml.CharData(s)); err != nil {
		return err
	}
	return enc.EncodeToken(start.End())
}

func xmlText(v any) (string, error) {
	switch v := v.(type) {
	case string, bool, int, int64:
		s, _ := text(v)
		return s, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("number %v has no XML form", v)
		}
		return formatFloat(v), nil
	}
	return "", fmt.Errorf("cannot write a %T as XML text", v)
}
