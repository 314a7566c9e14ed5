// Package rulesets holds the municipalities' reconciliation rule sets
// (docs/reconciliation.md): demo.yaml is the documented example, with Solna's
// published numbers, that the demo municipality and the development knut.yaml
// pay by. They are files first (knut.yaml's reconciliation.rule_set names
// one); FS embeds them so that `knut demo` runs from any directory.
package rulesets

import "embed"

// FS holds the rule set files (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
