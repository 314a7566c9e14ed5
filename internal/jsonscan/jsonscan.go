// Package jsonscan is the hub's one hand-written JSON lexer. Three fast
// paths read JSON without encoding/json's reflection: the validator's plain
// decoder (DecodePlain, for internal/schema), the mapping's document index
// (internal/mapping) and the canonical visit's decoder (internal/entity).
// They share these primitives, so a JSON grammar rule lives in one place,
// and the differential fuzz tests here hold the primitives and DecodePlain
// to what encoding/json decides.
//
// CheckKeys is the one place that finds a repeated object key: every
// reader of outside JSON (validator, mapping, entity decoders, pipeline
// steps) calls it, because readers disagree on which value a repeated key
// means.
//
// The functions work on string or []byte input, at a byte index, and
// return the index after what they read.
package jsonscan

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Text is what the lexer reads.
type Text interface{ ~string | ~[]byte }

// SyntaxError says where input stops being JSON, by byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte offset %d: %s", e.Offset, e.Msg)
}

// SkipWS returns the index of the first byte at or after i that is not
// JSON white space.
func SkipWS[T Text](s T, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// HasLit reports whether s holds lit at i.
func HasLit[T Text](s T, i int, lit string) bool {
	return len(s)-i >= len(lit) && string(s[i:i+len(lit)]) == lit
}

// ScanString reads the string whose opening quote is at i and returns the
// index of its closing quote and whether it holds escapes (Unescape
// decodes them).
func ScanString[T Text](s T, i int) (end int, esc bool, err error) {
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
					return 0, false, &SyntaxError{j, "short \\u escape"}
				}
				for k := j + 1; k < j+5; k++ {
					if !isHex(s[k]) {
						return 0, false, &SyntaxError{j, "bad \\u escape"}
					}
				}
				j += 4
			default:
				return 0, false, &SyntaxError{j, "bad escape"}
			}
		case c < 0x20:
			return 0, false, &SyntaxError{j, "control character in string"}
		}
	}
	return 0, false, &SyntaxError{i, "unterminated string"}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ScanNumber reads the number at i in the JSON grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns the index
// after it. After a leading 0 it stops: "01" is the number 0 and then a 1
// the caller refuses.
func ScanNumber[T Text](s T, i int) (int, error) {
	start := i
	if i < len(s) && s[i] == '-' {
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
		return i, &SyntaxError{start, "bad number"}
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return i, &SyntaxError{start, "bad number"}
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, &SyntaxError{start, "bad number"}
		}
	}
	return i, nil
}

