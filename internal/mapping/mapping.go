package mapping

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/schema"
	"github.com/knutpunkt/knutpunkt/internal/textenc"
)

// Mapping is a compiled mapping file. Paths and expressions are compiled
// once at load; Apply only reads the Mapping, so one Mapping is safe for
// concurrent use by any number of goroutines.
type Mapping struct {
	name, desc string

	in         string // formatJSON, formatCSV or formatXML
	inSchema   string
	outSchema  string
	csvDelim   rune // 0: ',' or ';', whichever the header line has more of
	csvHeader  bool
	csvCharset textenc.Charset
	ns         map[string]string
	records    *schema.XPath
	recordsSrc string

	out          string // formatJSON or formatXML
	xmlRoot      string
	xmlNS        string
	root         *tmpl
	fc           *funcCtx
	fnOpts       []expr.Option
	docs, states sync.Pool
}

// FieldError is a failure to map one output field of one record. Callers
// dead-letter the message with Error() as the reason; it names the mapping,
// the field and why, never the personal data that failed.
type FieldError struct {
	// Mapping is the mapping's name, e.g. "tes/visit_json_to_visit".
	Mapping string
	// Record is the 1-based record number when the input held several
	// records (JSON lines, CSV rows), and 0 for a single record.
	Record int
	// Field is the output path, with indexes inside repeating groups:
	// "client.person_id", "insatser[1].code".
	Field string
	// Err is the reason, e.g. "personnummer: check digit does not match"
	// or ErrRequired.
	Err error
}

// Error reads "mapping tes/visit_json_to_visit: field client.person_id:
// personnummer: check digit does not match".
func (e *FieldError) Error() string {
	if e.Record > 0 {
		return fmt.Sprintf("mapping %s: record %d: field %s: %v", e.Mapping, e.Record, e.Field, e.Err)
	}
	return fmt.Sprintf("mapping %s: field %s: %v", e.Mapping, e.Field, e.Err)
}

// Unwrap returns the reason, so errors.Is(err, ErrRequired) works.
func (e *FieldError) Unwrap() error { return e.Err }

// ErrRequired is the reason in a FieldError when a `required: true` field
// has no value (absent, null or "") and no default.
var ErrRequired = errors.New("required value is missing")

// Name returns the mapping's name, "<vendor>/<mapping>".
func (m *Mapping) Name() string { return m.name }

// Description returns the mapping's one-line description.
func (m *Mapping) Description() string { return m.desc }

// InputSchema is from.schema: the contract inputs are expected to meet, as
// a path below the schemas directory ("tes/export.schema.json"), or "".
// The mapping does not validate; pipelines and the test runner do.
func (m *Mapping) InputSchema() string { return m.inSchema }

// OutputSchema is to.schema, the contract every output must meet
// ("canonical/visit.schema.json"), or "".
func (m *Mapping) OutputSchema() string { return m.outSchema }

// OutputContentType is the MIME type of Apply's output, for the message's
// content-type header.
func (m *Mapping) OutputContentType() string {
	if m.out == formatXML {
		return "application/xml"
	}
	return "application/json"
}

// Apply maps a whole input document to a whole output document. JSON
// output is compact with keys in declaration order (maps produced by
// expressions in sorted order), so equal input gives byte-equal output.
// An input holding several records (JSON values one per line, CSV rows, or
// the nodes selected by from.records) gives JSON lines, one output per
// record; a pipeline can follow with `split: {lines: true}`. XML output
// takes exactly one record. Errors are *FieldError for a field that cannot
// be mapped, and wrap the parse error for input that is not well-formed.
func (m *Mapping) Apply(input []byte) ([]byte, error) {
	return m.ApplyWithHeaders(input, nil)
}

