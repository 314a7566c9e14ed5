package ldap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// encoder writes entries as JSON lines, each
// {"dn":…,"attributes":{name:[values…]}} with the attributes in attrs'
// order under attrs' spelling (servers may answer in another case), their
// values sorted (an LDAP attribute is a set), absent ones left out; the
// lines are sorted by DN at the end. The same entries give the same bytes.
// Each page's entries are encoded as they come, so what the search holds
// is one page of the client's entries plus the snapshot's lines.
type encoder struct {
	attrs []string
	lower map[string]int
	vals  [][]string
	lines []line
	size  int
}

type line struct {
	dn   string
	json []byte
}

func newEncoder(attrs []string) *encoder {
	lower := make(map[string]int, len(attrs))
	for i, a := range attrs {
		lower[strings.ToLower(a)] = i
	}
	return &encoder{attrs: attrs, lower: lower, vals: make([][]string, len(attrs))}
}

// add encodes e. Errors name the attribute, never a value or the DN.
func (enc *encoder) add(e *goldap.Entry) error {
	n := len(enc.lines) + 1
	if !utf8.ValidString(e.DN) {
		return fmt.Errorf("entry %d: the DN is not UTF-8", n)
	}
	clear(enc.vals)
	for _, ea := range e.Attributes {
		i, ok := enc.lower[strings.ToLower(ea.Name)]
		if !ok || len(ea.Values) == 0 {
			continue
		}
		for _, v := range ea.Values {
			if !utf8.ValidString(v) {
				return fmt.Errorf("entry %d: attribute %s is not UTF-8 text; list only text attributes", n, enc.attrs[i])
			}
		}
		enc.vals[i] = append(enc.vals[i], ea.Values...)
	}
	buf := make([]byte, 0, 64+len(e.DN)*2+enc.size/max(1, len(enc.lines)))
	buf = append(buf, `{"dn":`...)
	buf = appendString(buf, e.DN)
	buf = append(buf, `,"attributes":{`...)
	first := true
	for i, v := range enc.vals {
		if len(v) == 0 {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, enc.attrs[i])
		buf = append(buf, ":["...)
		slices.Sort(v)
		for j, s := range v {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, s)
		}
		buf = append(buf, ']')
	}
	buf = append(buf, "}}\n"...)
	enc.lines = append(enc.lines, line{dn: e.DN, json: buf})
	enc.size += len(buf)
	return nil
}

// body returns the lines sorted by DN, joined.
func (enc *encoder) body() ([]byte, error) {
	slices.SortFunc(enc.lines, func(a, b line) int { return strings.Compare(a.dn, b.dn) })
	out := make([]byte, 0, enc.size)
	for i, l := range enc.lines {
		if i > 0 && l.dn == enc.lines[i-1].dn {
			return nil, fmt.Errorf("entry %d: the same DN twice in one answer", i+1)
		}
		out = append(out, l.json...)
	}
	return out, nil
}

// appendString appends s as a JSON string (valid UTF-8 checked before).
func appendString(buf []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	b, _ := json.Marshal(s)
	return append(buf, b...)
}
