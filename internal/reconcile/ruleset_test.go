package reconcile_test

import (
	"os"
	"strings"
	"testing"

	"github.com/knutpunkt/knutpunkt/internal/reconcile"
)

const example = "../../rulesets/demo.yaml"

// TestExampleRuleSet: the documented example loads, with Solna's numbers as written.
func TestExampleRuleSet(t *testing.T) {
	rs, err := reconcile.LoadRuleSet(example)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Rates["omvardnad"] != 464 || rs.Rates["service"] != 382 || rs.Insatser["STAD"].SchablonMinutes != 96 ||
		rs.Insatser["STAD"].DeclinedPct != 75 || rs.Insatser["TILLSYN"].FixedMinutes != 15 || rs.ValidFrom.String() != "2026-01-01" {
		t.Errorf("example = %+v", rs)
	}
}

// TestRuleSetHash: the hash follows what the rules say, not how the file says it.
func TestRuleSetHash(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	a, err := reconcile.ParseRuleSet("a.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	// The same rules, without comments and with the keys in another order.
	var kept []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			kept = append(kept, l)
		}
	}
	reordered := strings.Replace(strings.Join(kept, "\n"), "rounding: none\n", "", 1) + "\nrounding: none\n"
	b, err := reconcile.ParseRuleSet("b.yaml", []byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reconcile.ParseRuleSet("c.yaml", []byte(strings.Replace(string(data), "max_deviation_pct: 10", "max_deviation_pct: 15", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() || len(a.Hash()) != 64 {
		t.Errorf("the same rules hash %s and %s", a.Hash(), b.Hash())
	}
	if a.Hash() == c.Hash() {
		t.Error("other rules hash alike")
	}
}

// TestRuleSetErrors: each bad rule set fails with its file, line, key and reason, and all
// problems are reported at once.
func TestRuleSetErrors(t *testing.T) {
	base := `name: Test
valid_from: 2026-01-01
rates: {omvardnad: 464}
insatser:
  DUSCH: {category: omvardnad}
`
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"empty", "", []string{"r.yaml: an empty rule set"}},
		{"not YAML", "name: [", []string{"r.yaml:1: "}},
		{"unknown key", base + "max_visit_minutez: 10\n", []string{"r.yaml:6: unknown key max_visit_minutez (known: name, version, valid_from"}},
		{"wrong type", base + "max_visit_minutes: lång\n", []string{"r.yaml:6: ", "lång"}},
		{"no name, no date", "rates: {omvardnad: 464}\ninsatser:\n  DUSCH: {category: omvardnad}\n",
			[]string{"r.yaml:1: name: is required", "r.yaml:1: valid_from: is required"}},
		{"max below min", base + "min_visit_minutes: 30\nmax_visit_minutes: 20\n",
			[]string{"r.yaml:7: max_visit_minutes: want more than min_visit_minutes (30)"}},
		{"rounding", base + "rounding: quarter\n", []string{`r.yaml:6: rounding: "quarter": want none or minute`}},
		{"an insats of no category", base + "  STAD: {category: servce, schablon_minutes: 96}\n",
			[]string{`r.yaml:6: insatser.STAD.category: "servce" is no category of rates (omvardnad)`}},
		{"schablon and fixed", base + "  TILLSYN: {category: omvardnad, schablon_minutes: 10, fixed_minutes: 15}\n",
			[]string{"r.yaml:6: insatser.TILLSYN.fixed_minutes: an insats is paid by schablon per occasion or by fixed minutes per visit, not both"}},
		{"declined over 100", base + "  LUNCH: {category: omvardnad, declined_pct: 150}\n",
			[]string{"r.yaml:6: insatser.LUNCH.declined_pct: want a percentage, 0-100"}},
		{"a rate of nothing", "name: T\nvalid_from: 2026-01-01\nrates:\n  omvardnad: 0\ninsatser:\n  DUSCH: {category: omvardnad}\n",
			[]string{"r.yaml:4: rates.omvardnad: want kronor per hour"}},
		{"two problems", base + "cohabitant_split: by_age\nlate_record_reopen_days: 400\n",
			[]string{`r.yaml:6: cohabitant_split: "by_age"`, "r.yaml:7: late_record_reopen_days: want 0-366 days"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reconcile.ParseRuleSet("r.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
