// Package reconcile is the nightly reconciliation of executed hours (DOMAIN.md §6.3–6.5,
// Appendix A): what was granted (orders), what was done (visits) and what the doors saw
// (lock events), compared under the municipality's own rules.
//
// This file is the rules: a RuleSet is one municipality's parameters for what is paid
// (DOMAIN.md §6.4), read strictly from YAML (an unknown key, a wrong type or a value out
// of range is an error naming its file and line) and identified by a hash, so that a run
// is deterministic for (inputs, rule-set hash) and a line says which rules made it.
// docs/reconciliation.md explains every parameter for a municipality's controller;
// rulesets/demo.yaml is the documented example (Solna's published numbers).
package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// RuleSet is one municipality's rules for executed and payable time.
type RuleSet struct {
	// Name and Version identify the rules to people; the hash identifies them to runs.
	Name    string `yaml:"name" json:"name"`
	Version int    `yaml:"version" json:"version"`
	// ValidFrom is the first day the rules apply.
	ValidFrom homecare.Date `yaml:"valid_from" json:"valid_from"`

	// MinVisitMinutes: a visit shorter is VISIT_TOO_SHORT and paid nothing (a tag
	// touched twice). MaxVisitMinutes: a longer one is VISIT_TOO_LONG and paid only
	// when approved (a forgotten stop).
	MinVisitMinutes int `yaml:"min_visit_minutes" json:"min_visit_minutes"`
	MaxVisitMinutes int `yaml:"max_visit_minutes" json:"max_visit_minutes"`
	// Rounding is none (seconds are kept; the month's sum is rounded to whole minutes)
	// or minute (each visit to whole minutes, half up).
	Rounding string `yaml:"rounding" json:"rounding"`
	// RequireTagStartAndEnd: a visit without a tag at its start or end is
	// UNVERIFIED_START or UNVERIFIED_END and paid only when approved (Stockholm's kvittens).
	RequireTagStartAndEnd bool `yaml:"require_tag_start_and_end" json:"require_tag_start_and_end"`
	// LockMatchWindowMinutes is how far from a visit's start (and end) a lock event of the
	// same person at the client's door verifies it (DOMAIN.md §6.5).
	LockMatchWindowMinutes int `yaml:"lock_match_window_minutes" json:"lock_match_window_minutes"`
	// ManualShareThresholdPct: a provider whose month has more of its minutes registered
	// by hand is flagged for review.
	ManualShareThresholdPct float64 `yaml:"manual_share_threshold_pct" json:"manual_share_threshold_pct"`
	// MaxDeviationPct: a client's month with payable time more than this over the granted
	// is OVER_GRANTED (överskriden tid, to be justified).
	MaxDeviationPct float64 `yaml:"max_deviation_pct" json:"max_deviation_pct"`
	// DoubleStaffingRequiresGrant: the second person's time is paid only where the order
	// grants double staffing (else DOUBLE_STAFF_NOT_GRANTED).
	DoubleStaffingRequiresGrant bool `yaml:"double_staffing_requires_grant" json:"double_staffing_requires_grant"`
	// CohabitantSplit is how a visit to a couple is paid: equal (each client half).
	CohabitantSplit string `yaml:"cohabitant_split" json:"cohabitant_split"`
	// LateRecordReopenDays: a record or correction this many days late still reopens its
	// day; later ones are reported, not paid.
	LateRecordReopenDays int `yaml:"late_record_reopen_days" json:"late_record_reopen_days"`
	// Rates are the payment per hour by insats category, in kronor.
	Rates map[string]float64 `yaml:"rates" json:"rates"`
	// Insatser are the rules per insats code of the municipality's catalogue.
	Insatser map[string]InsatsRule `yaml:"insatser" json:"insatser"`
}

// InsatsRule is how one insats is paid.
type InsatsRule struct {
	// Category prices the insats (a key of Rates): omvardnad, service, ….
	Category string `yaml:"category" json:"category"`
	// SchablonMinutes, when set, are paid per occasion whatever the clock says (Solna:
	// Städ 96 min, Inköp 60).
	SchablonMinutes int `yaml:"schablon_minutes,omitempty" json:"schablon_minutes,omitempty"`
	// FixedMinutes, when set, are paid per visit regardless of its length (Solna:
	// trygghetsbesök 15 min).
	FixedMinutes int `yaml:"fixed_minutes,omitempty" json:"fixed_minutes,omitempty"`
	// DeclinedPct is the share of the insats's minutes paid when the client declines the
	// visit at the door (Solna: Städ 75 %, omvårdnad 50 %); 0 pays nothing.
	DeclinedPct float64 `yaml:"declined_pct,omitempty" json:"declined_pct,omitempty"`
}

// Defaults are DOMAIN.md §6.4's proposed defaults, which a rule set's file overrides.
func Defaults() RuleSet {
	return RuleSet{Version: 1, MinVisitMinutes: 1, MaxVisitMinutes: 240, Rounding: "none", RequireTagStartAndEnd: true,
		LockMatchWindowMinutes: 15, ManualShareThresholdPct: 10, MaxDeviationPct: 10, DoubleStaffingRequiresGrant: true,
		CohabitantSplit: "equal", LateRecordReopenDays: 35}
}

// LoadRuleSet reads and validates a rule set file.
func LoadRuleSet(path string) (*RuleSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rule set: %w", err)
	}
	return ParseRuleSet(path, data)
}

