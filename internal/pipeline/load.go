package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
)

// Resources are what a plan's references resolve against. Loaders should
// cache, since many pipelines share mappings and schemas.
type Resources struct {
	// Registry resolves `from:` and `to:` adapter names.
	Registry *adapters.Registry
	// Mapping loads a mapping by name, e.g. "tes/visit_json_to_visit".
	Mapping func(name string) (Mapper, error)
	// Schema loads a schema by path relative to the schemas directory,
	// e.g. "canonical/visit.schema.json".
	Schema func(path string) (Validator, error)
	// Entities decode the canonical entity kinds the store step accepts.
	Entities map[string]EntityDecoder
	// Vars are the values of ${name} references in pipeline files: what
	// differs between deployments of the same pipelines (a provider's
	// webhook URL, a drop directory) lives in knut.yaml, not in the
	// pipeline. A reference to an undefined var is a problem.
	Vars map[string]string
}

// DefaultMaxBody is the body limit when a pipeline sets none: 10 MiB.
const DefaultMaxBody = 10 << 20

// Problem is one thing wrong in a pipeline file.
type Problem struct {
	File    string
	Line    int
	Path    string
	Message string
}

func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Path == "" {
		return loc + ": " + p.Message
	}
	return loc + ": " + p.Path + ": " + p.Message
}

// Problems is every problem found in one or more files; Error prints one per
// line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// LoadDir loads every *.yaml pipeline in dir (not *_test.yaml), sorted by
// name. Problems in all files are returned together as Problems.
func LoadDir(dir string, res Resources) ([]*Plan, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var plans []*Plan
	var all Problems
	for _, f := range files {
		p, err := Load(f, res)
		var ps Problems
		switch {
		case errors.As(err, &ps):
			all = append(all, ps...)
		case err != nil:
			return nil, err
		default:
			plans = append(plans, p)
		}
	}
	if len(all) > 0 {
		return nil, all
	}
	return plans, nil
}

// Files lists the pipeline files in dir, sorted.
func Files(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, m := range matches {
		if !strings.HasSuffix(m, "_test.yaml") {
			files = append(files, m)
		}
	}
	slices.Sort(files)
	return files, nil
}

// Load reads and resolves one pipeline file.
func Load(path string, res Resources) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load pipeline: %w", err)
	}
	return Parse(path, data, res)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Parse resolves a pipeline from its YAML; file names it in problems and its
// base name is the pipeline's name.
func Parse(file string, data []byte, res Resources) (*Plan, error) {
	l := &loader{file: file, res: res}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	p := &Plan{Name: name, File: file, MaxBody: DefaultMaxBody,
		Retry: Retry{Attempts: 5, Backoff: time.Second, MaxBackoff: time.Minute}}
	if !nameRE.MatchString(name) {
		l.addf(nil, "", "file name %q must be snake_case: it is the pipeline's name", name)
	}
	if data = l.expand(data); len(l.problems) > 0 {
		return nil, l.problems // the unexpanded text would only add YAML noise
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, problem := config.YAMLProblem(data, err.Error())
		l.problems = append(l.problems, Problem{File: file, Line: line, Message: problem})
		return nil, l.problems
	}
	if len(doc.Content) == 0 {
		l.addf(nil, "", "empty pipeline")
		return nil, l.problems
	}
	root := doc.Content[0]
	fields := l.mapping(root, "", map[string]bool{"from": true})
	for key, n := range fields {
		switch key {
		case "description":
			p.Description = l.str(n, key)
		case "from":
			p.From = l.endpoint(n, key, true)
		case "to":
			p.To = l.endpoint(n, key, false)
		case "steps":
			p.Steps = l.steps(n)
		case "retry":
			l.retry(n, &p.Retry)
		case "dead_letter":
			for k, v := range l.mapping(n, key, map[string]bool{"topic": true}) {
				if k != "topic" {
					l.unknown(v, key, k, "topic")
					continue
				}
				p.DeadLetterTopic = l.topic(v, key+".topic")
			}
		case "reply_to":
			for k, v := range l.mapping(n, key, map[string]bool{"topic": true}) {
				if k != "topic" {
					l.unknown(v, key, k, "topic")
					continue
				}
				p.ReplyTo = l.topic(v, key+".topic")
			}
		case "order_by":
			p.OrderBy = l.orderBy(n)
		case "max_body":
			p.MaxBody = l.size(n, key)
		case "allow":
			p.Allow = l.allow(n)
		default:
			l.unknown(n, "", key, "description", "from", "to", "steps", "retry", "dead_letter", "reply_to", "order_by", "max_body", "allow")
		}
	}
	if len(l.problems) > 0 {
		slices.SortStableFunc(l.problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return strings.Compare(a.Path, b.Path)
		})
		return nil, l.problems
	}
	return p, nil
}

