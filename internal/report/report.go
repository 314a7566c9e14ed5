// Package report builds what the municipality reports from the orders' timelines: the
// quarterly report to IVO of decisions not executed within three months and of
// interruptions of three months (SoL 16 kap. 6 f §), and the monthly statistics file for
// Socialstyrelsen (decisions ongoing on the month's last day, started and ended during it;
// DOMAIN.md §1.5). Both are pure functions of homecare.Timeline, folded to the dates they
// report on, so a report for a past quarter comes out the same whenever it is run, and
// late-arriving events that take effect in that quarter are counted.
//
// Clients with protected identity (skyddad identitet) never appear by their person id: a
// report names them by an IVO pseudo id (YYYYMMDD-Tnnn, the third character after the
// dash odd for a man and even for a woman, as IVO's instructions for protected persons
// say), stable per client and decision so a follow-up line matches the first.
package report

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// Quarter is a calendar quarter, e.g. 2026Q4.
type Quarter struct {
	Year int
	Q    int // 1-4
}

// ParseQuarter reads "2026Q4" (or "2026-Q4").
func ParseQuarter(s string) (Quarter, error) {
	y, q, ok := strings.Cut(strings.Replace(strings.ToUpper(s), "-Q", "Q", 1), "Q")
	year, err1 := strconv.Atoi(y)
	n, err2 := strconv.Atoi(q)
	if !ok || err1 != nil || err2 != nil || len(y) != 4 || n < 1 || n > 4 {
		return Quarter{}, fmt.Errorf("quarter %q: want YYYYQn, e.g. 2026Q4", s)
	}
	return Quarter{year, n}, nil
}

// QuarterOf returns the quarter d is in.
func QuarterOf(d homecare.Date) Quarter { return Quarter{d.Year, (int(d.Month)-1)/3 + 1} }

func (q Quarter) String() string { return fmt.Sprintf("%dQ%d", q.Year, q.Q) }

// First returns the quarter's first day.
func (q Quarter) First() homecare.Date {
	return homecare.Date{Year: q.Year, Month: time.Month(3*q.Q - 2), Day: 1}
}

// Last returns the quarter's last day.
func (q Quarter) Last() homecare.Date { return q.First().AddMonths(3).AddDays(-1) }

// Prev returns the quarter before q.
func (q Quarter) Prev() Quarter { return QuarterOf(q.First().AddDays(-1)) }

// Month is a calendar month, e.g. 2026-11.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads "2026-11".
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Month{}, fmt.Errorf("month %q: want YYYY-MM, e.g. 2026-11", s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf returns the month d is in.
func MonthOf(d homecare.Date) Month { return Month{d.Year, d.Month} }

func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, m.Month) }

// First returns the month's first day.
func (m Month) First() homecare.Date { return homecare.Date{Year: m.Year, Month: m.Month, Day: 1} }

// Last returns the month's last day.
func (m Month) Last() homecare.Date { return m.First().AddMonths(1).AddDays(-1) }

// Prev returns the month before m.
func (m Month) Prev() Month { return MonthOf(m.First().AddDays(-1)) }

// clientRef names a client in a report: the personnummer (samordningsnummer, reserve
// number) as the case system gave it, or for a protected identity an IVO pseudo id.
func clientRef(c homecare.OrderClient, decisionID string) string {
	if !c.ProtectedIdentity {
		return c.PersonID.Reveal()
	}
	born := c.PersonID.BirthDate()
	if born.IsZero() {
		born = time.Date(c.PersonID.BirthYear(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	// Three digits from a hash of the person and decision: stable, and not the real
	// birth number; the middle one carries the sex (odd man, even woman).
	sum := sha256.Sum256([]byte("knutpunkt/ivo-pseudo/v1\x00" + c.PersonID.Reveal() + "\x00" + decisionID))
	v := binary.BigEndian.Uint32(sum[:4])
	a, g, z := v%10, (v/10)%5*2, (v/100)%10
	if c.PersonID.Sex() == homecare.SexMale {
		g++
	}
	return fmt.Sprintf("%s-T%d%d%d", born.Format("20060102"), a, g, z)
}

// sexOf is the report's sex column: man, kvinna or okänt.
func sexOf(c homecare.OrderClient) string {
	switch c.PersonID.Sex() {
	case homecare.SexMale:
		return "man"
	case homecare.SexFemale:
		return "kvinna"
	}
	return "okant"
}

// ageBand is the client's age on d in Socialstyrelsen's bands for elderly care: 0-64,
// 65-74, 75-79, 80-84, 85-89, 90-94, 95-.
func ageBand(c homecare.OrderClient, d homecare.Date) string {
	age := d.Year - c.PersonID.BirthYear()
	if b := c.PersonID.BirthDate(); !b.IsZero() && (d.Month < b.Month() || d.Month == b.Month() && d.Day < b.Day()) {
		age--
	}
	switch {
	case age < 65:
		return "0-64"
	case age < 75:
		return "65-74"
	case age >= 95:
		return "95-"
	}
	lo := 75 + (age-75)/5*5
	return fmt.Sprintf("%d-%d", lo, lo+4)
}

// decision is one decision's orders as they stood on a day.
type decision struct {
	source, id string
	orders     []homecare.Order
}

// decisions folds every timeline to day and groups the orders in force by decision, in a
// stable order (case system, decision id).
func decisions(tls []homecare.Timeline, day homecare.Date) []decision {
	idx := map[[2]string]int{}
	var out []decision
	for _, tl := range tls {
		o := tl.At(day)
		if o.IsZero() {
			continue
		}
		k := [2]string{o.SourceSystem, o.DecisionID}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, decision{source: o.SourceSystem, id: o.DecisionID})
		}
		out[i].orders = append(out[i].orders, o)
	}
	slices.SortFunc(out, func(a, b decision) int {
		return strings.Compare(a.source+"\x00"+a.id, b.source+"\x00"+b.id)
	})
	return out
}

// insatsCodes joins the codes of the orders' insatser, each once, in order.
func insatsCodes(orders []homecare.Order) string {
	var codes []string
	for _, o := range orders {
		for _, in := range o.Insatser {
			if !slices.Contains(codes, in.Code) {
				codes = append(codes, in.Code)
			}
		}
	}
	return strings.Join(codes, "+")
}

func dateCol(d homecare.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}
