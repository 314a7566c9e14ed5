package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// StatLine is one line of the monthly statistics file for Socialstyrelsen: a decision
// ongoing on the month's last day (bilaga 1), or one started or ended during the month
// (bilaga 2).
type StatLine struct {
	Month        string
	Kind         string // ongoing, started, ended
	SourceSystem string
	DecisionID   string
	ClientRef    string
	Sex          string
	BirthYear    int
	Insatser     string // codes joined by +
	// GrantedMinutes is the time granted for the month, every insats's minutes per
	// period counted over the month's days (a week as 7 days).
	GrantedMinutes int
	Date           homecare.Date // started: first execution; ended: the last day
	EndReason      homecare.EndReason
}

// StatColumns are the statistics file's CSV columns, in order.
var StatColumns = []string{"month", "kind", "source_system", "decision_id", "client_ref", "sex", "birth_year",
	"insatser", "granted_minutes", "date", "end_reason"}

// Statistics returns month m's lines: each decision with care in force on the last day
// (executed, not ended; an interrupted decision is still ongoing), and each whose first
// execution or end fell in the month. A decision both started and ended in the month has
// both lines.
func Statistics(tls []homecare.Timeline, m Month) []StatLine {
	last := m.Last()
	var out []StatLine
	for _, d := range decisions(tls, last.AddDays(1)) {
		if d.id == "" {
			continue
		}
		evb := homecare.EVBForDecision(d.orders, last.AddDays(1))
		client := d.orders[len(d.orders)-1].Client
		line := func(kind string, date homecare.Date) StatLine {
			return StatLine{Month: m.String(), Kind: kind, SourceSystem: d.source, DecisionID: d.id,
				ClientRef: clientRef(client, d.id), Sex: sexOf(client), BirthYear: client.PersonID.BirthYear(),
				Insatser: insatsCodes(d.orders), GrantedMinutes: grantedMinutes(d.orders, m), Date: date}
		}
		started := !evb.FirstExecuted.IsZero()
		ended := !evb.EndedOn.IsZero()
		if started && (!ended || last.Before(evb.EndedOn)) {
			out = append(out, line("ongoing", homecare.Date{}))
		}
		if started && MonthOf(evb.FirstExecuted) == m {
			out = append(out, line("started", evb.FirstExecuted))
		}
		if ended && MonthOf(evb.EndedOn) == m {
			l := line("ended", evb.EndedOn)
			l.EndReason = evb.EndReason
			out = append(out, l)
		}
	}
	return out
}

// grantedMinutes is the decision's granted time for month m, from the orders not ended.
func grantedMinutes(orders []homecare.Order, m Month) int {
	days := m.First().DaysUntil(m.Last()) + 1
	total := 0
	for _, o := range orders {
		if o.Status.Closed() || o.Status == homecare.OrderStatusRejected {
			continue
		}
		for _, in := range o.Insatser {
			switch in.Period {
			case homecare.PeriodDay:
				total += in.GrantedMinutes * days
			case homecare.PeriodWeek:
				total += in.GrantedMinutes * days / 7
			case homecare.PeriodMonth:
				total += in.GrantedMinutes
			}
		}
	}
	return total
}

// WriteStatistics writes lines as CSV with a header row (StatColumns).
func WriteStatistics(w io.Writer, lines []StatLine) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(StatColumns); err != nil {
		return err
	}
	for _, l := range lines {
		if err := cw.Write([]string{l.Month, l.Kind, l.SourceSystem, l.DecisionID, l.ClientRef, l.Sex,
			strconv.Itoa(l.BirthYear), l.Insatser, strconv.Itoa(l.GrantedMinutes), dateCol(l.Date),
			string(l.EndReason)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