var varRE = regexp.MustCompile(`\$\{([a-z][a-z0-9_]*)\}`)

// expand replaces ${name} references with their vars, line by line so that
// an undefined one is reported where it stands. Values are inserted as
// they are: quote the reference in YAML if the value may need it.
func (l *loader) expand(data []byte) []byte {
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		lines[i] = varRE.ReplaceAllFunc(line, func(ref []byte) []byte {
			name := string(ref[2 : len(ref)-1])
			v, ok := l.res.Vars[name]
			if !ok {
				l.problems = append(l.problems, Problem{File: l.file, Line: i + 1, Path: "${" + name + "}",
					Message: "undefined var (define it under vars: in knut.yaml)"})
				return ref
			}
			return []byte(v)
		})
	}
	return bytes.Join(lines, []byte("\n"))
}

type loader struct {
	file     string
	res      Resources
	problems Problems
}

func (l *loader) addf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// unknown reports a key the pipeline format does not have, with the keys
// it would have known there.
func (l *loader) unknown(n *yaml.Node, parent, key string, known ...string) {
	l.addf(n, join(parent, key), "unknown key (known: %s)", strings.Join(known, ", "))
}

// mapping returns a mapping node's values by key, reporting duplicate keys,
// a non-mapping node and missing required keys. Values point at the value
// node; the key node's line is used for the value's problems.
func (l *loader) mapping(n *yaml.Node, path string, required map[string]bool) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		l.addf(n, path, "must be a mapping")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			l.addf(k, join(path, k.Value), "duplicate key")
			continue
		}
		out[k.Value] = v
	}
	for k := range required {
		if _, ok := out[k]; !ok {
			l.addf(n, join(path, k), "is required")
		}
	}
	return out
}

func (l *loader) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.addf(n, path, "must be a string")
		return ""
	}
	return n.Value
}

var topicRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

func (l *loader) topic(n *yaml.Node, path string) string {
	t := l.str(n, path)
	if t != "" && !topicRE.MatchString(t) {
		l.addf(n, path, "topic %q must be dot-separated snake_case words, e.g. canon.visit", t)
	}
	return t
}

// endpoint decodes `{topic: x}` or `{<adapter>: {config}}`.
func (l *loader) endpoint(n *yaml.Node, path string, source bool) Endpoint {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		l.addf(n, path, "must have exactly one key: an adapter name or topic")
		return Endpoint{}
	}
	k, v := n.Content[0], n.Content[1]
	if k.Value == "topic" {
		return Endpoint{Path: path, Topic: l.topic(v, path+".topic")}
	}
	cfgPath := path + "." + k.Value
	var newConfig func() adapters.Config
	if l.res.Registry == nil {
		l.addf(k, cfgPath, "no adapter registry to resolve %q", k.Value)
		return Endpoint{}
	}
	if source {
		def, err := l.res.Registry.Source(k.Value)
		if err != nil {
			l.addf(k, cfgPath, "%v", err)
			return Endpoint{}
		}
		newConfig = def.Config
	} else {
		def, err := l.res.Registry.Sink(k.Value)
		if err != nil {
			l.addf(k, cfgPath, "%v", err)
			return Endpoint{}
		}
		newConfig = def.Config
	}
	cfg := l.adapterConfig(v, cfgPath, newConfig)
	return Endpoint{Path: path, Adapter: k.Value, Config: cfg}
}

