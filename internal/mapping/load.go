package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/schema"
	"github.com/knutpunkt/knutpunkt/internal/textenc"
)

// ParseError is one problem in a mapping file, located by file, line and
// YAML path so an analyst can jump to it: "tes/visit.yaml:14:
// fields[3].from: must start with $". Parse and Load report every problem
// they find at once, joined with errors.Join.
type ParseError struct {
	File    string
	Line    int
	Path    string
	Problem string
}

// Error formats the problem as file:line: path: problem.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": " + e.Problem)
	return b.String()
}

// Load reads and compiles one mapping file. Its name, used in errors and by
// pipelines, is "<parent directory>/<file name without .yaml>", e.g.
// "tes/visit_json_to_visit".
func Load(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load mapping: %w", err)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	name := filepath.Base(filepath.Dir(path)) + "/" + base
	return parse(path, name, data)
}

// Parse compiles a mapping from YAML. name ("<vendor>/<mapping>") appears in
// every error the mapping reports, at load and at apply time.
func Parse(name string, data []byte) (*Mapping, error) {
	return parse(name+".yaml", name, data)
}

// LoadDir loads every mapping under root, keyed by its path relative to
// root without ".yaml" ("tes/visit_json_to_visit"). Test files
// (*_test.yaml) and testdata directories are skipped. Problems in all files
// are reported together.
func LoadDir(root string) (map[string]*Mapping, error) {
	out := map[string]*Mapping{}
	var errs []error
	err := config.Walk(root, func(p string) error {
		if !isMappingFile(p) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(strings.TrimSuffix(rel, ".yaml"))
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m, err := parse(p, name, data)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		out[name] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load mappings: %w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func isMappingFile(p string) bool {
	return strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, "_test.yaml")
}

// loader compiles one mapping file, collecting every problem.
type loader struct {
	file string
	m    *Mapping
	errs []error
}

func (l *loader) addf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.errs = append(l.errs, &ParseError{File: l.file, Line: line, Path: path, Problem: fmt.Sprintf(format, args...)})
}

// yamlSyntaxError reports a file that is not YAML at the line the problem is
// on.
func yamlSyntaxError(file string, data []byte, err error) *ParseError {
	line, problem := config.YAMLProblem(data, err.Error())
	return &ParseError{File: file, Line: line, Problem: problem}
}

func parse(file, name string, data []byte) (*Mapping, error) {
	l := &loader{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlSyntaxError(file, data, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &ParseError{File: file, Problem: "file is empty"}
	}
	l.m = &Mapping{name: name, fc: &funcCtx{loc: homecare.Stockholm(), lookups: map[string]lookupTable{}, now: time.Now}}
	l.top(doc.Content[0])
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return l.m, nil
}

// keys returns a mapping node's values by key in file order, reporting a
// non-mapping node, duplicate and unknown keys, aliases and missing
// required keys.
func (l *loader) keys(n *yaml.Node, path string, allowed []string, required ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind == yaml.AliasNode {
		l.addf(n, path, "YAML aliases are not supported")
		return out
	}
	if n.Kind != yaml.MappingNode {
		l.addf(n, path, "must be a mapping")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		switch {
		case !slices.Contains(allowed, k.Value):
			l.addf(k, kp, "unknown key (known: %s)", strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			l.addf(k, kp, "duplicate key")
		case v.Kind == yaml.AliasNode:
			l.addf(v, kp, "YAML aliases are not supported")
		default:
			out[k.Value] = v
		}
	}
	for _, r := range required {
		if out[r] == nil {
			l.addf(n, join(path, r), "is required")
		}
	}
	return out
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func (l *loader) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.addf(n, path, "must be a string")
		return ""
	}
	return n.Value
}

func (l *loader) boolean(n *yaml.Node, path string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		l.addf(n, path, "must be true or false")
	}
	return b
}

// literal converts a YAML value to the JSON-shaped Go value the output
// writers understand: string, int, float64, bool, nil, []any, map[string]any.
func (l *loader) literal(n *yaml.Node, path string) any {
	v, err := nodeValue(n)
	if err != nil {
		l.addf(n, path, "%v", err)
	}
	return v
}

func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			if i, ok := v.(int64); ok { // yaml decodes big ints as int64
				return int(i), nil
			}
			return v, nil
		case "!!str":
			return n.Value, nil
		default:
			return nil, fmt.Errorf("unsupported YAML tag %s", n.Tag)
		}
	case yaml.SequenceNode:
		a := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.AliasNode:
		return nil, errors.New("YAML aliases are not supported")
	}
	return nil, errors.New("unsupported YAML node")
}

