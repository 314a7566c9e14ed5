package schema

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A Validator checks a message body against one compiled schema. Compile
// once with Load; Validate is safe for concurrent use and returns nil,
// a *ValidationError (the body is invalid: a permanent failure, retrying
// cannot help), or another error (the validator itself broke).
// Size limits are the caller's job: Validate reads all of body.
type Validator interface {
	Validate(body []byte) error
}

// ValidationError lists every problem found in one body, so an operator
// can fix a message in one round trip. Read it with errors.As.
type ValidationError struct {
	// Schema names the schema, as its path was given to Load.
	Schema string
	// Problems holds at least one problem, in document order.
	Problems []Problem
	// Dropped counts further problems not kept, beyond a bound that
	// stops hostile input from growing the list without limit.
	Dropped int
}

// Problem is one reason a body is invalid. XML problems carry the line
// (and the element path when libxml2 knows it); JSON problems carry the
// JSON pointer of the offending value in Path.
type Problem struct {
	// Path is a JSON pointer ("/start_at", "" for the root) for JSON, or
	// an XPath-like element path ("/v:visit/v:start") for XML; may be empty.
	Path string
	// Line is the 1-based line for XML, 0 when unknown and for JSON.
	Line int
	// Reason is the validator's own text.
	Reason string
}

// maxErrorBytes is the budget Error fills with whole problems before it
// counts the rest; it stays under the pipeline's cap on a step's reason
// (pipeline.MaxReasonBytes) so that cap never cuts a problem in half.
const maxErrorBytes = 1536

// Error reads "schema tes/visit.xsd: line 4: Element ...; line 7: ...",
// with as many problems as fit in about 1.5 KiB and "and N more problems"
// for the rest.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("schema ")
	b.WriteString(e.Schema)
	b.WriteString(": ")
	more := e.Dropped
	for i, p := range e.Problems {
		s := p.String()
		if i > 0 && b.Len()+len(s) > maxErrorBytes {
			more += len(e.Problems) - i
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	if more > 0 {
		fmt.Fprintf(&b, "; and %d more problems", more)
	}
	return b.String()
}

// String renders one problem the way Error joins them: "line 4: reason"
// when the line is known (XML), else "at '/pointer': reason" (JSON).
func (p Problem) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Reason)
	}
	return fmt.Sprintf("at '%s': %s", p.Path, p.Reason)
}

// Load compiles the schema at path, choosing the engine by extension:
// .xsd for XML Schema (libxml2), .json (including .schema.json) for JSON
// Schema 2020-12.
func Load(path string) (Validator, error) {
	switch {
	case strings.EqualFold(filepath.Ext(path), ".xsd"):
		return LoadXSD(path)
	case strings.EqualFold(filepath.Ext(path), ".json"):
		return LoadJSONSchema(path)
	}
	return nil, fmt.Errorf("load schema %s: unknown extension (want .xsd, .schema.json or .json)", path)
}
