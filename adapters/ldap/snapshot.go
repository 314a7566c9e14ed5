package ldap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// encode writes entries as JSON lines sorted by DN, each
// {"dn":…,"attributes":{name:[values…]}} with the attributes in attrs'
// order under attrs' spelling (servers may answer in another case), their
// values sorted (an LDAP attribute is a set), absent ones left out. The
// same entries give the same bytes.
func encode(entries []*goldap.Entry, attrs []string) ([]byte, error) {
	slices.SortFunc(entries, func(a, b *goldap.Entry) int { return strings.Compare(a.DN, b.DN) })
	lower := make(map[string]int, len(attrs))
	for i, a := range attrs {
		lower[strings.ToLower(a)] = i
	}
	var buf []byte
	vals := make([][]string, len(attrs))
	for n, e := range entries {
		if n > 0 && e.DN == entries[n-1].DN {
			return nil, fmt.Errorf("entry %d: the same DN twice in one answer", n+1)
		}
		clear(vals)
		for _, ea := range e.Attributes {
			i, ok := lower[strings.ToLower(ea.Name)]
			if !ok || len(ea.Values) == 0 {
				continue
			}
			for _, v := range ea.Values {
				if !utf8.ValidString(v) {
					// The attribute's name, never its value or the entry's DN.
					return nil, fmt.Errorf("entry %d: attribute %s is not UTF-8 text; list only text attributes", n+1, attrs[i])
				}
			}
			vals[i] = append(vals[i], ea.Values...)
		}
		buf = append(buf, `{"dn":`...)
		if !utf8.ValidString(e.DN) {
			return nil, fmt.Errorf("entry %d: the DN is not UTF-8", n+1)
		}
		buf = appendString(buf, e.DN)
		buf = append(buf, `,"attributes":{`...)
		first := true
		for i, v := range vals {
			if len(v) == 0 {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendString(buf, attrs[i])
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
	}
	return buf, nil
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