// adapterConfig decodes an adapter's config node strictly. The node is
// re-encoded so the adapter's own decoder sees plain YAML; line numbers in
// its errors are shifted back to the pipeline file.
func (l *loader) adapterConfig(v *yaml.Node, path string, newConfig func() adapters.Config) adapters.Config {
	var data []byte
	if !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(v); err != nil {
			l.addf(v, path, "%v", err)
			return nil
		}
		data = buf.Bytes()
	}
	cfg, err := adapters.DecodeConfig(newConfig, data)
	if err != nil {
		for _, e := range flatten(err) {
			line := v.Line
			n, msg := config.YAMLProblem(data, e.Error())
			if n > 0 {
				line = v.Line + n - 1
			}
			l.problems = append(l.problems, Problem{File: l.file, Line: line, Path: path, Message: msg})
		}
		return nil
	}
	return cfg
}

func (l *loader) steps(n *yaml.Node) []Step {
	if n.Kind != yaml.SequenceNode {
		l.addf(n, "steps", "must be a list")
		return nil
	}
	var steps []Step
	for i, sn := range n.Content {
		path := fmt.Sprintf("steps[%d]", i)
		if sn.Kind != yaml.MappingNode || len(sn.Content) != 2 {
			l.addf(sn, path, "must have exactly one key: validate, map, store, route or split")
			continue
		}
		k, v := sn.Content[0], sn.Content[1]
		name := path + "." + k.Value
		var s Step
		switch k.Value {
		case "validate":
			s = l.validate(v, name)
		case "map":
			s = l.mapStep(v, name)
		case "store":
			s = l.store(v, name)
		case "route":
			s = l.route(v, name)
		case "split":
			s = l.split(v, name)
		default:
			l.addf(k, name, "unknown step (want validate, map, store, route or split)")
		}
		if s != nil {
			steps = append(steps, s)
		}
	}
	return steps
}

// validate accepts `validate: path` or `validate: {schema: path}`.
func (l *loader) validate(n *yaml.Node, path string) Step {
	ref := n
	if n.Kind == yaml.MappingNode {
		fields := l.mapping(n, path, map[string]bool{"schema": true})
		for k, v := range fields {
			if k != "schema" {
				l.unknown(v, path, k, "schema")
			}
		}
		if ref = fields["schema"]; ref == nil {
			return nil
		}
	}
	// The step is named steps[i].validate in either form; problems with
	// the reference point at the schema key where there is one.
	refPath := path
	if n.Kind == yaml.MappingNode {
		refPath += ".schema"
	}
	schema := l.str(ref, refPath)
	if schema == "" || l.res.Schema == nil {
		return nil
	}
	v, err := l.res.Schema(schema)
	if err != nil {
		l.addf(ref, refPath, "%v", err)
		return nil
	}
	return &validateStep{name: path, schema: schema, v: v}
}

func (l *loader) mapStep(n *yaml.Node, path string) Step {
	name := l.str(n, path)
	if name == "" || l.res.Mapping == nil {
		return nil
	}
	m, err := l.res.Mapping(name)
	if err != nil {
		l.addf(n, path, "%v", err)
		return nil
	}
	return &mapStep{name: path, mapping: name, m: m}
}

func (l *loader) store(n *yaml.Node, path string) Step {
	kind := l.str(n, path)
	if kind == "" {
		return nil
	}
	dec, ok := l.res.Entities[kind]
	if !ok {
		kinds := make([]string, 0, len(l.res.Entities))
		for k := range l.res.Entities {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		l.addf(n, path, "unknown entity kind %q (want one of: %s)", kind, strings.Join(kinds, ", "))
		return nil
	}
	return &storeStep{name: path, kind: kind, decode: dec}
}

// route decodes a list of `{when: expr, to: endpoint}`.
func (l *loader) route(n *yaml.Node, path string) Step {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.addf(n, path, "must be a non-empty list of {when, to}")
		return nil
	}
	s := &routeStep{name: path}
	for i, rn := range n.Content {
		rp := fmt.Sprintf("%s[%d]", path, i)
		fields := l.mapping(rn, rp, map[string]bool{"when": true})
		_, hasTo := fields["to"]
		_, hasReject := fields["reject"]
		if hasTo == hasReject {
			l.addf(rn, rp, "needs exactly one of to and reject")
		}
		var r route
		for k, v := range fields {
			switch k {
			case "when":
				r.src = l.str(v, rp+".when")
				prog, err := expr.Compile(r.src, expr.Env(routeEnv{}), expr.AsBool())
				if err != nil {
					l.addf(v, rp+".when", "%v", firstLine(err.Error()))
					continue
				}
				r.when = prog
			case "to":
				r.to = l.endpoint(v, rp+".to", false)
			case "reject":
				r.reject = l.str(v, rp+".reject")
			default:
				l.unknown(v, rp, k, "when", "to", "reject")
			}
		}
		s.routes = append(s.routes, r)
	}
	return s
}

