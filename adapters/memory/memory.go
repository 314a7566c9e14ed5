// Package memory is the in-memory Source and Sink: the reference adapter
// that proves the conformance kit, and the transport of pipeline tests and
// the demo. Sources and sinks share queues through a Broker.
//
// The package keeps no state of its own (STYLE.md §10.4). Def.Open gets
// only (cfg, env), so the Broker is bound when the definitions are made:
// SourceDef(b) and SinkDef(b) return definitions whose Open uses b, and
// Register(r, b) adds both to a Registry. Tests build
//
//	b := memory.NewBroker()
//	r := &adapters.Registry{}
//	memory.Register(r, b)
//
// and drive or inspect topics through b. The init registration into
// adapters.Default binds a Broker created for that registry, so all memory
// adapters opened from Default share one Broker per process; that state is
// owned by Default, not by this package.
package memory

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key of both directions.
const Name = "memory"

var (
	//go:embed sample_source.yaml
	sampleSource []byte
	//go:embed sample_sink.yaml
	sampleSink []byte
)

func init() { Register(adapters.Default, NewBroker()) }

// Register adds the memory source and sink, bound to b, to r.
func Register(r *adapters.Registry, b *Broker) {
	r.RegisterSource(SourceDef(b))
	r.RegisterSink(SinkDef(b))
}

// SourceDef returns the memory source definition bound to b.
func SourceDef(b *Broker) adapters.SourceDef {
	return adapters.SourceDef{
		Name:    Name,
		Summary: "consume an in-process queue (tests and demo)",
		Sample:  sampleSource,
		Config:  NewSourceConfig,
		Open: func(cfg adapters.Config, env adapters.Env) (adapters.Source, error) {
			c, err := adapters.ConfigOf[*SourceConfig](cfg)
			if err != nil {
				return nil, err
			}
			return NewSource(b, *c, env), nil
		},
	}
}

// SinkDef returns the memory sink definition bound to b.
func SinkDef(b *Broker) adapters.SinkDef {
	return adapters.SinkDef{
		Name:    Name,
		Summary: "publish to an in-process queue (tests and demo)",
		Sample:  sampleSink,
		Config:  NewSinkConfig,
		Open: func(cfg adapters.Config, env adapters.Env) (adapters.Sink, error) {
			c, err := adapters.ConfigOf[*SinkConfig](cfg)
			if err != nil {
				return nil, err
			}
			return NewSink(b, *c), nil
		},
	}
}
