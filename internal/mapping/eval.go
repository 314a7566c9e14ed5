package mapping

import "strconv"

// tmpl is a compiled output object: its shape (known at load) and the
// entries that fill its value slots for one record or group item.
type tmpl struct {
	root    *onode
	nslots  int
	entries []*entry
}

type okind uint8

const (
	oObject okind = iota
	oLeaf
	oArray
)

// onode is a node of an output object's shape. Leaves and arrays own a
// value slot; objects are written only if something below them has a value.
type onode struct {
	key      string
	kind     okind
	slot     int
	line     int
	children []*onode
}

// entry is one compiled item of `fields:`.
type entry struct {
	line     int
	to       string // output path relative to the enclosing object, for errors
	slot     int
	array    bool // appends to the array in slot
	group    bool // fields without each: children share the enclosing object
	children []*entry
	sub      *tmpl // fields with each or []: one object per item
	each     *srcPath
	when     *program
	required bool

	constant any
	hasConst bool
	from     *srcPath
	expr     *program
	fnDirect *funcDef
	fn       *program
	typ      outType
	def      any
	hasDef   bool
}

// instance is one filled output object.
type instance struct {
	t    *tmpl
	vals []any
}

// loc names where in the output an entry is being evaluated, built into a
// string only when an error needs it.
type loc struct {
	parent *loc
	name   string
	idx    int
}

func (l *loc) field(to string) string {
	p := l.prefix()
	switch {
	case p == "":
		return to
	case to == "":
		return p
	}
	return p + "." + to
}

func (l *loc) prefix() string {
	if l == nil {
		return ""
	}
	return l.parent.field(l.name + "[" + strconv.Itoa(l.idx) + "]")
}

func (m *Mapping) eval(st *state, sc scope, rec int) (*instance, error) {
	inst := &instance{t: m.root, vals: make([]any, m.root.nslots)}
	if err := m.evalEntries(st, m.root.entries, sc, inst.vals, nil, rec); err != nil {
		return nil, err
	}
	return inst, nil
}

func (m *Mapping) fieldErr(at *loc, to string, rec int, err error) error {
	return &FieldError{Mapping: m.name, Record: rec, Field: at.field(to), Err: err}
}

func (m *Mapping) evalEntries(st *state, entries []*entry, sc scope, vals []any, at *loc, rec int) error {
	for _, e := range entries {
		if e.when != nil {
			ok, err := st.run(e.when, sc, nil)
			if err != nil {
				return m.fieldErr(at, e.to, rec, err)
			}
			if b, _ := ok.(bool); !b {
				continue
			}
		}
		switch {
		case e.group:
			if err := m.evalEntries(st, e.children, sc, vals, at, rec); err != nil {
				return err
			}
		case e.each != nil:
			items, err := sc.items(e.each)
			if err != nil {
				return m.fieldErr(at, e.to, rec, err)
			}
			if len(items) == 0 && e.required {
				return m.fieldErr(at, e.to, rec, ErrRequired)
			}
			for _, it := range items {
				if err := m.appendItem(st, e, it, vals, at, rec); err != nil {
					return err
				}
			}
		case e.sub != nil:
			if err := m.appendItem(st, e, sc, vals, at, rec); err != nil {
				return err
			}
		default:
			v, err := m.leaf(st, e, sc)
			if err != nil {
				return m.fieldErr(at, e.to, rec, err)
			}
			if !e.array {
				vals[e.slot] = v
			} else if a, ok := v.([]any); ok && e.from != nil && e.from.wild {
				vals[e.slot] = append(asList(vals[e.slot]), a...)
			} else if v != nil {
				vals[e.slot] = append(asList(vals[e.slot]), v)
			}
		}
	}
	return nil
}

func asList(v any) []any {
	a, _ := v.([]any)
	return a
}

