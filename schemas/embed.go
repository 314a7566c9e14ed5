// Package schemas holds the repository's vendor and canonical contracts,
// one directory per vendor. They are files first (`knut serve` reads them
// from the configured directory); FS embeds them so that `knut demo` runs
// from any directory.
package schemas

import "embed"

// FS holds the XSD and JSON Schema files (<vendor>/*.xsd,
// <vendor>/*.schema.json), without their fixtures in testdata.
//
//go:embed */*.xsd */*.schema.json
var FS embed.FS