// ParseRuleSet decodes a rule set strictly over the defaults and validates it; every
// problem is reported, each as "file:line: key: problem".
func ParseRuleSet(path string, data []byte) (*RuleSet, error) {
	rs := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&rs)
	var te *yaml.TypeError
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%s: an empty rule set (name, valid_from, rates and insatser are required)", path)
	case err != nil && !errors.As(err, &te):
		line, problem := config.YAMLProblem(data, err.Error())
		return nil, fmt.Errorf("%s:%d: %s", path, line, problem)
	}
	var errs []error
	if te != nil {
		for _, m := range te.Errors {
			line, problem := config.YAMLProblem(data, m)
			errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, adapters.UnknownKeys(problem, reflect.TypeFor[RuleSet]())))
		}
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	at := func(keys ...string) string { return fmt.Sprintf("%s:%d", path, lineOf(&root, keys...)) }
	for _, p := range rs.problems() {
		errs = append(errs, fmt.Errorf("%s: %s: %s", at(p.keys...), strings.Join(p.keys, "."), p.msg))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &rs, nil
}

type problem struct {
	keys []string
	msg  string
}

// problems are the rule set's values out of range, in file order as far as it goes.
func (rs *RuleSet) problems() []problem {
	var ps []problem
	add := func(msg string, keys ...string) { ps = append(ps, problem{keys, msg}) }
	if strings.TrimSpace(rs.Name) == "" {
		add("is required (e.g. \"Demo kommun hemtjänst 2026\")", "name")
	}
	if rs.Version < 1 {
		add("want 1 or more", "version")
	}
	if rs.ValidFrom.IsZero() {
		add("is required (YYYY-MM-DD)", "valid_from")
	}
	if rs.MinVisitMinutes < 0 || rs.MinVisitMinutes > 60 {
		add("want 0-60 minutes", "min_visit_minutes")
	}
	if rs.MaxVisitMinutes <= rs.MinVisitMinutes || rs.MaxVisitMinutes > 24*60 {
		add(fmt.Sprintf("want more than min_visit_minutes (%d) and at most 1440", rs.MinVisitMinutes), "max_visit_minutes")
	}
	if rs.Rounding != "none" && rs.Rounding != "minute" {
		add(fmt.Sprintf("%q: want none or minute", rs.Rounding), "rounding")
	}
	if rs.LockMatchWindowMinutes < 0 || rs.LockMatchWindowMinutes > 120 {
		add("want 0-120 minutes", "lock_match_window_minutes")
	}
	for key, v := range map[string]float64{"manual_share_threshold_pct": rs.ManualShareThresholdPct, "max_deviation_pct": rs.MaxDeviationPct} {
		if v < 0 || v > 1000 {
			add("want a percentage, 0-1000", key)
		}
	}
	if rs.CohabitantSplit != "equal" {
		add(fmt.Sprintf("%q: want equal (each client of a couple half the visit)", rs.CohabitantSplit), "cohabitant_split")
	}
	if rs.LateRecordReopenDays < 0 || rs.LateRecordReopenDays > 366 {
		add("want 0-366 days", "late_record_reopen_days")
	}
	if len(rs.Rates) == 0 {
		add("is required: the payment per hour by insats category, e.g. {omvardnad: 464, service: 382}", "rates")
	}
	for _, cat := range slices.Sorted(maps.Keys(rs.Rates)) {
		if r := rs.Rates[cat]; r <= 0 || r > 10000 {
			add("want kronor per hour, more than 0 and at most 10000", "rates", cat)
		}
	}
	if len(rs.Insatser) == 0 {
		add("is required: the rules of each insats code of the catalogue", "insatser")
	}
	for _, code := range slices.Sorted(maps.Keys(rs.Insatser)) {
		in := rs.Insatser[code]
		if _, ok := rs.Rates[in.Category]; !ok {
			add(fmt.Sprintf("%q is no category of rates (%s)", in.Category, strings.Join(slices.Sorted(maps.Keys(rs.Rates)), ", ")), "insatser", code, "category")
		}
		if in.SchablonMinutes < 0 || in.SchablonMinutes > 24*60 {
			add("want 0-1440 minutes", "insatser", code, "schablon_minutes")
		}
		if in.FixedMinutes < 0 || in.FixedMinutes > 24*60 {
			add("want 0-1440 minutes", "insatser", code, "fixed_minutes")
		}
		if in.SchablonMinutes > 0 && in.FixedMinutes > 0 {
			add("an insats is paid by schablon per occasion or by fixed minutes per visit, not both", "insatser", code, "fixed_minutes")
		}
		if in.DeclinedPct < 0 || in.DeclinedPct > 100 {
			add("want a percentage, 0-100", "insatser", code, "declined_pct")
		}
	}
	return ps
}

// Hash identifies the rules a run used: SHA-256 of their canonical JSON (keys sorted),
// so two files that say the same (other comments, other order) have one hash.
func (rs *RuleSet) Hash() string {
	b, err := json.Marshal(rs)
	if err != nil {
		panic("reconcile: rule set: " + err.Error()) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lineOf returns the line of the value at keys in the document, or of the deepest key
// found on the way (1 for the document itself).
func lineOf(doc *yaml.Node, keys ...string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := max(n.Line, 1)
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}
