package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/hsa/hsasim"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The demo municipality's staff directory: Omsorg Norr's staff are in HSA, which the hub
// reads over RIV-TA (pipelines/hsa_staff.yaml). The simulator validates every call against
// the published RIV-TA contracts, which are not part of Knutpunkt: where they are not on
// the machine, the directory is not run and the demo says so.
const (
	// ContractsEnv names the riv-ta-hsa directory when it is not ../shared/ext/riv-ta-hsa.
	ContractsEnv = "KNUT_RIVTA_HSA"
	hsaPipeline  = "hsa_staff"
	hsaDirectory = "hsa"
	secretHSAKey = "env:KNUT_HSA_CLIENT_KEY"
	hsaPurpose   = "Vård och behandling"
)

// FindContracts returns the RIV-TA HSA contracts' directory: $KNUT_RIVTA_HSA, else
// shared/ext/riv-ta-hsa beside the checkout root or the working directory (where CI keeps
// ../shared), or why none was found.
func FindContracts(root string) (string, error) {
	if dir := os.Getenv(ContractsEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "SOURCE.md")); err != nil {
			return "", fmt.Errorf("%s=%s: not the riv-ta-hsa directory (no SOURCE.md)", ContractsEnv, dir)
		}
		return dir, nil
	}
	var tried []string
	for _, base := range []string{root, "."} {
		if base == "" {
			continue
		}
		dir := filepath.Join(base, "..", "shared", "ext", "riv-ta-hsa")
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if _, err := os.Stat(filepath.Join(dir, "SOURCE.md")); err == nil {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("the RIV-TA HSA contracts are not on this machine (looked in %v; set %s to the riv-ta-hsa directory)",
		slices.Compact(tried), ContractsEnv)
}

// Directory is the demo's HSA directory: the simulator serving Omsorg Norr's staff.
type Directory struct {
	// Skipped says why the directory is not run; "" when it is.
	Skipped string
	// Synced, Joined and Left are what the demo showed: the staff of the first sync,
	// and the next day's joiner and leaver.
	Synced         int
	Joined, Left   homecare.HSAID
	Events         []store.StaffEvent
	Review         []report.AccessLine
	Quarter        report.Quarter
	sim            *hsasim.Server
	staff          []hsasim.Staff
	unit, provider string
}

// demoNames are the demo staff's names (made up, as their numbers are test numbers).
var demoNames = [][2]string{
	{"Maria", "Lindqvist"}, {"Erik", "Nyström"}, {"Fatima", "Haddad"}, {"Johan", "Berg"},
	{"Aino", "Korhonen"}, {"Sara", "Ek"}, {"Nils", "Holm"}, {"Leila", "Karimi"},
}

// StartDirectory starts the HSA simulator with the staff of m's first provider (one of
// them a protected person), points cfg's hsa vars at it and switches the hsa_staff
// pipeline on; the returned secrets hold the hub's function certificate key. Where the
// contracts are missing it returns a Directory that says so and leaves cfg as it is.
func StartDirectory(dir, root string, cfg *config.Config, m *Municipality, today time.Time) (*Directory, adapters.MapSecrets, error) {
	contracts, err := FindContracts(root)
	if err != nil {
		return &Directory{Skipped: err.Error()}, nil, nil
	}
	pkiDir := filepath.Join(dir, "hsa-pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, nil, err
	}
	pki, err := hsasim.NewPKI(pkiDir)
	if err != nil {
		return nil, nil, err
	}
	p := m.Providers[0]
	d := &Directory{unit: cfg.Vars["omsorg_norr_hsa_unit"], provider: p.ID}
	if d.sim, err = hsasim.Start(hsasim.Options{Contracts: contracts, PKI: pki,
		LogicalAddress: cfg.Vars["hsa_logical_address"], Today: today}); err != nil {
		return nil, nil, fmt.Errorf("demo: the HSA simulator: %w", err)
	}
	hired := time.Date(today.Year(), today.Month()-6, 1, 0, 0, 0, 0, time.UTC)
	ids := homecare.OfficialTestPersonIDsBorn(1965, 1999, len(p.Staff)+1)
	for i, hsa := range p.Staff {
		d.staff = append(d.staff, d.person(i, hsa, ids[i], hired))
	}
	d.staff[2].Protected = true // skyddade personuppgifter: kept out of logs and the review
	for _, s := range d.staff {
		d.sim.AddEmployee(s)
	}
	cfg.Vars["hsa_url"] = d.sim.URL
	cfg.Vars["hsa_contracts"] = contracts
	cfg.Vars["hsa_cert_file"] = pki.ClientCert
	cfg.Vars["hsa_ca_file"] = pki.CAFile
	cfg.Vars["hsa_poll_interval"] = "1s" // the demo's days pass in seconds
	cfg.DisabledPipelines = slices.DeleteFunc(slices.Clone(cfg.DisabledPipelines), func(s string) bool { return s == hsaPipeline })
	return d, adapters.MapSecrets{secretHSAKey: pki.ClientKeyPEM}, nil
}

// person is staff member i of the provider, with a commission at its unit since hired.
func (d *Directory) person(i int, hsa homecare.HSAID, pid homecare.PersonID, hired time.Time) hsasim.Staff {
	name := demoNames[i%len(demoNames)]
	return hsasim.Staff{
		HSAID: string(hsa), PersonID: pid.Reveal(), GivenName: name[0], FamilyName: name[1],
		Mail: fmt.Sprintf("%s.%s@%s.example", name[0], name[1], d.provider), Title: "Undersköterska",
		Commissions: []hsasim.Commission{{
			HSAID: "TSTNMT2321000156-C" + string(hsa[len(hsa)-4:]), Name: "Hemtjänst Norr", Purpose: hsaPurpose,
			UnitHSAID: d.unit, UnitName: "Hemtjänst Norr", ProviderHSAID: "TSTNMT2321000156-V001",
			ProviderName: "Omsorg Norr AB", ProviderOrgNo: "5566778899", From: hired,
		}},
	}
}

// Close stops the simulator.
func (d *Directory) Close() {
	if d.sim != nil {
		d.sim.Close()
	}
}

// WaitSynced waits until the hub has taken the directory's first snapshot: a staff.joined
// event for each person.
func (d *Directory) WaitSynced(ctx context.Context, st *store.Store) error {
	if d.sim == nil {
		return nil
	}
	if err := waitEvents(ctx, st, len(d.staff)); err != nil {
		return err
	}
	d.Synced = len(d.staff)
	return nil
}

// NextDay lives the directory's next morning: one person's employment ended yesterday
// (their commission was not ended with it, as happens), and a new person was hired; it
// waits for the hub's next sync to record both.
func (d *Directory) NextDay(ctx context.Context, st *store.Store, m *Municipality, today time.Time) error {
	if d.sim == nil {
		return nil
	}
	before, err := st.StaffEvents(ctx, hsaDirectory)
	if err != nil {
		return err
	}
	leaver := d.staff[len(d.staff)-1]
	yesterday := time.Date(today.Year(), today.Month(), today.Day()-1, 0, 0, 0, 0, time.UTC)
	d.sim.EndEmployment(leaver.HSAID, yesterday)
	n := len(m.Providers[0].Staff) + len(m.Providers[1].Staff) + 1
	joiner := d.person(len(d.staff), homecare.HSAID(fmt.Sprintf("TSTNMT2321000156-%04d", 1000+n)),
		homecare.OfficialTestPersonIDsBorn(1965, 1999, len(d.staff)+1)[len(d.staff)], yesterday.AddDate(0, 0, 1))
	d.sim.AddEmployee(joiner)
	d.Joined, d.Left = homecare.HSAID(joiner.HSAID), homecare.HSAID(leaver.HSAID)
	return waitEvents(ctx, st, len(before)+2)
}

// waitEvents waits until the store holds n staff events of the directory.
func waitEvents(ctx context.Context, st *store.Store, n int) error {
	got := 0
	err := waitFor(ctx, 100*time.Millisecond, func() (bool, error) {
		evs, err := st.StaffEvents(ctx, hsaDirectory)
		got = len(evs)
		return got >= n, err
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("demo: the hub recorded %d staff events from HSA within %v, want %d (see the hsa_staff pipeline's dead letters)", got, waitLimit, n)
	}
	return err
}

// waitLimit bounds each wait for the hub; a simulator that never gets its answer is a
// failed demo, said with what it waited for.
const waitLimit = 30 * time.Second

// errWaited is a wait that reached waitLimit.
var errWaited = errors.New("demo: waited too long")

// waitFor calls done every interval until it reports true, fails, ctx ends or waitLimit
// passes (errWaited).
func waitFor(ctx context.Context, interval time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(waitLimit)
	for {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errWaited
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Summarize reads the directory's events and the quarter's access review from the store.
func (d *Directory) Summarize(ctx context.Context, st *store.Store, today homecare.Date) error {
	var err error
	if d.sim != nil {
		if d.Events, err = st.StaffEvents(ctx, hsaDirectory); err != nil {
			return err
		}
	}
	d.Quarter = report.QuarterOf(today)
	facts, err := st.AccessFacts(ctx, d.Quarter.First(), d.Quarter.Last())
	if err != nil {
		return err
	}
	d.Review = report.Access(facts, d.Quarter)
	return nil
}

// Print writes what the directory did and the access review.
func (d *Directory) Print(w io.Writer) {
	if d.Skipped != "" {
		fmt.Fprintf(w, "\nStaff directory (HSA over RIV-TA): not run: %s.\n", d.Skipped)
	} else {
		counts := map[store.StaffEventKind]int{}
		for _, e := range d.Events {
			counts[e.Kind]++
		}
		fmt.Fprintf(w, "\nStaff directory: the hub read Omsorg Norr's %d staff from HSA over RIV-TA (mutual TLS, every call validated against the contracts; pipeline %s).\n",
			d.Synced, hsaPipeline)
		fmt.Fprintf(w, "The next morning %s's employment had ended and %s was hired; the next sync recorded:\n", d.Left, d.Joined)
		for _, e := range d.Events[len(d.Events)-min(len(d.Events), 2):] {
			reason := ""
			if e.Reason != "" {
				reason = " (" + e.Reason + ")"
			}
			fmt.Fprintf(w, "  %s  %s  %s%s\n", e.Day, e.Kind, e.Key, reason)
		}
		fmt.Fprintf(w, "Staff events in all: %d joined, %d changed, %d left (`knut staff events`); a leaver's certificate is refused from the sync on.\n",
			counts[store.StaffJoined], counts[store.StaffChanged], counts[store.StaffLeft])
	}
	fmt.Fprintf(w, "\nThe quarter's access review (`knut report access --quarter %s`; the manager signs it off with `knut report access sign`):", d.Quarter)
	if err := report.WriteAccessTable(w, d.Review, nil, false); err != nil {
		fmt.Fprintf(w, "\n  (the review could not be written: %v)\n", err)
	}
}
