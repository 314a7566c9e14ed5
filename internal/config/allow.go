package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Allow names the callers an HTTP endpoint answers: a pipeline's
// `allow:` and the operators' `http.operators`. A caller is named by its
// client certificate: the HSA-ID in its subject serialNumber (SITHS), its
// organisation number, or its whole subject; or, for staff the directory
// sync knows, the provider they work for. In YAML it is `any` or a list of
// {hsa_id: …}, {org_no: …}, {subject: …} and {provider: …}.
type Allow struct {
	// Any lets every caller in, certificate or not: `any`, for
	// development on loopback; production refuses it.
	Any      bool
	HSAIDs   []string
	OrgNos   []string
	Subjects []string
	// Providers lets in staff whose HSA-ID a directory sync lists as
	// working for one of these providers, while they do (a leaver's
	// certificate stops working at the next sync).
	Providers []string
}

var orgNoRE = regexp.MustCompile(`^[0-9]{10}$`)

// DecodeAllow reads an allow list from n, calling report for each problem
// with the node, the path below path and the message, so that each caller
// of it can say where in its own file the problem is.
func DecodeAllow(n *yaml.Node, path string, report func(n *yaml.Node, path, msg string)) *Allow {
	const want = `must be "any" or a non-empty list of {hsa_id: …}, {org_no: …}, {subject: …} or {provider: …}`
	a := &Allow{}
	if n.Kind == yaml.ScalarNode && n.Value == "any" {
		a.Any = true
		return a
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		report(n, path, want)
		return a
	}
	for i, e := range n.Content {
		at := fmt.Sprintf("%s[%d]", path, i)
		if e.Kind != yaml.MappingNode || len(e.Content) != 2 {
			report(e, at, "must have exactly one of hsa_id, org_no, subject, provider")
			continue
		}
		k, v := e.Content[0], e.Content[1]
		at += "." + k.Value
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			report(v, at, "must be a string")
			continue
		}
		switch val := v.Value; k.Value {
		case "hsa_id":
			if _, err := homecare.ParseHSAID(val, true); err != nil {
				report(v, at, err.Error())
			}
			a.HSAIDs = append(a.HSAIDs, val)
		case "org_no":
			if !orgNoRE.MatchString(val) {
				report(v, at, "must be a 10-digit organisationsnummer without a dash, e.g. 2120001234")
			}
			a.OrgNos = append(a.OrgNos, val)
		case "subject":
			if strings.TrimSpace(val) == "" {
				report(v, at, "must not be empty")
			}
			a.Subjects = append(a.Subjects, val)
		case "provider":
			if strings.TrimSpace(val) == "" {
				report(v, at, "must not be empty")
			}
			a.Providers = append(a.Providers, val)
		default:
			report(k, at, "unknown key (known: hsa_id, org_no, subject, provider)")
		}
	}
	return a
}

// UnmarshalYAML reads an allow list in the config file; the first problem
// is the error, with its line.
func (a *Allow) UnmarshalYAML(n *yaml.Node) error {
	var first error
	*a = *DecodeAllow(n, "", func(n *yaml.Node, path, msg string) {
		if first == nil {
			first = fmt.Errorf("line %d: %s: %s", n.Line, strings.TrimPrefix(path, "."), msg)
		}
	})
	return first
}
