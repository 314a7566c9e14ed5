// Package jsonscan is the hub's one hand-written JSON lexer. Three fast
// paths read JSON without encoding/json's reflection: the validator's plain
// decoder (DecodePlain, for internal/schema), the mapping's document index
// (internal/mapping) and the canonical visit's decoder (internal/entity).
// They share these primitives, so a JSON grammar rule lives in one place,
// and the differential fuzz tests here hold the primitives and DecodePlain
// to what encoding/json decides.
//
// The functions work on string or []byte input, at a byte index, and
// return the index after what they read.
package jsonscan

import (
	"encoding/json"
	"fmt"
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
// reason, nothing after the value. Anything else reports false, and the
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
