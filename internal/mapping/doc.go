// Package mapping is Knutpunkt's declarative mapping language: YAML files
// in mappings/<vendor>/ that turn one message format (JSON, CSV or XML)
// into another (JSON or XML), field by field. The language reference, with
// the table of functions, is mappings/README.md.
//
// Load or Parse compile a mapping once: source paths (a JSON-path subset,
// or XPath through internal/schema), expr-lang expressions and lookup
// tables are all checked and compiled at load, and every problem is
// reported at once as a *ParseError with file, line and YAML path. Apply
// then maps whole documents and is safe for concurrent use; a field that
// cannot be mapped gives a *FieldError naming the mapping, the field and
// the reason, never the personal data involved.
//
// Mapping tests (<mapping>_test.yaml) run through LoadTests / TestCase.Run
// or RunTests and Report, shared by mappings/mappings_test.go and
// `knut test`.
package mapping