// ApplyWithHeaders is Apply for a message: expressions see its headers as
// `headers`, for what the transport knows and the body does not say (the
// provider a signed callback came from, say).
func (m *Mapping) ApplyWithHeaders(input []byte, headers map[string]string) ([]byte, error) {
	st := m.getState()
	defer m.putState(st)
	st.env.Headers = headers
	defer func() { st.env.Headers = nil }()
	// Canonical output is about as long as the vendor input; one
	// allocation instead of a chain of growing appends.
	out := make([]byte, 0, len(input)+len(input)/2+64)
	n := 0
	err := m.eachRecord(input, headers, func(sc scope, rec int) error {
		inst, err := m.eval(st, sc, rec)
		if err != nil {
			return err
		}
		if n > 0 {
			if m.out == formatXML {
				return fmt.Errorf("mapping %s: xml output takes one record per document, input has more", m.name)
			}
			out = append(out, '\n')
		}
		n++
		if m.out == formatXML {
			out, err = m.writeXML(out, inst)
			return err
		}
		out, err = writeObject(out, inst.t.root, inst.vals)
		return err
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("mapping %s: input holds no record", m.name)
	}
	return out, nil
}

// ApplyValue maps one already decoded JSON record (map[string]any, []any,
// string, float64, …, as encoding/json produces) and returns the output as
// the same kind of values, for callers that validate or store Go values
// without another encode/decode round. It needs a json input mapping.
func (m *Mapping) ApplyValue(input any) (any, error) {
	if m.in != formatJSON {
		return nil, fmt.Errorf("mapping %s: ApplyValue needs json input, not %s", m.name, m.in)
	}
	st := m.getState()
	defer m.putState(st)
	inst, err := m.eval(st, anyScope{input}, 0)
	if err != nil {
		return nil, err
	}
	return inst.goValue(), nil
}

// state is the per-Apply scratch space: an expr VM and its env, reused
// through a pool so a record costs no VM allocation.
type state struct {
	vm  vm.VM
	env exprEnv
}

func (m *Mapping) getState() *state {
	if st, ok := m.states.Get().(*state); ok {
		return st
	}
	return &state{}
}

func (m *Mapping) putState(st *state) { m.states.Put(st) }

// eachRecord parses input in the mapping's input format and calls fn for
// every record, numbering them from 1 when there are several. headers are
// the message's (a CSV's charset may be in its content type), or nil.
func (m *Mapping) eachRecord(input []byte, headers map[string]string, fn func(sc scope, rec int) error) error {
	switch m.in {
	case formatXML:
		return m.eachXMLRecord(input, fn)
	case formatCSV:
		return m.eachCSVRecord(input, headers, fn)
	}
	d, _ := m.docs.Get().(*jdoc)
	if d == nil {
		d = &jdoc{}
	}
	defer func() {
		d.src = "" // do not keep the last input alive in the pool
		m.docs.Put(d)
	}()
	roots, err := d.parse(string(input))
	if err != nil {
		return fmt.Errorf("mapping %s: read input: %w", m.name, err)
	}
	for i, r := range roots {
		rec := i + 1
		if len(roots) == 1 {
			rec = 0
		}
		if err := fn(jsonScope{d, r}, rec); err != nil {
			return err
		}
	}
	return nil
}

// CSV limits. A vendor's row is a few hundred bytes in fewer than 40
// columns; the limits sit far above that. They bound what one line or
// record can cost (the body's size limit bounds the whole): without them
// a single 10 MB line of commas is 10 million fields, 16 bytes of string
// header each, and with a header row every record becomes an object with
// that many keys.
const (
	// MaxCSVLineBytes bounds one physical line, checked before the CSV
	// reader runs.
	MaxCSVLineBytes = 64 << 10
	// MaxCSVFields bounds the fields of one record.
	MaxCSVFields = 256
	// MaxCSVFieldBytes bounds one field, which a quoted field spanning
	// lines could otherwise grow past MaxCSVLineBytes.
	MaxCSVFieldBytes = 16 << 10
)

// eachCSVRecord reads input as CSV. With a header row each record is an
// object keyed by column name ($.visit_id); without, a list ($[0]). Every
// cell is a string: use type: to get numbers and booleans. Input beyond
// the MaxCSV limits, and a header naming a column twice, are refused by
// line number and limit, never quoting a cell.
//
// The charset is from.charset if the mapping sets one, else the one the
// message's content type names (charset=windows-1252), else UTF-8 when
// the bytes are UTF-8 and Windows-1252 when not; a UTF-8 byte order mark
// (Excel writes one) makes it UTF-8 (textenc.Decode). Bytes that are not
// characters in it are refused by line, field and offset. Without
// from.delimiter the delimiter is ';' if the header line has more of them
// than ',', else ','.
func (m *Mapping) eachCSVRecord(input []byte, headers map[string]string, fn func(sc scope, rec int) error) error {
	cs := m.csvCharset
	if cs == textenc.Auto {
		c, err := textenc.FromContentType(headers[knutpunkt.HeaderContentType])
		if err != nil {
			return fmt.Errorf("mapping %s: read input: %w", m.name, err)
		}
		cs = c
	}
	// Lines are measured as sent: decoded, a line of Windows-1252 may
	// grow to three times its bytes, which the field limit bounds.
	if line := longCSVLine(bytes.TrimPrefix(input, []byte(textenc.BOM))); line > 0 {
		return fmt.Errorf("mapping %s: read input: line %d: longer than %d bytes (the limit)", m.name, line, MaxCSVLineBytes)
	}
	delim := m.csvDelim
	if delim == 0 {
		delim = ','
		if m.csvHeader {
			delim = headerDelimiter(bytes.TrimPrefix(input, []byte(textenc.BOM)))
		}
	}
	text, _, err := textenc.Decode(input, cs)
	if err != nil {
		return fmt.Errorf("mapping %s: read input: %s%w", m.name, m.csvDecodeWhere(input, delim, err), err)
	}
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = delim
	r.ReuseRecord = false
	var header []string
	var rows [][]string
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("mapping %s: read input: %w", m.name, err)
		}
		if err := csvRowLimits(r, row); err != nil {
			return fmt.Errorf("mapping %s: read input: %w", m.name, err)
		}
		if m.csvHeader && header == nil {
			header = row
			seen := make(map[string]int, len(header))
			for i, h := range header {
				header[i] = strings.TrimSpace(h)
				// A repeated column is a repeated key: which cell a path
				// reads would depend on the reader.
				if j, dup := seen[header[i]]; dup && header[i] != "" {
					line, _ := r.FieldPos(i)
					return fmt.Errorf("mapping %s: read input: line %d: header columns %d and %d have the same name", m.name, line, j+1, i+1)
				}
				seen[header[i]] = i
			}
			continue
		}
		rows = append(rows, row)
	}
	for i, row := range rows {
		var v any
		if m.csvHeader {
			obj := make(map[string]any, len(header))
			for j, h := range header {
				if j < len(row) {
					obj[h] = row[j]
				}
			}
			v = obj
		} else {
			a := make([]any, len(row))
			for j, c := range row {
				a[j] = c
			}
			v = a
		}
		rec := i + 1
		if len(rows) == 1 {
			rec = 0
		}
		if err := fn(anyScope{v}, rec); err != nil {
			return err
		}
	}
	return nil
}

