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

	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
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
		if len(out.Problems) == maxProblems {
			out.Dropped++
			return
		}
		out.Problems = append(out.Problems, Problem{
			Path:   cutPath(jsonPointer(e.InstanceLocation)),
			Reason: jsonReason(e.ErrorKind),
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
// into U+FFFD), documents of more than MaxJSONValues values, a key repeated
// in one object and a \u0000 or unpaired surrogate escape (at its JSON
// pointer), and malformed or trailing input,
// naming the byte offset.
func decodeJSON(body []byte) (any, *Problem) {
	if !utf8.Valid(body) {
		off := invalidUTF8Offset(body)
		return nil, &Problem{Reason: fmt.Sprintf("invalid UTF-8 at byte offset %d", off)}
	}
	if off := valuesOver(body, MaxJSONValues); off >= 0 {
		return nil, &Problem{Reason: fmt.Sprintf("more than %d JSON values (the limit, reached at byte offset %d): refused before validation", MaxJSONValues, off)}
	}
	if v, ok := jsonscan.DecodePlain(body); ok { // the fast path for plain JSON: no key repeats
		return v, nil
	}
	// encoding/json keeps a repeated key's last value, the mapping its
	// first: a body could pass on one value and be stored with the other.
	switch err := jsonscan.CheckKeys(body).(type) {
	case *jsonscan.DuplicateKeyError:
		return nil, &Problem{Path: err.Pointer, Reason: "duplicate key"}
	case *jsonscan.TextError:
		return nil, &Problem{Path: err.Pointer, Reason: err.Reason}
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
