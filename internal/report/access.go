package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The access review's flags: what the provider's manager must look at.
const (
	// FlagLeftWithAccess: the directory found the person gone, yet a commission runs
	// on past that day or the hub let them in after it.
	FlagLeftWithAccess = "left_with_access"
	// FlagNoCommission: listed by a directory that keeps commissions, with none valid
	// in the quarter.
	FlagNoCommission = "no_commission"
	// FlagInactive: access for the 90 days to the quarter's end, and no call to the
	// hub and no visit registered in them (the access may not be needed).
	FlagInactive = "inactive_90_days"
	// FlagOtherProvider: registered visits for another provider than their own.
	FlagOtherProvider = "other_provider_clients"
	// FlagNotInDirectory: called the hub, or registered visits, with an HSA-ID no
	// directory sync lists (a system's function certificate, or staff of a directory
	// the hub does not sync).
	FlagNotInDirectory = "not_in_directory"
	// FlagDoorWithoutGrant: a lock logged them opening a door with no key grant of
	// theirs in force there (`knut keys events --findings`).
	FlagDoorWithoutGrant = "door_without_grant"
	// FlagDoorWithoutVisit: they opened a client's door with their grant, but no visit
	// of the client was registered near it (the nightly review's no_visit).
	FlagDoorWithoutVisit = "door_without_visit"
)

// InactiveDays is how long without activity FlagInactive takes.
const InactiveDays = 90

// AccessLine is one person with access during a quarter (behörighetsgranskning, DOMAIN.md
// §7.3), with what the provider's manager checks.
type AccessLine struct {
	Quarter    string
	ProviderID string // "" for a caller no directory lists
	Directory  string
	HSAIDs     string // joined by +
	// Name is the person's name; "(skyddad personuppgift)" for a protected person.
	Name         string
	Title        string
	LeftOn       homecare.Date
	Commissions  int // valid at some time in the quarter
	Keys         int // doors whose key grant they held in the quarter
	LastActivity homecare.Date
	Visits       int
	Reads        int // the hub calls in their log list
	Flags        []string
	// Log is the person's log list from the audit trail: what they did through the hub.
	Log []store.AuditRecord
}

// AccessColumns are the review's CSV columns, in order.
var AccessColumns = []string{"quarter", "provider", "directory", "hsa_ids", "name", "title", "left_on",
	"commissions_in_quarter", "keys", "last_activity", "visits", "hub_calls", "flags"}

