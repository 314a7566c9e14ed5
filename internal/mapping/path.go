package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/schema"
)

// srcPath is a compiled source path: a JSON path for json and csv input, an
// XPath for xml input. Paths are compiled once at load.
type srcPath struct {
	src  string
	segs []seg         // json/csv
	wild bool          // json/csv: has [*], so it selects a list
	xp   *schema.XPath // xml
}

type segKind uint8

const (
	segKey segKind = iota
	segIndex
	segWild
)

type seg struct {
	kind segKind
	key  string
	idx  int
}

var errPathStart = errors.New("must start with $")

// compileJSONPath parses the small JSON-path subset mappings use: $ (the
// record, or the item inside each:), .name, ['name with spaces'], [n] and
// [*]. A name runs to the next '.' or '['.
func compileJSONPath(s string) (*srcPath, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, errPathStart
	}
	p := &srcPath{src: s}
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			i := strings.IndexAny(rest, ".[")
			if i < 0 {
				i = len(rest)
			}
			if i == 0 {
				return nil, errors.New("empty name after '.'")
			}
			p.segs = append(p.segs, seg{kind: segKey, key: rest[:i]})
			rest = rest[i:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, errors.New("missing ']'")
			}
			in := rest[1:end]
			switch {
			case in == "*":
				p.segs = append(p.segs, seg{kind: segWild})
				p.wild = true
			case len(in) >= 2 && (in[0] == '\'' || in[0] == '"') && in[len(in)-1] == in[0]:
				p.segs = append(p.segs, seg{kind: segKey, key: in[1 : len(in)-1]})
			default:
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("bad index [%s]: want a number, * or a quoted name", in)
				}
				p.segs = append(p.segs, seg{kind: segIndex, idx: n})
			}
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("unexpected %q: want '.' or '['", rest[:1])
		}
	}
	return p, nil
}

// lookupAny evaluates segs on an already decoded value (ApplyValue input,
// CSV rows, mapping test output). A path with [*] returns []any of every
// match; otherwise the single value or nil.
func lookupAny(v any, segs []seg, wild bool) any {
	if !wild {
		for _, s := range segs {
			v = stepAny(v, s)
			if v == nil {
				return nil
			}
		}
		return v
	}
	var out []any
	walkAny(v, segs, func(x any) { out = append(out, x) })
	if out == nil {
		return nil
	}
	return out
}

func stepAny(v any, s seg) any {
	switch s.kind {
	case segKey:
		if m, ok := v.(map[string]any); ok {
			return m[s.key]
		}
	case segIndex:
		if a, ok := v.([]any); ok && s.idx < len(a) {
			return a[s.idx]
		}
	}
	return nil
}

func walkAny(v any, segs []seg, emit func(any)) {
	for i, s := range segs {
		if s.kind == segWild {
			a, _ := v.([]any)
			for _, x := range a {
				walkAny(x, segs[i+1:], emit)
			}
			return
		}
		if v = stepAny(v, s); v == nil {
			return
		}
	}
	emit(v)
}