// Unescape decodes the body of a JSON string (without its quotes) that
// ScanString accepted, as encoding/json does: an unpaired surrogate becomes
// U+FFFD.
func Unescape(s string) string {
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

// DecodePlain decodes body as an encoding/json Decoder with UseNumber does
// (objects as map[string]any, numbers as json.Number), several times
// faster, when body is plain: strings without escapes, nesting within
// reason, no repeated key, nothing after the value. Anything else reports false, and the
// caller decodes with encoding/json, whose result and error are the
// contract. body must be valid UTF-8.
func DecodePlain(body []byte) (any, bool) {
	v, i, ok := plainValue(body, 0, 0)
	return v, ok && SkipWS(body, i) == len(body)
}

func plainValue(b []byte, i, depth int) (any, int, bool) {
	i = SkipWS(b, i)
	if i >= len(b) || depth > 1000 {
		return nil, i, false
	}
	switch c := b[i]; {
	case c == '"':
		return plainString(b, i)
	case c == '{':
		m := map[string]any{}
		if i = SkipWS(b, i+1); i < len(b) && b[i] == '}' {
			return m, i + 1, true
		}
		for {
			if i = SkipWS(b, i); i >= len(b) || b[i] != '"' {
				return nil, i, false
			}
			k, j, ok := plainString(b, i)
			if !ok {
				return nil, j, false
			}
			if i = SkipWS(b, j); i >= len(b) || b[i] != ':' {
				return nil, i, false
			}
			v, j, ok := plainValue(b, i+1, depth+1)
			if !ok {
				return nil, j, false
			}
			if _, dup := m[k.(string)]; dup {
				return nil, j, false // CheckKeys names it for the caller
			}
			m[k.(string)] = v
			switch i = SkipWS(b, j); {
			case i < len(b) && b[i] == ',':
				i++
			case i < len(b) && b[i] == '}':
				return m, i + 1, true
			default:
				return nil, i, false
			}
		}
	case c == '[':
		a := []any{}
		if i = SkipWS(b, i+1); i < len(b) && b[i] == ']' {
			return a, i + 1, true
		}
		for {
			v, j, ok := plainValue(b, i, depth+1)
			if !ok {
				return nil, j, false
			}
			a = append(a, v)
			switch i = SkipWS(b, j); {
			case i < len(b) && b[i] == ',':
				i++
			case i < len(b) && b[i] == ']':
				return a, i + 1, true
			default:
				return nil, i, false
			}
		}
	case c == 't':
		return true, i + 4, HasLit(b, i, "true")
	case c == 'f':
		return false, i + 5, HasLit(b, i, "false")
	case c == 'n':
		return nil, i + 4, HasLit(b, i, "null")
	case c == '-' || ('0' <= c && c <= '9'):
		end, err := ScanNumber(b, i)
		if err != nil || (end < len(b) && b[end] >= '0' && b[end] <= '9') {
			return nil, end, false
		}
		return json.Number(b[i:end]), end, true
	}
	return nil, i, false
}

// plainString reads an escape-free string at i.
func plainString(b []byte, i int) (any, int, bool) {
	end, esc, err := ScanString(b, i)
	if err != nil || esc {
		return nil, i, false
	}
	return string(b[i+1 : end]), end + 1, true
}

// DuplicateKeyError reports an object member whose key an earlier member
// of the same object already has. encoding/json keeps the last value and
// other readers the first, so a body with a repeated key can pass a
// validator that read one value and be mapped from the other: every
// reader of outside JSON refuses it instead. The error names where the
// key is, never a value.
type DuplicateKeyError struct {
	// Pointer is the repeated member's JSON pointer ("/order/unit"),
	// relative to the top-level value that holds it.
	Pointer string
	// Offset is the byte offset of the second occurrence's key.
	Offset int
}

// Error reads "/order/unit: duplicate key".
func (e *DuplicateKeyError) Error() string { return e.Pointer + ": duplicate key" }

// TextError reports a string whose escapes no two readers hold alike:
// \u0000, which PostgreSQL cannot store in text, and an unpaired
// surrogate, which decoders turn into U+FFFD (so the validator would see
// one string and the store another). The error names where the string
// is, never its text.
type TextError struct {
	// Pointer is the string's JSON pointer, relative to the top-level
	// value that holds it.
	Pointer string
	// Offset is the byte offset of the string.
	Offset int
	// Reason says what is wrong.
	Reason string
}

// Error reads "/order/unit: \u0000 (NUL)".
func (e *TextError) Error() string { return e.Pointer + ": " + e.Reason }

// escapeProblem returns what is wrong with the \u escapes of the body s of
// a JSON string, or "".
func escapeProblem(s string) string {
	// ScanString checked the escapes: each \u has four hex digits.
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		if s[i] != 'u' {
			continue
		}
		r, _ := strconv.ParseUint(s[i+1:i+5], 16, 32)
		i += 4
		switch {
		case r == 0:
			return "\\u0000 (NUL)"
		case 0xD800 <= r && r < 0xDC00:
			if i+7 <= len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo, _ := strconv.ParseUint(s[i+3:i+7], 16, 32); 0xDC00 <= lo && lo < 0xE000 {
					i += 6
					continue
				}
			}
			return "an unpaired surrogate escape"
		case 0xDC00 <= r && r < 0xE000:
			return "an unpaired surrogate escape"
		}
	}
	return ""
}

// maxKeyDepth is encoding/json's nesting limit; every decoder behind
// CheckKeys refuses deeper documents, so the check stops there rather
// than hold a frame per level of a hostile body.
const maxKeyDepth = 10_000

// CheckKeys returns a *DuplicateKeyError for the first object in s, at
// any depth, with two members whose keys are equal once unescaped ("a"
// and "\u0061" are the same key), a *TextError for the first string whose
// escapes readers would not hold alike (see TextError), and nil
// otherwise. s is one JSON value
// or several separated by white space (JSON lines). Syntax is the
// decoder's to judge: at the first syntax error, or nesting deeper than
// encoding/json accepts, CheckKeys stops and returns nil. It is one pass
// without recursion, so its cost is linear in s.
func CheckKeys[T Text](s T) error {
	// Not generic below: escape analysis then keeps the buffers on the
	// stack. The []byte callers' copy is small next to encoding/json.
	return checkKeys(string(s))
}

