package report

import (
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// IVOLine is one line of the IVO report: one period in which a decision was not executed
// (or its execution was interrupted) for three months or more.
type IVOLine struct {
	Quarter      string
	SourceSystem string
	DecisionID   string
	ClientRef    string // personnummer, or an IVO pseudo id for a protected identity
	Sex          string // man, kvinna, okant
	AgeBand      string // on the report's day
	DecidedAt    homecare.Date
	Insatser     string // the insats codes under the decision, joined by +
	Kind         homecare.EVBKind
	PeriodStart  homecare.Date // decision date, or the interruption's first day
	Deadline     homecare.Date // PeriodStart + 3 months
	Days         int           // days not executed, to the outcome or the report's day
	OrderID      string        // the order interrupted
	Reason       string        // the pause's reason, the end reason before a gap, or avvisad:<provider>
	// Outcome is what became of the period: not_executed (still open), executed (care
	// (re)started on OutcomeDate), or ended (the decision ended on OutcomeDate without
	// care, for EndReason).
	Outcome     string
	OutcomeDate homecare.Date
	EndReason   homecare.EndReason
	// ReportedBefore is set when the period was overdue in an earlier quarter: this line
	// follows up what was reported then.
	ReportedBefore bool
	// Inferred is set when the execution date comes from the visits staff registered, not
	// from the provider.
	Inferred  bool
	Providers string // the providers of the decision's orders, joined by +
}

// IVOColumns are the report's CSV columns, in order; adapters/../README documents them.
var IVOColumns = []string{"quarter", "source_system", "decision_id", "client_ref", "sex", "age_band",
	"decision_date", "insatser", "kind", "period_start", "deadline", "days_not_executed", "order_id",
	"reason", "outcome", "outcome_date", "end_reason", "reported_before", "execution_inferred", "providers"}

// IVO returns the quarter's IVO report as of asOf (the day after the quarter's last day
// once the quarter is over; today while it runs): every period not executed that was
// overdue by then and still open when the quarter began or closed during it. A period
// overdue in an earlier quarter and closed since is reported again with its outcome; one
// closed before the quarter began was reported then and is not repeated.
func IVO(tls []homecare.Timeline, q Quarter, asOf homecare.Date) []IVOLine {
	if end := q.Last().AddDays(1); end.Before(asOf) {
		asOf = end
	}
	var out []IVOLine
	for _, d := range decisions(tls, asOf) {
		if d.id == "" {
			continue
		}
		evb := homecare.EVBForDecision(d.orders, asOf)
		for _, p := range evb.Overdue() {
			closed := p.End
			if !p.EndedOn.IsZero() {
				closed = p.EndedOn.AddDays(1)
			}
			if !closed.IsZero() && closed.Before(q.First()) {
				continue // closed before the quarter: reported with its outcome then
			}
			client := d.orders[len(d.orders)-1].Client
			l := IVOLine{Quarter: q.String(), SourceSystem: d.source, DecisionID: d.id,
				ClientRef: clientRef(client, d.id), Sex: sexOf(client), AgeBand: ageBand(client, asOf.AddDays(-1)),
				DecidedAt: evb.DecidedAt, Insatser: insatsCodes(d.orders), Kind: p.Kind, PeriodStart: p.Start,
				Deadline: p.Deadline, Days: p.Days, OrderID: p.OrderID, Reason: p.Reason, Outcome: "not_executed",
				// Overdue when the quarter before was reported on its first day.
				ReportedBefore: p.Deadline.Before(q.First()),
				Inferred:       !p.End.IsZero() && p.Kind == homecare.EVBNotExecuted && evb.ExecutedBy == homecare.ByVisits,
			}
			if l.Reason == "" && p.Kind == homecare.EVBNotExecuted {
				for _, o := range d.orders {
					if o.Status == homecare.OrderStatusRejected {
						l.Reason = "avvisad:" + o.ProviderID // the provider declined; no other has taken it
					}
				}
			}
			switch {
			case !p.End.IsZero():
				l.Outcome, l.OutcomeDate = "executed", p.End
			case !p.EndedOn.IsZero():
				l.Outcome, l.OutcomeDate, l.EndReason = "ended", p.EndedOn, p.EndReason
			}
			var providers []string
			for _, o := range d.orders {
				if !slices.Contains(providers, o.ProviderID) {
					providers = append(providers, o.ProviderID)
				}
			}
			l.Providers = strings.Join(providers, "+")
			out = append(out, l)
		}
	}
	return out
}

// WriteIVO writes lines as CSV with a header row (IVOColumns).
func WriteIVO(w io.Writer, lines []IVOLine) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(IVOColumns); err != nil {
		return err
	}
	for _, l := range lines {
		if err := cw.Write([]string{l.Quarter, l.SourceSystem, l.DecisionID, l.ClientRef, l.Sex, l.AgeBand,
			dateCol(l.DecidedAt), l.Insatser, string(l.Kind), dateCol(l.PeriodStart), dateCol(l.Deadline),
			strconv.Itoa(l.Days), l.OrderID, l.Reason, l.Outcome, dateCol(l.OutcomeDate), string(l.EndReason),
			strconv.FormatBool(l.ReportedBefore), strconv.FormatBool(l.Inferred), l.Providers}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
