// Package sftp is the drop-directory adapter over SFTP, with the same
// semantics as the file adapter (both use adapters/internal/dropdir): the
// source polls a remote directory and claims files by renaming them on the
// server; the sink uploads under a temporary name and renames into place.
// Authentication is by password or private key, both secret references,
// and the server's host key must match the pinned host_key. Tests run
// against sftptest, an in-process SFTP server.
package sftp

import (
	_ "embed"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Name is the registry key of both directions.
const Name = "sftp"

var (
	//go:embed sample_source.yaml
	sampleSource []byte
	//go:embed sample_sink.yaml
	sampleSink []byte
)

// SourceDef is the sftp source definition.
var SourceDef = adapters.SourceDef{
	Name:    Name,
	Summary: "poll a remote directory over SFTP",
	Sample:  sampleSource,
	Config:  NewSourceConfig,
	Open:    adapters.OpenSource(NewSource),
}

// SinkDef is the sftp sink definition.
var SinkDef = adapters.SinkDef{
	Name:    Name,
	Summary: "upload one file per message over SFTP",
	Sample:  sampleSink,
	Config:  NewSinkConfig,
	Open:    adapters.OpenSink(NewSink),
}

func init() {
	adapters.RegisterSource(SourceDef)
	adapters.RegisterSink(SinkDef)
}
