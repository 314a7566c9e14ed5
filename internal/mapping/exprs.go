package mapping

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// program is an expression compiled once at load. from("…") calls were
// rewritten to indexes into paths, so paths are compiled once too.
type program struct {
	src   string
	prog  *vm.Program
	paths []*srcPath
}

// exprEnv is what an expression sees: `value` (the value read by from:,
// inside fn:), `headers` (the message's headers, e.g.
// headers["source-system"]; empty outside a pipeline) and, hidden, the
// record that from("…") reads.
type exprEnv struct {
	Value   any               `expr:"value"`
	Headers map[string]string `expr:"headers"`
	sc      scope
	paths   []*srcPath
}

// fromFunc is the internal name from("path") is rewritten to: the record
// is passed as $env and the path as its index in program.paths.
const fromFunc = "__from"

// shadowed are expr-lang builtins that mappings replace with their own
// null-tolerant versions, plus now(), which would make output depend on the
// clock.
var shadowed = []string{"date", "upper", "lower", "trim", "now", "duration", "timezone"}

// exprOptions builds the expr options shared by every expression of m:
// the env type and the registered functions bound to m's lookups.
func (m *Mapping) exprOptions() []expr.Option {
	opts := []expr.Option{expr.Env(&exprEnv{})}
	for _, name := range shadowed {
		opts = append(opts, expr.DisableBuiltin(name))
	}
	fc := m.fc
	for i := range functions {
		f := &functions[i]
		opts = append(opts, expr.Function(f.Name, func(args ...any) (any, error) {
			return f.impl(fc, args...)
		}, f.types...))
	}
	opts = append(opts, expr.Function(fromFunc, func(args ...any) (any, error) {
		env := args[0].(*exprEnv)
		return env.sc.get(env.paths[args[1].(int)])
	}))
	return opts
}

// compileExpr compiles src against m's functions, rewriting from("…") and
// checking literal lookup table names. It returns problems, not an error,
// so the loader can attach the file position.
func (m *Mapping) compileExpr(src string, asBool bool) (*program, []string) {
	p := &program{src: src}
	v := &exprVisitor{m: m, p: p}
	opts := append([]expr.Option{expr.Patch(v)}, m.fnOpts...)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if len(v.problems) > 0 {
		return nil, v.problems
	}
	if err != nil {
		return nil, []string{"expression: " + oneLine(err)}
	}
	p.prog = prog
	return p, nil
}

func oneLine(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Sprintf("%s (column %d)", fe.Message, fe.Column+1)
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

type exprVisitor struct {
	m        *Mapping
	p        *program
	problems []string
}

// Visit rewrites from("path") to __from($env, index) and checks that
// lookup("table", …) names a table of the mapping.
func (v *exprVisitor) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	switch id.Value {
	case "from":
		lit, ok := singleString(call.Arguments)
		if !ok {
			v.problems = append(v.problems, `from takes one path in quotes, e.g. from("$.start")`)
			return
		}
		sp, err := v.m.compilePath(lit)
		if err != nil {
			v.problems = append(v.problems, "from: "+err.Error())
			return
		}
		v.p.paths = append(v.p.paths, sp)
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: fromFunc},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, &ast.IntegerNode{Value: len(v.p.paths) - 1}},
		})
	case "lookup":
		if len(call.Arguments) == 0 {
			return
		}
		if s, ok := call.Arguments[0].(*ast.StringNode); ok {
			if _, ok := v.m.fc.lookups[s.Value]; !ok {
				v.problems = append(v.problems, fmt.Sprintf("lookup: no table %q (tables: %s)",
					s.Value, strings.Join(sortedKeys(v.m.fc.lookups), ", ")))
			}
		}
	}
}

func singleString(args []ast.Node) (string, bool) {
	if len(args) != 1 {
		return "", false
	}
	s, ok := args[0].(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// run evaluates p against the record sc. A function's own error (say
// "personnummer: check digit does not match") comes back unwrapped from
// expr's positional error, so FieldError reads cleanly.
func (st *state) run(p *program, sc scope, value any) (any, error) {
	st.env.Value, st.env.sc, st.env.paths = value, sc, p.paths
	out, err := st.vm.Run(p.prog, &st.env)
	st.env.Value, st.env.sc = nil, nil
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			if fe.Prev != nil {
				return nil, fe.Prev
			}
			return nil, fmt.Errorf("expression %q: %s", p.src, fe.Message)
		}
		return nil, err
	}
	return out, nil
}