func (l *loader) top(n *yaml.Node) {
	k := l.keys(n, "", []string{"description", "from", "to", "lookups", "fields"}, "from", "to", "fields")
	if v := k["description"]; v != nil {
		l.m.desc = l.str(v, "description")
	}
	if v := k["from"]; v != nil {
		l.from(v)
	}
	if v := k["to"]; v != nil {
		l.to(v)
	}
	if v := k["lookups"]; v != nil {
		l.lookups(v)
	}
	if v := k["fields"]; v != nil && (k["from"] != nil) {
		l.m.fnOpts = l.m.exprOptions()
		l.m.root = l.template(v, "fields")
	}
}

// Input and output formats.
const (
	formatJSON = "json"
	formatCSV  = "csv"
	formatXML  = "xml"
)

var xmlNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

func (l *loader) from(n *yaml.Node) {
	k := l.keys(n, "from", []string{"format", "schema", "namespaces", "delimiter", "header", "charset", "records"}, "format")
	m := l.m
	if v := k["schema"]; v != nil {
		m.inSchema = l.schemaRef(v, "from.schema")
	}
	m.csvHeader = true
	if v := k["format"]; v != nil {
		switch f := l.str(v, "from.format"); f {
		case formatJSON, formatCSV, formatXML:
			m.in = f
		case "":
		default:
			l.addf(v, "from.format", "unknown format %q (known: csv, json, xml)", f)
		}
	}
	only := func(key, format string) bool {
		if k[key] != nil && m.in != "" && m.in != format {
			l.addf(k[key], "from."+key, "applies only to format %s", format)
			return false
		}
		return k[key] != nil
	}
	if only("namespaces", formatXML) {
		nk := k["namespaces"]
		if nk.Kind != yaml.MappingNode {
			l.addf(nk, "from.namespaces", "must be a mapping of prefix to namespace URI")
		} else {
			m.ns = map[string]string{}
			for i := 0; i+1 < len(nk.Content); i += 2 {
				p := "from.namespaces." + nk.Content[i].Value
				if !xmlNameRE.MatchString(nk.Content[i].Value) {
					l.addf(nk.Content[i], p, "not a valid prefix")
				}
				m.ns[nk.Content[i].Value] = l.str(nk.Content[i+1], p)
			}
		}
	}
	if only("delimiter", formatCSV) {
		d := l.str(k["delimiter"], "from.delimiter")
		if r := []rune(d); len(r) != 1 || r[0] == '"' || r[0] == '\n' || r[0] == '\r' {
			l.addf(k["delimiter"], "from.delimiter", "must be one character other than a quote or newline")
		} else {
			m.csvDelim = r[0]
		}
	}
	if only("header", formatCSV) {
		m.csvHeader = l.boolean(k["header"], "from.header")
	}
	if only("charset", formatCSV) {
		c, err := textenc.Lookup(l.str(k["charset"], "from.charset"))
		if err != nil {
			l.addf(k["charset"], "from.charset", "%v", err)
		}
		m.csvCharset = c
	}
	if only("records", formatXML) {
		m.recordsSrc = l.str(k["records"], "from.records")
		if m.recordsSrc != "" {
			xp, err := schema.CompileXPath(m.recordsSrc)
			if err != nil {
				l.addf(k["records"], "from.records", "%v", err)
			}
			m.records = xp
		}
	}
}

func (l *loader) to(n *yaml.Node) {
	k := l.keys(n, "to", []string{"format", "schema", "root", "namespace"}, "format")
	m := l.m
	if v := k["schema"]; v != nil {
		m.outSchema = l.schemaRef(v, "to.schema")
	}
	if v := k["format"]; v != nil {
		switch f := l.str(v, "to.format"); f {
		case formatJSON, formatXML:
			m.out = f
		case "":
		default:
			l.addf(v, "to.format", "unknown format %q (known: json, xml)", f)
		}
	}
	if m.out == formatXML && k["root"] == nil {
		l.addf(n, "to.root", "is required for xml output")
	}
	for _, key := range []string{"root", "namespace"} {
		if v := k[key]; v != nil && m.out != formatXML && m.out != "" {
			l.addf(v, "to."+key, "applies only to format xml")
		}
	}
	if v := k["root"]; v != nil {
		m.xmlRoot = l.str(v, "to.root")
		if m.xmlRoot != "" && !xmlNameRE.MatchString(m.xmlRoot) {
			l.addf(v, "to.root", "not a valid XML element name")
		}
	}
	if v := k["namespace"]; v != nil {
		m.xmlNS = l.str(v, "to.namespace")
	}
}

// schemaRef checks a schema reference: a slash-separated path below the
// schemas directory ending in .xsd or .schema.json.
func (l *loader) schemaRef(n *yaml.Node, path string) string {
	s := l.str(n, path)
	switch {
	case s == "":
	case strings.HasPrefix(s, "/") || strings.Contains(s, "..") || strings.Contains(s, "\\"):
		l.addf(n, path, "must be a path below the schemas directory, e.g. canonical/visit.schema.json")
	case !strings.HasSuffix(s, ".xsd") && !strings.HasSuffix(s, ".schema.json"):
		l.addf(n, path, "must name a .xsd or .schema.json file")
	}
	return s
}

