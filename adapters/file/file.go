// Package file is the local drop-directory adapter. The source polls a
// directory, claims each ready file by renaming it into .processing/,
// delivers it and then moves it to done/ (or deletes it); the sink writes
// one file per message atomically (temporary file, fsync, rename) and
// idempotently by file name. The sftp adapter has the same semantics over
// SFTP; both share adapters/internal/dropdir.
package file

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key of both directions.
const Name = "file"

var (
	//go:embed sample_source.yaml
	sampleSource []byte
	//go:embed sample_sink.yaml
	sampleSink []byte
)

// SourceDef is the file source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "poll a local directory for files",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open: func(cfg adapters.Config, env adapters.Env) (adapters.Source, error) {
		c, err := adapters.ConfigOf[*SourceConfig](cfg)
		if err != nil {
			return nil, err
		}
		return NewSource(*c, env), nil
	},
}

// SinkDef is the file sink definition.
var SinkDef = adapters.SinkDef{
	Name:    Name,
	Summary: "write one file per message to a local directory",
	Sample:  sampleSink,
	Config:  NewSinkConfig,
	Open: func(cfg adapters.Config, env adapters.Env) (adapters.Sink, error) {
		c, err := adapters.ConfigOf[*SinkConfig](cfg)
		if err != nil {
			return nil, err
		}
		return NewSink(*c)
	},
}

func init() {
	adapters.RegisterSource(SourceDef)
	adapters.RegisterSink(SinkDef)
}
