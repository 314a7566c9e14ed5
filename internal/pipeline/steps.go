package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
	"github.com/knutpunkt/knutpunkt/internal/logging"
)

// Validator checks a message body against a contract (XSD or JSON Schema).
type Validator interface {
	Validate(body []byte) error
}

// Mapper transforms a whole document into another format.
type Mapper interface {
	Apply(input []byte) ([]byte, error)
	OutputContentType() string
}

// EntityDecoder decodes and validates one canonical entity from its JSON form.
type EntityDecoder func(body []byte) (any, error)

// StepError is a step's failure on one message. It names the pipeline, the
// step and the message, and wraps the step's own error, whose text names
// the field and reason.
type StepError struct {
	Pipeline  string
	Step      string
	MessageID string
	Err       error
}

// MaxReasonBytes bounds a step's reason. It is stored with the dead letter
// and every attempt, logged, and sent as a header; a body with half a
// million bad keys must not make a 5 MB reason. A schema error fills the
// budget with whole problems and counts the rest ("and N more problems");
// any other reason is cut here.
const MaxReasonBytes = 2048

func (e *StepError) Error() string {
	// A reason names fields, never values, but a name is the sender's
	// choice too (a JSON key, a namespace): a personnummer in one is
	// masked, as in the logs, before the reason is stored or shown.
	reason := logging.MaskString(e.Err.Error())
	if len(reason) > MaxReasonBytes {
		cut := MaxReasonBytes
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = fmt.Sprintf("%s… (%d bytes more)", reason[:cut], len(reason)-cut)
	}
	return fmt.Sprintf("pipeline %s: %s: message %s: %s", e.Pipeline, e.Step, e.MessageID, reason)
}

func (e *StepError) Unwrap() error { return e.Err }

type item struct {
	msg knutpunkt.Message
	to  *Endpoint
}

type exchange struct {
	items  []item
	writes []Write
}

// Process runs the plan's steps on m and returns what to send and store. An
// error is a *StepError; it is permanent (adapters.IsPermanent) when the
// message itself is at fault, so retrying cannot help.
func (p *Plan) Process(ctx context.Context, m knutpunkt.Message) (Result, error) {
	if p.MaxBody > 0 && int64(len(m.Body)) > p.MaxBody {
		return Result{}, &StepError{Pipeline: p.Name, Step: "from", MessageID: m.ID,
			Err: adapters.Permanent(fmt.Errorf("body is %d bytes, over the limit of %d", len(m.Body), p.MaxBody))}
	}
	x := &exchange{items: []item{{msg: m.Clone()}}}
	for _, s := range p.Steps {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := s.apply(ctx, x); err != nil {
			return Result{}, &StepError{Pipeline: p.Name, Step: s.Name(), MessageID: m.ID, Err: err}
		}
	}
	var res Result
	res.Writes = x.writes
	for _, it := range x.items {
		to := p.To
		if it.to != nil {
			to = *it.to
		}
		if to.IsZero() {
			continue
		}
		res.Outputs = append(res.Outputs, Output{To: to, Msg: it.msg})
	}
	return res, nil
}

// forEach runs f on every item, naming the failing item's message when
// several are in flight after a split.
func (x *exchange) forEach(f func(it *item) error) error {
	for i := range x.items {
		if err := f(&x.items[i]); err != nil {
			if len(x.items) > 1 {
				return fmt.Errorf("part %s: %w", x.items[i].msg.ID, err)
			}
			return err
		}
	}
	return nil
}

type validateStep struct {
	name, schema string
	v            Validator
}

func (s *validateStep) Name() string { return s.name }

func (s *validateStep) apply(_ context.Context, x *exchange) error {
	return x.forEach(func(it *item) error {
		if err := s.v.Validate(it.msg.Body); err != nil {
			return adapters.Permanent(err)
		}
		return nil
	})
}

type mapStep struct {
	name, mapping string
	m             Mapper
}

func (s *mapStep) Name() string { return s.name }

// headerMapper is a Mapper whose expressions can read the message headers.
type headerMapper interface {
	ApplyWithHeaders(input []byte, headers map[string]string) ([]byte, error)
}

