package homecare

import (
	"fmt"
	"slices"
)

// validatePlanning checks what an order carries for the provider's
// planning (contract 1.1): schedules name known weekdays and times of day,
// once each; time per occasion fits in a day; the case officer has a name;
// cohabitants' orders are named and are not the order itself.
func (s *OrderSnapshot) validatePlanning(bad func(field, format string, args ...any)) {
	for i, in := range s.Insatser {
		field := fmt.Sprintf("order.insatser[%d]", i)
		if in.MinutesPerOccasion < 0 || in.MinutesPerOccasion > 1440 {
			bad(field+".minutes_per_occasion", "want 0-1440")
		}
		if sc := in.Schedule; sc != nil {
			checkWords(bad, field+".schedule.weekdays", sc.Weekdays, weekdays)
			checkWords(bad, field+".schedule.times_of_day", sc.TimesOfDay, timesOfDay)
		}
	}
	if c := s.CaseOfficer; c != nil && c.Name == "" {
		bad("order.case_officer.name", "empty")
	}
	for i, id := range s.CohabitantOrderIDs {
		field := fmt.Sprintf("order.cohabitant_order_ids[%d]", i)
		switch {
		case id == "":
			bad(field, "empty")
		case id == s.ExternalID:
			bad(field, "names the order itself")
		}
	}
}

// checkWords reports a word not in known, or one given twice.
func checkWords(bad func(field, format string, args ...any), field string, words, known []string) {
	for i, w := range words {
		switch {
		case !slices.Contains(known, w):
			bad(fmt.Sprintf("%s[%d]", field, i), "want one of %v", known)
		case slices.Index(words, w) < i:
			bad(fmt.Sprintf("%s[%d]", field, i), "%s given twice", w)
		}
	}
}
