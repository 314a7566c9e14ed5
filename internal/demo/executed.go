package demo

import (
	"fmt"
	"io"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// ExecutedSummary is the executed time the case system got from the night's executed job.
type ExecutedSummary struct {
	// Messages counts the utförd tid messages the case system accepted; Days are the
	// client-days it holds, each at its latest version.
	Messages int
	Days     []lifecaresim.UtfordTid
	// Job is what the executed job said it did.
	Job string
}

// Executed returns what the case system holds of executed time, and the job's line.
func (w *OrderWorld) Executed(run store.JobRun) *ExecutedSummary {
	return &ExecutedSummary{Messages: len(w.caseSystem.Executed()), Days: w.caseSystem.ExecutedDays(), Job: run.Detail}
}

// Print writes a line or two: how many client-days the case system got, their minutes,
// and the ones sent again after a change.
func (s *ExecutedSummary) Print(w io.Writer) {
	minutes, apart, again, days := 0, 0, 0, map[string]bool{}
	for _, d := range s.Days {
		minutes += d.Minutes
		apart += d.Declined + d.Cancelled + d.InProgress
		if d.OutsideOrder != nil {
			apart += d.OutsideOrder.Visits
		}
		if d.Edition > 1 {
			again++
		}
		days[d.Date.String()] = true
	}
	fmt.Fprintf(w, "\nExecuted time to the case system (nightly job executed, pipeline lifecare_executed): %d client-days over %d days, %d minutes under orders in force, %d visits reported apart (declined, cancelled, unfinished, outside any order);\n",
		len(s.Days), len(days), minutes, apart)
	fmt.Fprintf(w, "  %d Lifecare UtfordTid messages accepted", s.Messages)
	if again > 0 {
		fmt.Fprintf(w, ", %d client-days sent again one version up after a change", again)
	}
	fmt.Fprintf(w, " (the job: %s).\n", s.Job)
}
