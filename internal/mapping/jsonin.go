package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jdoc is a parsed JSON input held as a flat slice of nodes over the
// source text. Decoding into map[string]any costs more than applying a
// whole mapping (STACK.md §3.6); a flat tree needs no map per object,
// materialises only the values a mapping reads, and is reused through a
// pool.
type jdoc struct {
	src   string
	nodes []jnode
	depth int
}

type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNumber
	jString
	jArray
	jObject
)

// jnode is one JSON value. Strings and numbers are spans of src (strings
// without their quotes); containers list their children from the next
// index up to skip, each child's own skip leading to its sibling.
type jnode struct {
	kind       jkind
	esc        bool // string has escapes
	keyEsc     bool // key has escapes
	start, end int32
	keyStart   int32
	keyEnd     int32
	skip       int32
}

const maxJSONDepth = 512

var errJSONDepth = errors.New("nested too deeply")

// jsonSyntaxError reports where the input stops being JSON, by offset
// only: the offending text may be personal data.
type jsonSyntaxError struct {
	off    int
	reason string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.reason)
}

// parse parses src as a sequence of JSON values separated by white
// space (one value, or JSON lines) and returns the index of each
// top-level value.
func (d *jdoc) parse(src string) ([]int32, error) {
	if !utf8.ValidString(src) {
		return nil, errors.New("input is not valid UTF-8")
	}
	d.src = src
	d.nodes = d.nodes[:0]
	d.depth = 0
	var roots []int32
	i := skipWS(src, 0)
	for i < len(src) {
		roots = append(roots, int32(len(d.nodes)))
		var err error
		if i, err = d.parseValue(i, -1, -1, false); err != nil {
			return nil, err
		}
		j := skipWS(src, i)
		if j == i && j < len(src) {
			return nil, &jsonSyntaxError{j, "want white space between values"}
		}
		i = j
	}
	return roots, nil
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// parseValue parses the value at i; ks, ke and kesc give its key when it is an
// object member.
func (d *jdoc) parseValue(i int, ks, ke int32, kesc bool) (int, error) {
	s := d.src
	if i >= len(s) {
		return i, &jsonSyntaxError{i, "unexpected end of input"}
	}
	idx := len(d.nodes)
	d.nodes = append(d.nodes, jnode{keyStart: ks, keyEnd: ke, keyEsc: kesc})
	n := &d.nodes[idx]
	switch c := s[i]; {
	case c == '{':
		if d.depth++; d.depth > maxJSONDepth {
			return i, errJSONDepth
		}
		n.kind = jObject
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == '}' {
			i++
			break
		}
		for {
			if i >= len(s) || s[i] != '"' {
				return i, &jsonSyntaxError{i, "want a string key"}
			}
			kstart := i + 1
			kend, esc, err := scanString(s, i)
			if err != nil {
				return i, err
			}
			i = skipWS(s, kend+1)
			if i >= len(s) || s[i] != ':' {
				return i, &jsonSyntaxError{i, "want ':'"}
			}
			if i, err = d.parseValue(skipWS(s, i+1), int32(kstart), int32(kend), esc); err != nil {
				return i, err
			}
			i = skipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
				continue
			}
			if i < len(s) && s[i] == '}' {
				i++
				break
			}
			return i, &jsonSyntaxError{i, "want ',' or '}'"}
		}
		d.depth--
	case c == '[':
		if d.depth++; d.depth > maxJSONDepth {
			return i, errJSONDepth
		}
		d.nodes[idx].kind = jArray
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == ']' {
			i++
			d.depth--
			break
		}
		for {
			var err error
			if i, err = d.parseValue(i, -1, -1, false); err != nil {
				return i, err
			}
			i = skipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
				continue
			}
			if i < len(s) && s[i] == ']' {
				i++
				break
			}
			return i, &jsonSyntaxError{i, "want ',' or ']'"}
		}
		d.depth--
	case c == '"':
		end, esc, err := scanString(s, i)
		if err != nil {
			return i, err
		}
		n.kind, n.esc, n.start, n.end = jString, esc, int32(i+1), int32(end)
		i = end + 1
	case c == '-' || c >= '0' && c <= '9':
		end, err := scanNumber(s, i)
		if err != nil {
			return i, err
		}
		n.kind, n.start, n.end = jNumber, int32(i), int32(end)
		i = end
	case hasLit(s, i, "true"):
		n.kind = jTrue
		i += 4
	case hasLit(s, i, "false"):
		n.kind = jFalse
		i += 5
	case hasLit(s, i, "null"):
		n.kind = jNull
		i += 4
	default:
		return i, &jsonSyntaxError{i, "want a value"}
	}
	// n may be stale: appending children can move the slice.
	d.nodes[idx].skip = int32(len(d.nodes))
	return i, nil
}