// headerDelimiter is ';' if the first line of input has more semicolons
// than commas outside quotes (a Swedish Excel export), else ','.
func headerDelimiter(input []byte) rune {
	commas, semicolons, quoted := 0, 0, false
	for _, c := range input {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			return pick(semicolons > commas)
		case c == ',':
			commas++
		case c == ';':
			semicolons++
		}
	}
	return pick(semicolons > commas)
}

func pick(semicolon bool) rune {
	if semicolon {
		return ';'
	}
	return ','
}

// csvDecodeWhere says where in input a textenc.Error is, as a prefix to
// it: the line, and the field by number and header name when the
// delimiter is ASCII ("line 3, field 8 (enhet): "). It never quotes a
// cell.
func (m *Mapping) csvDecodeWhere(input []byte, delim rune, err error) string {
	te, ok := errors.AsType[*textenc.Error](err)
	if !ok || delim >= utf8.RuneSelf {
		return ""
	}
	line, field, quoted := 1, 1, false
	for _, c := range input[:te.Offset] {
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\n':
			line++
			if !quoted {
				field = 1
			}
		case c == byte(delim) && !quoted:
			field++
		}
	}
	where := fmt.Sprintf("line %d, field %d", line, field)
	if m.csvHeader && line > 1 {
		if name := headerName(input, delim, te.Charset, field); name != "" {
			where += " (" + name + ")"
		}
	}
	return where + ": "
}

// headerName is column field's name in input's header line, read in cs,
// cut to 64 bytes; "" when the header cannot be read.
func headerName(input []byte, delim rune, cs textenc.Charset, field int) string {
	head, _, _ := bytes.Cut(input, []byte{'\n'})
	text, _, err := textenc.Decode(head, cs)
	if err != nil {
		return ""
	}
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = delim
	r.LazyQuotes = true
	names, err := r.Read()
	if err != nil || field > len(names) {
		return ""
	}
	name := strings.TrimSpace(names[field-1])
	if len(name) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + "…"
	}
	return name
}

// longCSVLine returns the 1-based number of the first line longer than
// MaxCSVLineBytes, or 0.
func longCSVLine(input []byte) int {
	for line := 1; len(input) > 0; line++ {
		n := bytes.IndexByte(input, '\n')
		if n < 0 {
			n = len(input)
		}
		if n > MaxCSVLineBytes {
			return line
		}
		input = input[min(n+1, len(input)):]
	}
	return 0
}

// csvRowLimits checks a record r just read against MaxCSVFields and
// MaxCSVFieldBytes.
func csvRowLimits(r *csv.Reader, row []string) error {
	if len(row) > MaxCSVFields {
		line, _ := r.FieldPos(0)
		return fmt.Errorf("line %d: more than %d fields (the limit)", line, MaxCSVFields)
	}
	for i, f := range row {
		if len(f) > MaxCSVFieldBytes {
			line, col := r.FieldPos(i)
			return fmt.Errorf("line %d, column %d: field %d longer than %d bytes (the limit)", line, col, i+1, MaxCSVFieldBytes)
		}
	}
	return nil
}