func (l *loader) lookups(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.addf(n, "lookups", "must be a mapping of table name to table")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, tn := n.Content[i].Value, n.Content[i+1]
		p := "lookups." + name
		if _, dup := l.m.fc.lookups[name]; dup {
			l.addf(n.Content[i], p, "duplicate key")
			continue
		}
		if tn.Kind != yaml.MappingNode || len(tn.Content) == 0 {
			l.addf(tn, p, "must be a non-empty mapping of key to value")
			continue
		}
		t := lookupTable{entries: map[string]any{}}
		for j := 0; j+1 < len(tn.Content); j += 2 {
			key := tn.Content[j].Value
			if _, dup := t.entries[key]; dup {
				l.addf(tn.Content[j], p+"."+key, "duplicate key")
				continue
			}
			t.entries[key] = l.literal(tn.Content[j+1], p+"."+key)
			t.keys = append(t.keys, key)
		}
		slices.Sort(t.keys)
		l.m.fc.lookups[name] = t
	}
}

var fieldKeys = []string{"to", "value", "from", "expr", "each", "fields", "fn", "type", "required", "default", "when"}

var outSegRE = regexp.MustCompile(`^@?[A-Za-z_][A-Za-z0-9_-]*$`)

// template compiles a list of field entries into a new output object.
func (l *loader) template(n *yaml.Node, path string) *tmpl {
	t := &tmpl{root: &onode{kind: oObject}}
	t.entries = l.fieldList(t, n, path, nil)
	return t
}

// fieldList compiles the entries of n into t, under the output prefix
// (merged groups pass their own `to` down).
func (l *loader) fieldList(t *tmpl, n *yaml.Node, path string, prefix []string) []*entry {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.addf(n, path, "must be a non-empty list of fields")
		return nil
	}
	var out []*entry
	for i, fn := range n.Content {
		if e := l.field(t, fn, fmt.Sprintf("%s[%d]", path, i), prefix); e != nil {
			out = append(out, e)
		}
	}
	return out
}

func (l *loader) field(t *tmpl, n *yaml.Node, path string, prefix []string) *entry {
	k := l.keys(n, path, fieldKeys, "to")
	if k["to"] == nil {
		return nil
	}
	e := &entry{line: n.Line}
	to := l.str(k["to"], path+".to")
	segs, isArr := l.outPath(k["to"], path+".to", to)
	if segs == nil {
		return nil
	}
	full := append(slices.Clip(prefix), segs...)
	e.to = strings.Join(full, ".")

	var sources []string
	for _, s := range []string{"value", "from", "expr", "fields"} {
		if k[s] != nil {
			sources = append(sources, s)
		}
	}
	if len(sources) != 1 {
		l.addf(n, path, "needs exactly one of value, from, expr or fields (has %d)", len(sources))
		return nil
	}
	if k["fn"] != nil && k["from"] == nil {
		l.addf(k["fn"], path+".fn", "applies only with from")
	}
	leaf := k["fields"] == nil
	if !leaf {
		for _, s := range []string{"fn", "type", "default"} {
			if k[s] != nil {
				l.addf(k[s], path+"."+s, "applies only to a single value, not to fields")
			}
		}
		if k["required"] != nil && k["each"] == nil {
			l.addf(k["required"], path+".required", "applies to fields only together with each")
		}
	}
	if v := k["required"]; v != nil {
		e.required = l.boolean(v, path+".required")
	}
	if v := k["when"]; v != nil {
		e.when = l.expression(v, path+".when", true)
	}
	if v := k["each"]; v != nil {
		e.each = l.srcPath(v, path+".each")
	}

	switch {
	case !leaf && e.each == nil && !isArr:
		// A group without each only shares a condition and a prefix: its
		// fields land in the enclosing object.
		l.place(t, full, oObject, n)
		e.children = l.fieldList(t, k["fields"], path+".fields", full)
		e.group = true
		return e
	case !leaf:
		e.sub = l.template(k["fields"], path+".fields")
		e.slot = l.place(t, full, oArray, n)
		e.array = true
		return e
	case e.each != nil || isArr:
		e.slot = l.place(t, full, oArray, n)
		e.array = true
	default:
		e.slot = l.place(t, full, oLeaf, n)
	}

	if v := k["value"]; v != nil {
		e.constant = l.literal(v, path+".value")
		e.hasConst = true
	}
	if v := k["from"]; v != nil {
		e.from = l.srcPath(v, path+".from")
	}
	if v := k["expr"]; v != nil {
		e.expr = l.expression(v, path+".expr", false)
	}
	if v := k["fn"]; v != nil {
		l.fn(e, v, path+".fn")
	}
	if v := k["type"]; v != nil {
		switch ty := l.str(v, path+".type"); ty {
		case "string":
			e.typ = typeString
		case "int":
			e.typ = typeInt
		case "number":
			e.typ = typeNumber
		case "bool":
			e.typ = typeBool
		case "":
		default:
			l.addf(v, path+".type", "unknown type %q (known: bool, int, number, string)", ty)
		}
	}
	if v := k["default"]; v != nil {
		e.def = l.literal(v, path+".default")
		e.hasDef = e.def != nil
		if e.hasDef && e.typ != typeAny {
			if _, err := convert(e.def, e.typ); err != nil {
				l.addf(v, path+".default", "%v", err)
			}
		}
	}
	if e.hasConst && e.typ != typeAny {
		if _, err := convert(e.constant, e.typ); err != nil {
			l.addf(k["value"], path+".value", "%v", err)
		}
	}
	return e
}