func (s *mapStep) apply(_ context.Context, x *exchange) error {
	hm, withHeaders := s.m.(headerMapper)
	return x.forEach(func(it *item) error {
		var out []byte
		var err error
		if withHeaders {
			out, err = hm.ApplyWithHeaders(it.msg.Body, it.msg.Headers)
		} else {
			out, err = s.m.Apply(it.msg.Body)
		}
		if err != nil {
			return adapters.Permanent(err)
		}
		it.msg.Body = out
		it.msg.Headers[knutpunkt.HeaderContentType] = s.m.OutputContentType()
		return nil
	})
}

type storeStep struct {
	name, kind string
	decode     EntityDecoder
}

func (s *storeStep) Name() string { return s.name }

func (s *storeStep) apply(_ context.Context, x *exchange) error {
	return x.forEach(func(it *item) error {
		e, err := s.decode(it.msg.Body)
		if err != nil {
			return adapters.Permanent(err)
		}
		x.writes = append(x.writes, Write{Kind: s.kind, Entity: e, MessageID: it.msg.ID})
		return nil
	})
}

type route struct {
	when   *vm.Program
	src    string
	to     Endpoint
	reject string // instead of to: dead-letter the message with this reason
}

type routeStep struct {
	name   string
	routes []route
}

func (s *routeStep) Name() string { return s.name }

func (s *routeStep) apply(_ context.Context, x *exchange) error {
	return x.forEach(func(it *item) error {
		env := routeEnv{Headers: it.msg.Headers}
		if isJSON(it.msg) {
			if err := decodeBody(it.msg.Body, &env.Body); err != nil {
				return adapters.Permanent(err)
			}
		}
		for i, r := range s.routes {
			ok, err := vm.Run(r.when, env)
			if err != nil {
				return adapters.Permanent(fmt.Errorf("routes[%d].when %q: %w", i, r.src, err))
			}
			if b, _ := ok.(bool); b {
				if r.reject != "" {
					return adapters.Permanent(fmt.Errorf("routes[%d]: %s", i, r.reject))
				}
				to := r.to
				it.to = &to
				return nil
			}
		}
		return nil
	})
}

// routeEnv is what a route's `when` expression sees: `body` (the decoded
// JSON body, or nil) and `headers`.
type routeEnv struct {
	Body    any               `expr:"body"`
	Headers map[string]string `expr:"headers"`
}

type splitStep struct {
	name  string
	lines bool
	path  []string
}

func (s *splitStep) Name() string { return s.name }

func (s *splitStep) apply(_ context.Context, x *exchange) error {
	var out []item
	err := x.forEach(func(it *item) error {
		parts, err := s.split(it.msg.Body)
		if err != nil {
			return adapters.Permanent(err)
		}
		for i, body := range parts {
			m := it.msg.Clone()
			m.ID = it.msg.ID + "-" + strconv.Itoa(i+1)
			m.Body = body
			m.Headers[knutpunkt.HeaderCorrelationID] = correlation(it.msg)
			out = append(out, item{msg: m, to: it.to})
		}
		return nil
	})
	if err != nil {
		return err
	}
	x.items = out
	return nil
}

func (s *splitStep) split(body []byte) ([][]byte, error) {
	if s.lines {
		var parts [][]byte
		for line := range bytes.Lines(body) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				parts = append(parts, line)
			}
		}
		return parts, nil
	}
	var v any
	if err := decodeBody(body, &v); err != nil {
		return nil, err
	}
	for _, key := range s.path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("split path %s: %q is not inside an object", joinPath(s.path), key)
		}
		v = obj[key]
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("split path %s: not an array", joinPath(s.path))
	}
	parts := make([][]byte, len(arr))
	for i, e := range arr {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("split path %s[%d]: %w", joinPath(s.path), i, err)
		}
		parts[i] = b
	}
	return parts, nil
}

func correlation(m knutpunkt.Message) string {
	if c := m.Headers[knutpunkt.HeaderCorrelationID]; c != "" {
		return c
	}
	return m.ID
}

func isJSON(m knutpunkt.Message) bool {
	ct := m.Headers[knutpunkt.HeaderContentType]
	if ct != "" {
		return bytes.Contains([]byte(ct), []byte("json"))
	}
	b := bytes.TrimSpace(m.Body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

func joinPath(p []string) string {
	s := "$"
	for _, k := range p {
		s += "." + k
	}
	return s
}

// decodeBody decodes a JSON body for a route or split. A key repeated in
// one object is refused: encoding/json keeps its last value, so a route
// could decide on one value while the mapping reads the other.
func decodeBody(body []byte, v any) error {
	if err := jsonscan.CheckKeys(body); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("body: not JSON: %w", err)
	}
	return nil
}