// eachXMLRecord parses input through internal/schema (no DTDs, no
// network). The record is the root element, or each node from.records
// selects.
func (m *Mapping) eachXMLRecord(input []byte, fn func(sc scope, rec int) error) error {
	doc, err := schema.ParseXML(input)
	if err != nil {
		return fmt.Errorf("mapping %s: read input: %w", m.name, err)
	}
	defer doc.Free()
	var nodes []*schema.XMLNode
	collect := func(n *schema.XMLNode) error { nodes = append(nodes, n); return nil }
	if m.records != nil {
		err = m.records.Each(doc.Node(), m.ns, collect)
	} else {
		err = doc.Each("/*", nil, collect)
	}
	if err != nil {
		return fmt.Errorf("mapping %s: read input: %w", m.name, err)
	}
	for i, n := range nodes {
		rec := i + 1
		if len(nodes) == 1 {
			rec = 0
		}
		if err := fn(xmlScope{n, m.ns}, rec); err != nil {
			return err
		}
	}
	return nil
}

// scope is one record, or one item of a repeating group, that source
// paths are evaluated against.
type scope interface {
	// get returns the value at p: nil when absent, a []any for a JSON path
	// with [*], and otherwise a single value (always a string for XML).
	get(p *srcPath) (any, error)
	// items returns the scopes p selects, for each:.
	items(p *srcPath) ([]scope, error)
}

type jsonScope struct {
	d *jdoc
	i int32
}

func (s jsonScope) get(p *srcPath) (any, error) {
	if !p.wild {
		i := s.d.lookup(s.i, p.segs)
		if i < 0 || s.d.nodes[i].kind == jNull {
			return nil, nil
		}
		return s.d.value(i), nil
	}
	var out []any
	s.d.walk(s.i, p.segs, func(i int32) { out = append(out, s.d.value(i)) })
	if out == nil {
		return nil, nil
	}
	return out, nil
}

func (s jsonScope) items(p *srcPath) ([]scope, error) {
	var out []scope
	if !p.wild {
		i := s.d.lookup(s.i, p.segs)
		if i < 0 {
			return nil, nil
		}
		if s.d.nodes[i].kind != jArray {
			// each: over a single object maps it as a one-item group.
			if s.d.nodes[i].kind == jNull {
				return nil, nil
			}
			return []scope{jsonScope{s.d, i}}, nil
		}
		n := &s.d.nodes[i]
		for c := i + 1; c < n.skip; c = s.d.nodes[c].skip {
			out = append(out, jsonScope{s.d, c})
		}
		return out, nil
	}
	s.d.walk(s.i, p.segs, func(i int32) { out = append(out, jsonScope{s.d, i}) })
	return out, nil
}

type anyScope struct{ v any }

func (s anyScope) get(p *srcPath) (any, error) {
	return lookupAny(s.v, p.segs, p.wild), nil
}

func (s anyScope) items(p *srcPath) ([]scope, error) {
	v := lookupAny(s.v, p.segs, p.wild)
	a, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return []scope{anyScope{v}}, nil
	}
	out := make([]scope, 0, len(a))
	for _, x := range a {
		out = append(out, anyScope{x})
	}
	return out, nil
}

type xmlScope struct {
	n  *schema.XMLNode
	ns map[string]string
}

func (s xmlScope) get(p *srcPath) (any, error) {
	v, ok, err := p.xp.Value(s.n, s.ns)
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

func (s xmlScope) items(p *srcPath) ([]scope, error) {
	var out []scope
	err := p.xp.Each(s.n, s.ns, func(n *schema.XMLNode) error {
		out = append(out, xmlScope{n, s.ns})
		return nil
	})
	return out, err
}

// outType is a field's `type:`.
type outType uint8

const (
	typeAny outType = iota
	typeString
	typeInt
	typeNumber
	typeBool
)

// convert coerces v to t. CSV and XML give strings, JSON gives float64 or
// int; `type:` makes the output what the target schema wants. Errors do
// not quote v.
func convert(v any, t outType) (any, error) {
	switch t {
	case typeString:
		s, _ := text(v)
		switch v.(type) {
		case []any, map[string]any:
			return nil, errors.New("type string: value is a list or object")
		}
		return s, nil
	case typeInt:
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		case string:
			if i, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
				return i, nil
			}
		}
		return nil, errors.New("type int: not a whole number")
	case typeNumber:
		switch x := v.(type) {
		case int, float64:
			return x, nil
		case int64:
			return int(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
		return nil, errors.New("type number: not a number")
	case typeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "1", "yes", "ja", "j", "y":
				return true, nil
			case "false", "0", "no", "nej", "n":
				return false, nil
			}
		case int:
			if x == 0 || x == 1 {
				return x == 1, nil
			}
		}
		return nil, errors.New("type bool: not true or false")
	}
	return v, nil
}
