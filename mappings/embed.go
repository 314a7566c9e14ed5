// Package mappings holds the repository's mappings, one directory per
// vendor. They are files first (`knut serve` reads them from the configured
// directory); FS embeds them so that `knut demo` runs from any directory.
package mappings

import "embed"

// FS holds the mappings and their test files (<vendor>/*.yaml), without
// testdata.
//
//go:embed */*.yaml
var FS embed.FS