// Access returns the quarter's review from the store's facts (store.AccessFacts over the
// quarter): a line per person, by provider, with its flags.
func Access(facts []store.AccessFacts, q Quarter) []AccessLine {
	loc := homecare.Stockholm()
	first, last := q.First(), q.Last()
	keepsCommissions := map[string]bool{}
	for _, f := range facts {
		if len(f.Commissions) > 0 {
			keepsCommissions[f.Directory] = true
		}
	}
	var out []AccessLine
	for _, f := range facts {
		l := AccessLine{Quarter: q.String(), ProviderID: f.ProviderID, Directory: f.Directory, HSAIDs: strings.Join(f.HSAIDs, "+"),
			Name: strings.TrimSpace(f.GivenName + " " + f.FamilyName), Title: f.Title, LeftOn: f.LeftOn,
			Keys: f.Keys, Visits: f.Visits, Reads: len(f.Log), Log: f.Log}
		if f.Protected {
			l.Name = "(skyddad personuppgift)"
		}
		if !f.LastActivity.IsZero() {
			l.LastActivity = homecare.LocalDate(f.LastActivity.In(loc))
		}
		runsPastLeaving := false
		for _, c := range f.Commissions {
			if (c.ValidFrom.IsZero() || !last.Before(c.ValidFrom)) && (c.ValidTo.IsZero() || !c.ValidTo.Before(first)) {
				l.Commissions++
			}
			if !f.LeftOn.IsZero() && (c.ValidTo.IsZero() || !c.ValidTo.Before(f.LeftOn)) {
				runsPastLeaving = true
			}
		}
		afterLeaving := !f.LeftOn.IsZero() && slices.ContainsFunc(f.Log, func(r store.AuditRecord) bool {
			return r.Outcome == store.AuditOK && !homecare.LocalDate(r.At.In(loc)).Before(f.LeftOn)
		})
		switch {
		case f.Directory == "":
			l.Flags = append(l.Flags, FlagNotInDirectory)
		case !f.LeftOn.IsZero() && (runsPastLeaving || afterLeaving || f.KeysAfterLeaving > 0):
			l.Flags = append(l.Flags, FlagLeftWithAccess)
		}
		if f.Directory != "" && keepsCommissions[f.Directory] && l.Commissions == 0 && (f.LeftOn.IsZero() || first.Before(f.LeftOn)) {
			l.Flags = append(l.Flags, FlagNoCommission)
		}
		// Inactive: access for the 90 days to the quarter's end, and nothing done in them.
		since := last.AddDays(1 - InactiveDays)
		known := f.Since.IsZero() || homecare.LocalDate(f.Since.In(loc)).Before(since)
		if known && (f.LeftOn.IsZero() || last.Before(f.LeftOn)) && (l.LastActivity.IsZero() || l.LastActivity.Before(since)) {
			l.Flags = append(l.Flags, FlagInactive)
		}
		if f.ForeignVisits > 0 {
			l.Flags = append(l.Flags, FlagOtherProvider)
		}
		if f.OpenedWithoutGrant > 0 {
			l.Flags = append(l.Flags, FlagDoorWithoutGrant)
		}
		if f.OpenedWithoutVisit > 0 {
			l.Flags = append(l.Flags, FlagDoorWithoutVisit)
		}
		out = append(out, l)
	}
	return out
}

// WriteAccessCSV writes lines as CSV with a header row (AccessColumns).
func WriteAccessCSV(w io.Writer, lines []AccessLine) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(AccessColumns); err != nil {
		return err
	}
	for _, l := range lines {
		if err := cw.Write([]string{l.Quarter, l.ProviderID, l.Directory, l.HSAIDs, l.Name, l.Title, dateCol(l.LeftOn),
			strconv.Itoa(l.Commissions), strconv.Itoa(l.Keys), dateCol(l.LastActivity), strconv.Itoa(l.Visits), strconv.Itoa(l.Reads),
			strings.Join(l.Flags, "+")}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteAccessTable writes the review as a readable table per provider, each person's
// log list under them when withLog, and the sign-offs the audit trail holds.
func WriteAccessTable(w io.Writer, lines []AccessLine, signed map[string][]string, withLog bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	provider := "\x00"
	for _, l := range lines {
		if l.ProviderID != provider {
			provider = l.ProviderID
			name := provider
			if name == "" {
				name = "(callers no directory lists)"
			}
			fmt.Fprintf(tw, "\n%s %s\n", l.Quarter, name)
			for _, s := range signed[provider] {
				fmt.Fprintf(tw, "  signed off by %s\n", s)
			}
			fmt.Fprintln(tw, "  HSA-ID\tNAME\tTITLE\tLEFT\tCOMMISSIONS\tKEYS\tLAST ACTIVE\tVISITS\tHUB CALLS\tFLAGS")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n", l.HSAIDs, l.Name, l.Title, dateCol(l.LeftOn), l.Commissions,
			l.Keys, dateCol(l.LastActivity), l.Visits, l.Reads, strings.Join(l.Flags, ", "))
		if withLog {
			for _, r := range l.Log {
				fmt.Fprintf(tw, "      %s\t%s\t%s\t%s\n", r.At.UTC().Format(time.RFC3339), r.Action, r.Outcome, r.Resource)
			}
		}
	}
	return tw.Flush()
}