// appendItem evaluates one element of an array entry (one each: item, or
// the single object of `to: x[]` with fields) and appends it unless empty.
func (m *Mapping) appendItem(st *state, e *entry, sc scope, vals []any, at *loc, rec int) error {
	list := asList(vals[e.slot])
	if e.sub == nil {
		v, err := m.leaf(st, e, sc)
		if err != nil {
			return m.fieldErr(&loc{at, e.to, len(list)}, "", rec, err)
		}
		if v != nil {
			vals[e.slot] = append(list, v)
		}
		return nil
	}
	inst := &instance{t: e.sub, vals: make([]any, e.sub.nslots)}
	if err := m.evalEntries(st, e.sub.entries, sc, inst.vals, &loc{at, e.to, len(list)}, rec); err != nil {
		return err
	}
	if hasContent(e.sub.root, inst.vals) {
		vals[e.slot] = append(list, inst)
	}
	return nil
}

// leaf produces one value: read (value, from or expr), transform (fn), fall
// back (default), check (required) and coerce (type). nil means "omit".
func (m *Mapping) leaf(st *state, e *entry, sc scope) (any, error) {
	var v any
	var err error
	switch {
	case e.hasConst:
		v = e.constant
	case e.from != nil:
		if v, err = sc.get(e.from); err != nil {
			return nil, err
		}
		if a, ok := v.([]any); ok && e.from.wild {
			return m.leafList(st, e, sc, a)
		}
		if !missing(v) {
			if v, err = m.applyFn(st, e, sc, v); err != nil {
				return nil, err
			}
		}
	case e.expr != nil:
		if v, err = st.run(e.expr, sc, nil); err != nil {
			return nil, err
		}
	}
	return finish(e, v)
}

func finish(e *entry, v any) (any, error) {
	if missing(v) {
		switch {
		case e.hasDef:
			v = e.def
		case e.required:
			return nil, ErrRequired
		default:
			return nil, nil
		}
	}
	if e.typ != typeAny {
		return convert(v, e.typ)
	}
	return v, nil
}

// leafList applies fn and type to every element a [*] path selected.
func (m *Mapping) leafList(st *state, e *entry, sc scope, a []any) (any, error) {
	out := make([]any, 0, len(a))
	for _, x := range a {
		if missing(x) {
			continue
		}
		x, err := m.applyFn(st, e, sc, x)
		if err != nil {
			return nil, err
		}
		if missing(x) {
			continue
		}
		if e.typ != typeAny {
			if x, err = convert(x, e.typ); err != nil {
				return nil, err
			}
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return finish(e, nil)
	}
	return out, nil
}

func (m *Mapping) applyFn(st *state, e *entry, sc scope, v any) (any, error) {
	switch {
	case e.fnDirect != nil:
		return e.fnDirect.impl(m.fc, v)
	case e.fn != nil:
		return st.run(e.fn, sc, v)
	}
	return v, nil
}

// hasContent reports whether an object node would write anything.
func hasContent(n *onode, vals []any) bool {
	for _, c := range n.children {
		switch c.kind {
		case oObject:
			if hasContent(c, vals) {
				return true
			}
		case oLeaf:
			if vals[c.slot] != nil {
				return true
			}
		case oArray:
			if len(asList(vals[c.slot])) > 0 {
				return true
			}
		}
	}
	return false
}

// goValue converts the instance to map[string]any and friends.
func (inst *instance) goValue() any {
	return objectValue(inst.t.root, inst.vals)
}

func objectValue(n *onode, vals []any) map[string]any {
	out := map[string]any{}
	for _, c := range n.children {
		switch c.kind {
		case oObject:
			if hasContent(c, vals) {
				out[c.key] = objectValue(c, vals)
			}
		case oLeaf:
			if v := vals[c.slot]; v != nil {
				out[c.key] = v
			}
		case oArray:
			a := asList(vals[c.slot])
			if len(a) == 0 {
				continue
			}
			list := make([]any, len(a))
			for i, x := range a {
				if in, ok := x.(*instance); ok {
					list[i] = in.goValue()
				} else {
					list[i] = x
				}
			}
			out[c.key] = list
		}
	}
	return out
}