func checkKeys(s string) error {
	c := keyChecker{frames: make([]keyFrame, 0, 8), keys: make([]string, 0, 32)}
	i := SkipWS(s, 0)
	for i < len(s) {
		// Here a value starts at i.
		switch ch := s[i]; {
		case ch == '{' || ch == '[':
			if len(c.frames) >= maxKeyDepth {
				return nil
			}
			c.push(ch == '{')
			i = SkipWS(s, i+1)
			if i < len(s) && (s[i] == '}' && ch == '{' || s[i] == ']' && ch == '[') {
				c.pop()
				i++
				break
			}
			if ch == '[' {
				continue
			}
			var err error
			if i, err = memberKey(s, i, &c); i < 0 || err != nil {
				return err
			}
			continue
		case ch == '"':
			end, esc, err := ScanString(s, i)
			if err != nil {
				return nil
			}
			if esc {
				if reason := escapeProblem(s[i+1 : end]); reason != "" {
					return &TextError{Pointer: pointer(c.frames), Offset: i, Reason: reason}
				}
			}
			i = end + 1
		case ch == '-' || '0' <= ch && ch <= '9':
			end, err := ScanNumber(s, i)
			if err != nil {
				return nil
			}
			i = end
		case HasLit(s, i, "true") || HasLit(s, i, "null"):
			i += 4
		case HasLit(s, i, "false"):
			i += 5
		default:
			return nil
		}
		// A value ended at i: close containers, or move to the next member.
		for {
			if len(c.frames) == 0 {
				j := SkipWS(s, i)
				if j == i && j < len(s) {
					return nil
				}
				i = j
				break
			}
			top := &c.frames[len(c.frames)-1]
			i = SkipWS(s, i)
			if i >= len(s) {
				return nil
			}
			if s[i] == ',' {
				i = SkipWS(s, i+1)
				if !top.obj {
					top.n++
					break
				}
				var err error
				if i, err = memberKey(s, i, &c); i < 0 || err != nil {
					return err
				}
				break
			}
			if (top.obj && s[i] != '}') || (!top.obj && s[i] != ']') {
				return nil
			}
			c.pop()
			i++
		}
	}
	return nil
}

// keyChecker holds CheckKeys' open containers. The keys of all open
// objects share one slice, each object's from its frame's start up, since
// an inner object closes before its parent reads another key.
type keyChecker struct {
	frames []keyFrame
	keys   []string
}

// keyFrame is one open container: for an object, where its keys start in
// keyChecker.keys (or, beyond keySetAt keys, a set of them instead) and
// the current member's key; for an array, the current index.
type keyFrame struct {
	obj   bool
	n     int
	start int
	key   string
	set   map[string]struct{}
}

// keySetAt is the member count from which an object's keys move to a set.
const keySetAt = 16

func (c *keyChecker) push(obj bool) {
	c.frames = append(c.frames, keyFrame{obj: obj, start: len(c.keys)})
}

func (c *keyChecker) pop() {
	c.keys = c.keys[:c.frames[len(c.frames)-1].start]
	c.frames = c.frames[:len(c.frames)-1]
}

// memberKey reads the key at i and the ':' after it, records the key in
// the innermost object, and returns the index of the member's value; -1
// on a syntax error, and a *DuplicateKeyError when the object already
// holds the key.
func memberKey(s string, i int, c *keyChecker) (int, error) {
	if i >= len(s) || s[i] != '"' {
		return -1, nil
	}
	end, esc, err := ScanString(s, i)
	if err != nil {
		return -1, nil
	}
	k := s[i+1 : end]
	if esc {
		if reason := escapeProblem(k); reason != "" {
			return -1, &TextError{Pointer: pointer(c.frames), Offset: i, Reason: reason + " in a key"}
		}
		k = Unescape(k)
	}
	f := &c.frames[len(c.frames)-1]
	f.key = k
	if c.seen(f, k) {
		return -1, &DuplicateKeyError{Pointer: pointer(c.frames), Offset: i}
	}
	j := SkipWS(s, end+1)
	if j >= len(s) || s[j] != ':' {
		return -1, nil
	}
	return SkipWS(s, j+1), nil
}

// seen reports whether object f already holds k, and records it.
func (c *keyChecker) seen(f *keyFrame, k string) bool {
	if f.set != nil {
		if _, ok := f.set[k]; ok {
			return true
		}
		f.set[k] = struct{}{}
		return false
	}
	for _, x := range c.keys[f.start:] {
		if x == k {
			return true
		}
	}
	c.keys = append(c.keys, k)
	if len(c.keys)-f.start >= keySetAt {
		f.set = make(map[string]struct{}, 2*keySetAt)
		for _, x := range c.keys[f.start:] {
			f.set[x] = struct{}{}
		}
		c.keys = c.keys[:f.start]
	}
	return false
}

// pointer renders the open containers as a JSON pointer (RFC 6901).
func pointer(frames []keyFrame) string {
	var b []byte
	for _, f := range frames {
		b = append(b, '/')
		if !f.obj {
			b = strconv.AppendInt(b, int64(f.n), 10)
			continue
		}
		for _, c := range []byte(f.key) {
			switch c {
			case '~':
				b = append(b, '~', '0')
			case '/':
				b = append(b, '~', '1')
			default:
				b = append(b, c)
			}
		}
	}
	return string(b)
}
