package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// JSONSchema is a compiled JSON Schema (draft 2020-12 unless the schema
// says otherwise via $schema). It is immutable and safe for concurrent
// use.
type JSONSchema struct {
	name   string
	schema *jsonschema.Schema
}

var jsonPrinter = message.NewPrinter(language.English)

// LoadJSONSchema compiles the JSON Schema at path with format assertions
// on, so "date" and "date-time" are checked rather than merely
// annotated (the 2020-12 default). $ref to other files resolves against
// path through file: URLs only; the loader has no network scheme.
func LoadJSONSchema(path string) (*JSONSchema, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load json schema %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}})
	s, err := c.Compile(abs)
	if err != nil {
		return nil, fmt.Errorf("load json schema %s: %w", path, err)
	}
	return &JSONSchema{name: filepath.ToSlash(path), schema: s}, nil
}

// Validate decodes body (UTF-8 JSON, exactly one value) and validates
// it. Every failing leaf keyword becomes one Problem at its JSON pointer.
func (j *JSONSchema) Validate(body []byte) error {
	v, p := decodeJSON(body)
	if p != nil {
		return &ValidationError{Schema: j.name, Problems: []Problem{*p}}
	}
	err := j.schema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate %s: %w", j.name, err)
	}
	out := &ValidationError{Schema: j.name}
	collectLeaves(ve, func(e *jsonschema.ValidationError) {
		out.Problems = append(out.Problems, Problem{
			Path:   jsonPointer(e.InstanceLocation),
			Reason: e.ErrorKind.LocalizedString(jsonPrinter),
		})
	})
	return out
}

// collectLeaves walks the cause tree; inner nodes ("allOf failed",
// "$ref failed") only group their causes, the leaves say what is wrong.
func collectLeaves(e *jsonschema.ValidationError, fn func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		fn(e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, fn)
	}
}

func jsonPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// MaxJSONValues bounds the values (scalars, arrays, objects) of a JSON
// document the validator decodes. Decoded, a value takes tens of times its
// bytes, and the validator walks every one (all of a 360,000-item array,
// even after maxItems has failed): a 9 MB body of small items would take
// seconds and hundreds of MB. A canonical entity or a vendor's batch has
// thousands of values, not a hundred thousand.
const MaxJSONValues = 100_000

// decodeJSON refuses invalid UTF-8 (encoding/json would silently turn it
// into U+FFFD), documents of more than MaxJSONValues values, and malformed
// or trailing input, naming the byte offset.
func decodeJSON(body []byte) (any, *Problem) {
	if !utf8.Valid(body) {
		off := invalidUTF8Offset(body)
		return nil, &Problem{Reason: fmt.Sprintf("invalid UTF-8 at byte offset %d", off)}
	}
	if off := valuesOver(body, MaxJSONValues); off >= 0 {
		return nil, &Problem{Reason: fmt.Sprintf("more than %d JSON values (the limit, reached at byte offset %d): refused before validation", MaxJSONValues, off)}
	}
	if v, ok := decodePlainJSON(body); ok {
		return v, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, &Problem{Reason: jsonSyntaxReason(err, int64(len(body)))}
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, &Problem{Reason: "invalid JSON at byte offset " + strconv.FormatInt(d.InputOffset(), 10) + ": data after the top-level value"}
	}
	return v, nil
}

// valuesOver returns the byte offset at which body has more than limit
// values, or -1: one byte scan, counting the values each separator and
// container opening begins, outside strings. It never undercounts a valid
// document's values by more than one.
func valuesOver(body []byte, limit int) int {
	n := 1
	inStr := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ',', '[', '{':
			if n++; n > limit {
				return i
			}
		}
	}
	return -1
}

// jsonSyntaxReason names the offset: the syntax error's own, or end (the
// body length) when the input stopped early.
func jsonSyntaxReason(err error, end int64) string {
	off := end
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) {
		return "invalid JSON: document is empty"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("invalid JSON at byte offset %d: unexpected end of input", off)
	}
	return fmt.Sprintf("invalid JSON at byte offset %d: %s", off, err.Error())
}

// decodePlainJSON decodes body as decodeJSON's encoding/json decoder does
// (objects as map[string]any, numbers as json.Number), several times
// faster, when body is plain: strings without escapes, numbers in the JSON
// grammar, nesting within reason, nothing after the value. Anything else
// reports false, and the caller decodes with encoding/json, whose result
// and error are the contract. body must be valid UTF-8.
func decodePlainJSON(body []byte) (any, bool) {
	d := plainJSON{b: body}
	v, ok := d.value(0)
	if !ok {
		return nil, false
	}
	d.ws()
	return v, d.i == len(d.b)
}

type plainJSON struct {
	b []byte
	i int
}

func (d *plainJSON) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *plainJSON) str() (string, bool) {
	// The caller saw the opening quote.
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			return string(d.b[start:j]), true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

func (d *plainJSON) value(depth int) (any, bool) {
	d.ws()
	if d.i >= len(d.b) || depth > 1000 {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.str()
	case c == '{':
		d.i++
		m := map[string]any{}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, true
		}
		for {
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false
			}
			k, ok := d.str()
			if !ok {
				return nil, false
			}
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
			d.ws()
			if d.i < len(d.b) && d.b[d.i] == ',' {
				d.i++
				continue
			}
			if d.i < len(d.b) && d.b[d.i] == '}' {
				d.i++
				return m, true
			}
			return nil, false
		}
	case c == '[':
		d.i++
		a := []any{}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return a, true
		}
		for {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			d.ws()
			if d.i < len(d.b) && d.b[d.i] == ',' {
				d.i++
				continue
			}
			if d.i < len(d.b) && d.b[d.i] == ']' {
				d.i++
				return a, true
			}
			return nil, false
		}
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *plainJSON) lit(s string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return false
	}
	d.i += len(s)
	return true
}

// number reads a number in the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *plainJSON) number() (any, bool) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	intStart := d.i
	n := digits()
	if n == 0 || (n > 1 && d.b[intStart] == '0') {
		return nil, false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return json.Number(d.b[start:d.i]), true
}
