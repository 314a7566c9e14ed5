package adapters

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DecodeConfig decodes data strictly into a new config from newConfig (its
// defaults stay where data is silent) and validates it. Unknown keys and
// type mismatches fail with the YAML line; validation problems are reported
// all at once. Empty data yields the defaults, validated.
func DecodeConfig(newConfig func() Config, data []byte) (Config, error) {
	cfg := newConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for i, m := range te.Errors {
				te.Errors[i] = UnknownKeys(m, reflect.TypeOf(cfg))
			}
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var unknownField = regexp.MustCompile(`^(line \d+: )?field (\S+) not found in type (\S+)$`)

// UnknownKeys rewrites yaml/v3's "field x not found in type pkg.T" (msg, one
// error of a TypeError, for a document decoded into root) in the file's
// words: "unknown key parent.x (known: a, b, c)", the keys in declaration
// order. Other messages are returned as they are.
func UnknownKeys(msg string, root reflect.Type) string {
	g := unknownField.FindStringSubmatch(msg)
	if g == nil {
		return msg
	}
	var found string
	var walk func(t reflect.Type, path string) bool
	walk = func(t reflect.Type, path string) bool {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		keys := YAMLKeys(t)
		if t.String() == g[3] {
			found = fmt.Sprintf("%sunknown key %s (known: %s)", g[1], joinKey(path, g[2]), strings.Join(keys, ", "))
			return true
		}
		for f := range t.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			sub := joinKey(path, name)
			if strings.Contains(opts, "inline") {
				sub = path
			}
			if walk(f.Type, sub) {
				return true
			}
		}
		return false
	}
	if walk(root, "") {
		return found
	}
	return msg
}

// YAMLKeys are the YAML keys of a config struct type (or a pointer to
// one), inlined structs' included, in declaration order: what a config file
// may say at that level.
func YAMLKeys(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case strings.Contains(opts, "inline"):
			keys = append(keys, YAMLKeys(f.Type)...)
		case name == "":
			keys = append(keys, strings.ToLower(f.Name))
		default:
			keys = append(keys, name)
		}
	}
	return keys
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// ConfigOf asserts that cfg has the adapter's own config type C. Open
// functions use it to turn the registry's Config back into their own type.
func ConfigOf[C Config](cfg Config) (C, error) {
	c, ok := cfg.(C)
	if !ok {
		var zero C
		return zero, fmt.Errorf("config is %T, want %T", cfg, zero)
	}
	return c, nil
}

// ByteSize is a size in bytes, written the one way every size in knut.yaml,
// pipelines and adapter configs is written (STYLE.md §9.14): a whole number
// with a binary unit, 512KiB, 10MiB, 1GiB, or a bare number of bytes.
// Decimal units (MB) are refused rather than guessed at. It is the one
// parser of sizes, and fails strictly on a typo.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1},
}

// UnmarshalText parses "10MiB" and friends; a bare number is bytes.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("invalid size %q: want a whole number with KiB, MiB or GiB (or B), such as 512KiB or 10MiB", text)
	}
	*b = ByteSize(n * mult)
	return nil
}

// UnmarshalYAML is UnmarshalText with the line of the value in the error:
// YAML's decoder drops the position of a TextUnmarshaler's error.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: must be a size such as 512KiB or 10MiB", n.Line)}}
	}
	if err := b.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	return nil
}

// MarshalText writes the size with the largest binary unit that divides it.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String formats b as in config, e.g. "10MiB".
func (b ByteSize) String() string {
	for i := 2; i >= 0; i-- { // GiB, MiB, KiB
		if u := byteUnits[i]; b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// OpenSource turns an adapter's constructor, which takes its own config by
// value, into a SourceDef.Open: the type assertion every adapter would
// otherwise repeat. C is the config type; the registry holds a *C.
func OpenSource[C any, PC interface {
	*C
	Config
}, S Source](newSource func(C, Env) (S, error)) func(Config, Env) (Source, error) {
	return func(cfg Config, env Env) (Source, error) {
		c, err := ConfigOf[PC](cfg)
		if err != nil {
			return nil, err
		}
		s, err := newSource(*c, env)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// OpenSink is OpenSource for sinks.
func OpenSink[C any, PC interface {
	*C
	Config
}, S Sink](newSink func(C, Env) (S, error)) func(Config, Env) (Sink, error) {
	return func(cfg Config, env Env) (Sink, error) {
		c, err := ConfigOf[PC](cfg)
		if err != nil {
			return nil, err
		}
		s, err := newSink(*c, env)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
