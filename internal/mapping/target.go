package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CheckTarget checks, without running the mapping, that what it writes
// fits the JSON Schema its to.schema names (doc is that schema's text):
// every output field is a property the schema knows where it allows no
// others (additionalProperties: false), groups land on objects and lists on
// arrays, and every constant (value:, default:) has the schema's type and
// is in its enum or const. A mapping whose output the target would refuse
// is then a `knut validate` error at the field's line, not first a failed
// test or a dead letter. Parts of the schema it does not follow ($ref,
// oneOf, anyOf) are not checked. file names the mapping in the errors.
func (m *Mapping) CheckTarget(file string, doc []byte) error {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return &ParseError{File: file, Path: "to.schema", Problem: fmt.Sprintf("%s: %v", m.outSchema, err)}
	}
	c := &targetCheck{file: file, schema: m.outSchema}
	c.object(m.root, root, "")
	return errors.Join(c.errs...)
}

type targetCheck struct {
	file, schema string
	errs         []error
}

func (c *targetCheck) addf(line int, path, format string, args ...any) {
	c.errs = append(c.errs, &ParseError{File: c.file, Line: line, Path: path,
		Problem: fmt.Sprintf(format, args...) + " (" + c.schema + ")"})
}

// object checks template t's fields against object schema s.
func (c *targetCheck) object(t *tmpl, s map[string]any, prefix string) {
	consts := map[int][]*entry{} // slot → entries writing a constant to it
	subs := map[int][]*tmpl{}    // array slot → item templates
	var collect func([]*entry)
	collect = func(es []*entry) {
		for _, e := range es {
			collect(e.children)
			if e.sub != nil {
				subs[e.slot] = append(subs[e.slot], e.sub)
			}
			if e.hasConst || e.hasDef {
				consts[e.slot] = append(consts[e.slot], e)
			}
		}
	}
	collect(t.entries)
	c.node(t.root, s, prefix, consts, subs)
}

func (c *targetCheck) node(n *onode, s map[string]any, prefix string, consts map[int][]*entry, subs map[int][]*tmpl) {
	if opaque(s) {
		return
	}
	props, _ := s["properties"].(map[string]any)
	closed := s["additionalProperties"] == false
	for _, ch := range n.children {
		path := joinPath(prefix, ch.key)
		ps, ok := props[ch.key].(map[string]any)
		if !ok {
			if closed {
				c.addf(ch.line, path, "not a field the target schema allows (known: %s)", strings.Join(sortedProps(props), ", "))
			}
			continue
		}
		if opaque(ps) {
			continue
		}
		switch ch.kind {
		case oObject:
			if !allowsType(ps, "object") {
				c.addf(ch.line, path, "is written as an object; the target schema wants %s", typeList(ps))
				continue
			}
			c.node(ch, ps, path, consts, subs)
		case oArray:
			if !allowsType(ps, "array") {
				c.addf(ch.line, path, "is written as a list; the target schema wants %s", typeList(ps))
				continue
			}
			items, _ := ps["items"].(map[string]any)
			for _, sub := range subs[ch.slot] {
				if items != nil && allowsType(items, "object") {
					c.object(sub, items, path+"[]")
				} else if items != nil {
					c.addf(ch.line, path, "is written as a list of objects; the target schema's items want %s", typeList(items))
				}
			}
			for _, e := range consts[ch.slot] {
				if items != nil {
					c.constant(e, items, path+"[]")
				}
			}
		case oLeaf:
			for _, e := range consts[ch.slot] {
				c.constant(e, ps, path)
			}
		}
	}
}

// constant checks e's value and default against schema s.
func (c *targetCheck) constant(e *entry, s map[string]any, path string) {
	for _, v := range []any{e.constant, e.def} {
		if v == nil {
			continue
		}
		if e.typ != typeAny {
			cv, err := convert(v, e.typ)
			if err != nil {
				continue // reported at load
			}
			v = cv
		}
		if !allowsType(s, jsonType(v)) {
			c.addf(e.line, path, "the constant %v is a %s; the target schema wants %s", jsonText(v), jsonType(v), typeList(s))
			continue
		}
		if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(x any) bool { return sameJSON(x, v) }) {
			c.addf(e.line, path, "the constant %v is not one of the target schema's values %s", jsonText(v), jsonText(enum))
		}
		if want, ok := s["const"]; ok && !sameJSON(want, v) {
			c.addf(e.line, path, "the constant %v is not the target schema's const %s", jsonText(v), jsonText(want))
		}
	}
}

// opaque reports a schema whose shape this check does not follow.
func opaque(s map[string]any) bool {
	for _, k := range []string{"$ref", "oneOf", "anyOf", "not"} {
		if _, ok := s[k]; ok {
			return true
		}
	}
	return false
}

func types(s map[string]any) []string {
	switch t := s["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if str, ok := x.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil // any type
}

func allowsType(s map[string]any, t string) bool {
	ts := types(s)
	return ts == nil || slices.Contains(ts, t) || t == "integer" && slices.Contains(ts, "number")
}

func typeList(s map[string]any) string {
	ts := types(s)
	if ts == nil {
		return "any type"
	}
	return strings.Join(ts, " or ")
}

func jsonType(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64:
		return "integer"
	case float64: // whole numbers are integers to JSON Schema
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// sameJSON compares two values as JSON: 1 and 1.0 are the same.
func sameJSON(a, b any) bool {
	var x, y any
	if json.Unmarshal([]byte(jsonText(a)), &x) != nil || json.Unmarshal([]byte(jsonText(b)), &y) != nil {
		return false
	}
	return jsonText(x) == jsonText(y)
}

func sortedProps(props map[string]any) []string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