func hasLit(s string, i int, lit string) bool {
	return len(s)-i >= len(lit) && s[i:i+len(lit)] == lit
}

// scanString returns the index of the closing quote of the string
// opening at i and whether it holds escapes.
func scanString(s string, i int) (end int, esc bool, err error) {
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return j, esc, nil
		case c == '\\':
			esc = true
			j++
			if j >= len(s) {
				break
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) {
					return 0, false, &jsonSyntaxError{j, "short \\u escape"}
				}
				for _, h := range []byte(s[j+1 : j+5]) {
					if !isHex(h) {
						return 0, false, &jsonSyntaxError{j, "bad \\u escape"}
					}
				}
				j += 4
			default:
				return 0, false, &jsonSyntaxError{j, "bad escape"}
			}
		case c < 0x20:
			return 0, false, &jsonSyntaxError{j, "control character in string"}
		}
	}
	return 0, false, &jsonSyntaxError{i, "unterminated string"}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func scanNumber(s string, i int) (int, error) {
	start := i
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, &jsonSyntaxError{start, "bad number"}
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return i, &jsonSyntaxError{start, "bad number"}
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, &jsonSyntaxError{start, "bad number"}
		}
	}
	return i, nil
}

// unescape decodes the JSON string body s (without quotes).
func unescape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := rune(hex4(s[i+1:]))
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2 = rune(hex4(s[i+3:]))
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, s[i])
		}
	}
	return string(b)
}

func hex4(s string) int {
	v := 0
	for _, c := range []byte(s[:4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		v = v<<4 | int(c)
	}
	return v
}

// key returns the member name of node i.
func (d *jdoc) key(i int32) string {
	n := &d.nodes[i]
	k := d.src[n.keyStart:n.keyEnd]
	if n.keyEsc {
		return unescape(k)
	}
	return k
}

// member finds the member named key in object i, or -1. Objects in vendor
// records are small, so a linear scan beats building a map.
func (d *jdoc) member(i int32, key string) int32 {
	n := &d.nodes[i]
	if n.kind != jObject {
		return -1
	}
	for c := i + 1; c < n.skip; c = d.nodes[c].skip {
		cn := &d.nodes[c]
		if cn.keyEsc {
			if unescape(d.src[cn.keyStart:cn.keyEnd]) == key {
				return c
			}
		} else if d.src[cn.keyStart:cn.keyEnd] == key {
			return c
		}
	}
	return -1
}

func (d *jdoc) element(i int32, idx int) int32 {
	n := &d.nodes[i]
	if n.kind != jArray {
		return -1
	}
	k := 0
	for c := i + 1; c < n.skip; c = d.nodes[c].skip {
		if k == idx {
			return c
		}
		k++
	}
	return -1
}

// lookup evaluates segs from node i: the node index, or -1 when nothing
// matches. Wildcard paths go through walk.
func (d *jdoc) lookup(i int32, segs []seg) int32 {
	for _, s := range segs {
		switch s.kind {
		case segKey:
			i = d.member(i, s.key)
		case segIndex:
			i = d.element(i, s.idx)
		}
		if i < 0 {
			return -1
		}
	}
	return i
}

func (d *jdoc) walk(i int32, segs []seg, emit func(int32)) {
	for k, s := range segs {
		if s.kind == segWild {
			n := &d.nodes[i]
			if n.kind != jArray {
				return
			}
			for c := i + 1; c < n.skip; c = d.nodes[c].skip {
				d.walk(c, segs[k+1:], emit)
			}
			return
		}
		switch s.kind {
		case segKey:
			i = d.member(i, s.key)
		case segIndex:
			i = d.element(i, s.idx)
		}
		if i < 0 {
			return
		}
	}
	emit(i)
}

// value materialises node i as a Go value: string, int (integers that fit),
// float64, bool, nil, []any or map[string]any.
func (d *jdoc) value(i int32) any {
	n := &d.nodes[i]
	switch n.kind {
	case jString:
		s := d.src[n.start:n.end]
		if n.esc {
			return unescape(s)
		}
		return s
	case jNumber:
		s := d.src[n.start:n.end]
		if v, err := strconv.Atoi(s); err == nil {
			return v
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case jTrue:
		return true
	case jFalse:
		return false
	case jArray:
		a := []any{}
		for c := i + 1; c < n.skip; c = d.nodes[c].skip {
			a = append(a, d.value(c))
		}
		return a
	case jObject:
		m := map[string]any{}
		for c := i + 1; c < n.skip; c = d.nodes[c].skip {
			m[d.key(c)] = d.value(c)
		}
		return m
	}
	return nil
}