// outPath splits an output path "a.b.c" or "a.list[]" into its segments
// and says whether it ends in [] (append to an array).
func (l *loader) outPath(n *yaml.Node, path, to string) ([]string, bool) {
	if to == "" {
		if n.Tag != "!!null" && n.Kind == yaml.ScalarNode {
			l.addf(n, path, "must not be empty")
		}
		return nil, false
	}
	to, isArr := strings.CutSuffix(to, "[]")
	segs := strings.Split(to, ".")
	for i, s := range segs {
		switch {
		case !outSegRE.MatchString(s):
			l.addf(n, path, "%q is not a valid name (letters, digits, _ and -; @name for an XML attribute)", s)
			return nil, false
		case strings.HasPrefix(s, "@") && (l.m.out != formatXML || i != len(segs)-1 || isArr):
			l.addf(n, path, "@%s: attributes need xml output and must be the last segment of a single value", s[1:])
			return nil, false
		}
	}
	return segs, isArr
}

// place puts a node of kind at segs in t's output tree and returns its
// value slot. Objects may be reached by several entries and arrays may
// collect from several; anything else twice is a conflict.
func (l *loader) place(t *tmpl, segs []string, kind okind, at *yaml.Node) int {
	cur := t.root
	for i, s := range segs {
		last := i == len(segs)-1
		var next *onode
		for _, c := range cur.children {
			if c.key == s {
				next = c
				break
			}
		}
		want := oObject
		if last {
			want = kind
		}
		if next == nil {
			next = &onode{key: s, kind: want, line: at.Line, slot: -1}
			if want != oObject {
				next.slot = t.nslots
				t.nslots++
			}
			cur.children = append(cur.children, next)
		} else if next.kind != want || want == oLeaf {
			l.addf(at, "", "output %s is already written by the field at line %d", strings.Join(segs[:i+1], "."), next.line)
			return next.slot
		}
		cur = next
	}
	return cur.slot
}

func (l *loader) srcPath(n *yaml.Node, path string) *srcPath {
	s := l.str(n, path)
	if s == "" {
		return nil
	}
	p, err := l.m.compilePath(s)
	if err != nil {
		l.addf(n, path, "%v", err)
		return nil
	}
	return p
}

// compilePath compiles a source path for this mapping's input format.
func (m *Mapping) compilePath(s string) (*srcPath, error) {
	if m.in == formatXML {
		xp, err := schema.CompileXPath(s)
		if err != nil {
			return nil, err
		}
		return &srcPath{src: s, xp: xp}, nil
	}
	p, err := compileJSONPath(s)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", s, err)
	}
	return p, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// fn compiles `fn:`: a bare function name is called directly with the
// value (no expression VM on the hot path); anything else is an
// expression in which `value` is the value read by from.
func (l *loader) fn(e *entry, n *yaml.Node, path string) {
	s := l.str(n, path)
	if s == "" {
		return
	}
	if identRE.MatchString(s) {
		f := funcByName(s)
		switch {
		case f == nil:
			l.addf(n, path, "unknown function %q (see mappings/README.md)", s)
		case f.minArgs > 1:
			l.addf(n, path, "%s takes %d arguments; write an expression such as %s", s, f.minArgs, exampleCall(s))
		default:
			e.fnDirect = f
		}
		return
	}
	e.fn = l.expression(n, path, false)
}

func exampleCall(name string) string {
	if name == "lookup" {
		return `'lookup("table", value)'`
	}
	return name + "(value, …)"
}

func (l *loader) expression(n *yaml.Node, path string, asBool bool) *program {
	src := l.str(n, path)
	if src == "" {
		return nil
	}
	p, problems := l.m.compileExpr(src, asBool)
	for _, pr := range problems {
		l.addf(n, path, "%s", pr)
	}
	return p
}