// split accepts `split: lines` or `split: {path: $.a.b}`.
func (l *loader) split(n *yaml.Node, path string) Step {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "lines" {
			l.addf(n, path, "want `lines` or {path: $.field}")
			return nil
		}
		return &splitStep{name: path, lines: true}
	}
	fields := l.mapping(n, path, map[string]bool{"path": true})
	var keys []string
	for k, v := range fields {
		if k != "path" {
			l.unknown(v, path, k, "path")
			continue
		}
		p := l.str(v, path+".path")
		rest, ok := strings.CutPrefix(p, "$")
		if !ok {
			l.addf(v, path+".path", "must start with $, e.g. $.visits")
			continue
		}
		rest = strings.TrimPrefix(rest, ".")
		if rest != "" {
			keys = strings.Split(rest, ".")
		}
	}
	return &splitStep{name: path, path: keys}
}

func (l *loader) retry(n *yaml.Node, r *Retry) {
	for k, v := range l.mapping(n, "retry", nil) {
		switch k {
		case "attempts":
			a, err := strconv.Atoi(l.str(v, "retry.attempts"))
			if err != nil || a < 1 || a > 100 {
				l.addf(v, "retry.attempts", "must be a whole number from 1 to 100")
			}
			r.Attempts = a
		case "backoff":
			r.Backoff = l.duration(v, "retry.backoff")
		case "max_backoff":
			r.MaxBackoff = l.duration(v, "retry.max_backoff")
		default:
			l.unknown(v, "retry", k, "attempts", "backoff", "max_backoff")
		}
	}
	if r.MaxBackoff < r.Backoff {
		l.addf(n, "retry.max_backoff", "must not be less than backoff")
	}
}

func (l *loader) orderBy(n *yaml.Node) *OrderBy {
	o := &OrderBy{Partitions: 4}
	for k, v := range l.mapping(n, "order_by", map[string]bool{"header": true}) {
		switch k {
		case "header":
			o.Header = l.str(v, "order_by.header")
		case "partitions":
			p, err := strconv.Atoi(l.str(v, "order_by.partitions"))
			if err != nil || p < 1 || p > 64 {
				l.addf(v, "order_by.partitions", "must be a whole number from 1 to 64")
			}
			o.Partitions = p
		default:
			l.unknown(v, "order_by", k, "header", "partitions")
		}
	}
	return o
}

// allow reads `allow: any` or a list of {hsa_id: …}, {org_no: …} and
// {subject: …} entries.
func (l *loader) allow(n *yaml.Node) *Allow {
	return config.DecodeAllow(n, "allow", func(n *yaml.Node, path, msg string) { l.addf(n, path, "%s", msg) })
}

func (l *loader) duration(n *yaml.Node, path string) time.Duration {
	d, err := time.ParseDuration(l.str(n, path))
	if err != nil || d <= 0 {
		l.addf(n, path, "must be a positive duration such as 500ms, 30s or 5m")
	}
	return d
}

func (l *loader) size(n *yaml.Node, path string) int64 {
	var b adapters.ByteSize
	if err := b.UnmarshalText([]byte(l.str(n, path))); err != nil || b <= 0 {
		l.addf(n, path, "must be a positive size such as 512KiB or 10MiB")
	}
	return int64(b)
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]error, len(te.Errors))
		for i, e := range te.Errors {
			out[i] = errors.New(e)
		}
		return out
	}
	return []error{err}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
