package adapters

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// SourceDef describes a source adapter for the Registry.
type SourceDef struct {
	// Name is the registry key, the YAML key under `from:` and the package's
	// directory name (checked by adapters/all).
	Name string
	// Summary is one line for `knut adapters list`.
	Summary string
	// Sample is the documented sample config (the package's embedded
	// sample.yaml), printed by `knut adapters sample NAME`.
	Sample []byte
	// Config returns a new config with defaults filled in.
	Config func() Config
	// Open builds the source from a validated config. It must not need the
	// network: connections are made lazily or in Receive.
	Open func(cfg Config, env Env) (Source, error)
}

// SinkDef describes a sink adapter for the Registry.
type SinkDef struct {
	// Name is the registry key, the YAML key under `to:`.
	Name string
	// Summary is one line for `knut adapters list`.
	Summary string
	// Sample is the documented sample config.
	Sample []byte
	// Config returns a new config with defaults filled in.
	Config func() Config
	// Open builds the sink from a validated config, without network I/O.
	Open func(cfg Config, env Env) (Sink, error)
}

// Registry holds adapter definitions by name. The zero value is empty and
// ready to use; tests build their own, the hub uses Default.
type Registry struct {
	mu      sync.RWMutex
	sources map[string]SourceDef
	sinks   map[string]SinkDef
}

// Default holds the adapters that register themselves in init; import
// github.com/knutpunkt/knutpunkt/adapters/all to fill it with the built-ins.
var Default = &Registry{}

// RegisterSource adds def to Default. It panics on an empty or duplicate name.
func RegisterSource(def SourceDef) { Default.RegisterSource(def) }

// RegisterSink adds def to Default. It panics on an empty or duplicate name.
func RegisterSink(def SinkDef) { Default.RegisterSink(def) }

// RegisterSource adds def. An empty name, a missing Config or Open, or a name
// registered twice is a programmer error and panics.
func (r *Registry) RegisterSource(def SourceDef) {
	if def.Name == "" || def.Config == nil || def.Open == nil {
		panic(fmt.Sprintf("adapters: RegisterSource(%q): name, Config and Open are required", def.Name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.sources[def.Name]; dup {
		panic(fmt.Sprintf("adapters: RegisterSource called twice for %q", def.Name))
	}
	if r.sources == nil {
		r.sources = map[string]SourceDef{}
	}
	r.sources[def.Name] = def
}

// RegisterSink adds def, panicking like RegisterSource.
func (r *Registry) RegisterSink(def SinkDef) {
	if def.Name == "" || def.Config == nil || def.Open == nil {
		panic(fmt.Sprintf("adapters: RegisterSink(%q): name, Config and Open are required", def.Name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.sinks[def.Name]; dup {
		panic(fmt.Sprintf("adapters: RegisterSink called twice for %q", def.Name))
	}
	if r.sinks == nil {
		r.sinks = map[string]SinkDef{}
	}
	r.sinks[def.Name] = def
}

// Source returns the source named name, or an error listing the registered ones.
func (r *Registry) Source(name string) (SourceDef, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if def, ok := r.sources[name]; ok {
		return def, nil
	}
	return SourceDef{}, unknown("source", name, sortedKeys(r.sources))
}

// Sink returns the sink named name, or an error listing the registered ones.
func (r *Registry) Sink(name string) (SinkDef, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if def, ok := r.sinks[name]; ok {
		return def, nil
	}
	return SinkDef{}, unknown("sink", name, sortedKeys(r.sinks))
}

// SourceNames returns the registered source names, sorted.
func (r *Registry) SourceNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.sources)
}

// SinkNames returns the registered sink names, sorted.
func (r *Registry) SinkNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.sinks)
}

// Names returns every adapter name, source or sink, sorted and without repeats.
func (r *Registry) Names() []string {
	names := append(r.SourceNames(), r.SinkNames()...)
	slices.Sort(names)
	return slices.Compact(names)
}

func unknown(kind, name string, registered []string) error {
	return fmt.Errorf("unknown %s adapter %q (registered: %s; missing import in adapters/all?)",
		kind, name, strings.Join(registered, ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
