// Package pipelines holds the repository's pipeline files, the demo
// municipality's deployment. They are files first (`knut serve` reads them
// from the configured directory); FS embeds them so that `knut demo` runs
// from any directory.
package pipelines

import "embed"

// FS holds the pipeline files (*.yaml), without testdata.
//
//go:embed *.yaml
var FS embed.FS
