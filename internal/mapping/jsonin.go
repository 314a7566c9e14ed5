package mapping

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
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

// parse parses src as a sequence of JSON values separated by white
// space (one value, or JSON lines) and returns the index of each
// top-level value. A key repeated in one object is a
// *jsonscan.DuplicateKeyError.
func (d *jdoc) parse(src string) ([]int32, error) {
	if !utf8.ValidString(src) {
		return nil, errors.New("input is not valid UTF-8")
	}
	d.src = src
	d.nodes = d.nodes[:0]
	d.depth = 0
	var roots []int32
	i := jsonscan.SkipWS(src, 0)
	for i < len(src) {
		roots = append(roots, int32(len(d.nodes)))
		var err error
		if i, err = d.parseValue(i, -1, -1, false); err != nil {
			return nil, err
		}
		j := jsonscan.SkipWS(src, i)
		if j == i && j < len(src) {
			return nil, &jsonscan.SyntaxError{Offset: j, Msg: "want white space between values"}
		}
		i = j
	}
	// encoding/json, which the validator's fallback uses, keeps a
	// repeated key's last value and member its first: refuse the body.
	if err := jsonscan.CheckKeys(src); err != nil {
		return nil, err
	}
	return roots, nil
}

// parseValue parses the value at i; ks, ke and kesc give its key when it is an
// object member.
func (d *jdoc) parseValue(i int, ks, ke int32, kesc bool) (int, error) {
	s := d.src
	if i >= len(s) {
		return i, &jsonscan.SyntaxError{Offset: i, Msg: "unexpected end of input"}
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
		i = jsonscan.SkipWS(s, i+1)
		if i < len(s) && s[i] == '}' {
			i++
			break
		}
		for {
			if i >= len(s) || s[i] != '"' {
				return i, &jsonscan.SyntaxError{Offset: i, Msg: "want a string key"}
			}
			kstart := i + 1
			kend, esc, err := jsonscan.ScanString(s, i)
			if err != nil {
				return i, err
			}
			i = jsonscan.SkipWS(s, kend+1)
			if i >= len(s) || s[i] != ':' {
				return i, &jsonscan.SyntaxError{Offset: i, Msg: "want ':'"}
			}
			if i, err = d.parseValue(jsonscan.SkipWS(s, i+1), int32(kstart), int32(kend), esc); err != nil {
				return i, err
			}
			i = jsonscan.SkipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i = jsonscan.SkipWS(s, i+1)
				continue
			}
			if i < len(s) && s[i] == '}' {
				i++
				break
			}
			return i, &jsonscan.SyntaxError{Offset: i, Msg: "want ',' or '}'"}
		}
		d.depth--
	case c == '[':
		if d.depth++; d.depth > maxJSONDepth {
			return i, errJSONDepth
		}
		d.nodes[idx].kind = jArray
		i = jsonscan.SkipWS(s, i+1)
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
			i = jsonscan.SkipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i = jsonscan.SkipWS(s, i+1)
				continue
			}
			if i < len(s) && s[i] == ']' {
				i++
				break
			}
			return i, &jsonscan.SyntaxError{Offset: i, Msg: "want ',' or ']'"}
		}
		d.depth--
	case c == '"':
		end, esc, err := jsonscan.ScanString(s, i)
		if err != nil {
			return i, err
		}
		n.kind, n.esc, n.start, n.end = jString, esc, int32(i+1), int32(end)
		i = end + 1
	case c == '-' || c >= '0' && c <= '9':
		end, err := jsonscan.ScanNumber(s, i)
		if err != nil {
			return i, err
		}
		n.kind, n.start, n.end = jNumber, int32(i), int32(end)
		i = end
	case jsonscan.HasLit(s, i, "true"):
		n.kind = jTrue
		i += 4
	case jsonscan.HasLit(s, i, "false"):
		n.kind = jFalse
		i += 5
	case jsonscan.HasLit(s, i, "null"):
		n.kind = jNull
		i += 4
	default:
		return i, &jsonscan.SyntaxError{Offset: i, Msg: "want a value"}
	}
	// n may be stale: appending children can move the slice.
	d.nodes[idx].skip = int32(len(d.nodes))
	return i, nil
}

// key returns the member name of node i.
func (d *jdoc) key(i int32) string {
	n := &d.nodes[i]
	k := d.src[n.keyStart:n.keyEnd]
	if n.keyEsc {
		return jsonscan.Unescape(k)
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
			if jsonscan.Unescape(d.src[cn.keyStart:cn.keyEnd]) == key {
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
			return jsonscan.Unescape(s)
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
