package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// Options configure a demo run.
type Options struct {
	// Root is a checkout holding knut.yaml, pipelines/, mappings/ and
	// schemas/; empty runs the content built into the binary.
	Root string
	// Dir holds the demo's store (and the built-in content it runs); it is
	// kept. Default a new temporary directory, removed at the end.
	Dir string
	// Days is how many days of visits the TES simulator registers.
	Days int
	// Listen is the hub's HTTP address; default 127.0.0.1:0.
	Listen string
	// Once exits after the simulated period instead of serving on.
	Once bool
	// Seed makes the municipality and its visits reproducible.
	Seed uint64
	// Today is the day after the simulated period; default today.
	Today time.Time
	// Logger is the hub's logger.
	Logger *zap.Logger
	// Out receives the summary.
	Out io.Writer
}

// Summary is what the demo's hub did.
type Summary struct {
	// Phones is what the phones and TES did; Flags counts the visits the hub
	// stored by the flags it set.
	Phones     *PhoneReport
	Flags      map[homecare.VisitFlag]int
	Pipelines  map[string]*MessageCounts
	DeadLetter []store.DeadLetterRecord
	Totals     []store.VisitTotal
	Orders     *OrderSummary
	// Corrected is the visit a supervisor corrected, with its history; Late the visit a
	// phone synced days late; Reconcile the client-days queued for reconciliation again.
	Corrected   homecare.Visit
	Corrections []store.VisitCorrection
	Late        homecare.Visit
	Reconcile   []store.ReconcileDay
	// Executed is the executed time the case system got from the night's executed job.
	Executed *ExecutedSummary
	// Directory is the staff directory's syncs and the quarter's access review.
	Directory *Directory
	// Locks is what the keyless locks did.
	Locks *Locks
	// Reconciliation is what the nights reconciled, and the month's report.
	Reconciliation *Reconciliation
}

// MessageCounts are one pipeline's messages in the log by status: the
// inputs it received (from a vendor, another pipeline's topic or a reply)
// apart from the deliveries it made to its sink (source "deliver:..."), so
// that each count matches what a vendor sent or got.
type MessageCounts struct {
	Inputs, Deliveries map[store.Status]int64
}

// Run starts a hub on the embedded default, lets the simulated municipality
// live through opts.Days days of visits pushed over HTTP on loopback, waits
// until every message is stored or dead-lettered, and prints a summary.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if opts.Days <= 0 {
		opts.Days = 3
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Today.IsZero() {
		opts.Today = time.Now().In(Stockholm())
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	kept := opts.Dir != ""
	if !kept {
		dir, err := os.MkdirTemp("", "knut-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		opts.Dir = dir
	} else if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("demo: --dir: %w", err)
	}
	var cfg *config.Config
	var err error
	content := "built into knut"
	if opts.Root != "" {
		cfg, err = config.Load(filepath.Join(opts.Root, "knut.yaml"))
		content = "the files in " + opts.Root
		if abs, err := filepath.Abs(opts.Root); err == nil {
			content = "the files in " + abs
		}
	} else {
		cfg, err = writeEmbedded(filepath.Join(opts.Dir, "content"))
	}
	if err != nil {
		return nil, err
	}
	cfg.Store.DSN = filepath.Join(opts.Dir, "demo.db")
	cfg.HTTP.Listen = opts.Listen
	orders, secrets, err := StartOrderWorld(opts.Dir, cfg)
	if err != nil {
		return nil, err
	}
	defer orders.Close()
	m := NewMunicipality(opts.Seed)
	directory, dirSecrets, err := StartDirectory(opts.Dir, opts.Root, cfg, m, opts.Today)
	if err != nil {
		return nil, err
	}
	defer directory.Close()
	locks, lockSecrets, err := StartLocks(cfg, m)
	if err != nil {
		return nil, err
	}
	defer locks.Close()
	secrets = withSecrets(withSecrets(secrets, dirSecrets), lockSecrets)
	// The hub's clock is the demo's: today, until the night passes (below).
	var night atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(night.Load())) }
	srv, err := server.New(ctx, cfg, server.Options{Logger: opts.Logger, Secrets: secrets, Clock: clock})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		return nil, err
	}

	base := "http://" + srv.Addr()
	where := "a temporary directory, removed at the end"
	if kept {
		where = "kept after the demo (--dir); a later run with the same --dir adds to it"
	}
	fmt.Fprintf(opts.Out, "Knutpunkt demo: %s, %d clients, %d providers; hub on %s\n  pipelines, mappings and schemas: %s\n  store: %s, %s\n",
		m.Name, len(m.Clients), len(m.Providers), base, content, cfg.Store.DSN, where)

	// The staff come first: the hub's first sync of the directory at start.
	if err := directory.WaitSynced(ctx, srv.Store()); err != nil {
		return nil, err
	}

	// Then the orders: decided five months ago, in force a week later, with what
	// happened since (changes, hospital stays, trips, ends), and today the decisions'
	// end dates. The visits of the last days follow the orders in force.
	var clients []homecare.PersonID
	for _, c := range m.Clients {
		clients = append(clients, c.PersonID)
	}
	decided := time.Date(opts.Today.Year(), opts.Today.Month(), opts.Today.Day()-DecidedDaysAgo, 9, 0, 0, 0, Stockholm())
	sentOrders, err := orders.Run(ctx, base, srv.Store(), clients, decided, opts.Seed)
	if err != nil {
		return nil, err
	}
	// The tags at the clients' doors were registered when their care began.
	if err := m.RegisterTags(ctx, srv.Store(), homecare.LocalDate(decided)); err != nil {
		return nil, err
	}
	// The keys: the morning before the first visits the hub gives the staff of each
	// order's provider the key to the client's lock, where the order names one.
	firstMorning := time.Date(opts.Today.Year(), opts.Today.Month(), opts.Today.Day()-opts.Days-WarmUpDays, 5, 0, 0, 0, Stockholm())
	night.Store(int64(time.Until(firstMorning)))
	if err := locks.Grant(ctx, srv); err != nil {
		return nil, err
	}
	night.Store(0)

	// The phones work from the orders in force each day: the clients, their insatser
	// and schedules, the provider each order names.
	timelines, err := srv.Store().Timelines(ctx)
	if err != nil {
		return nil, err
	}
	tes := &TES{URL: base, ExportDir: cfg.Vars["tes_export_dir"], Client: &http.Client{Timeout: 10 * time.Second},
		Plan: func(day homecare.Date) (tessim.Plan, error) { return m.Plan(OrdersInForce(timelines, day), day) },
		Sync: func(at time.Time) {
			if at.IsZero() {
				night.Store(0)
			} else {
				night.Store(int64(time.Until(at)))
			}
		},
		Settle: func(ctx context.Context) error { return waitSettled(ctx, srv.Store(), 25*time.Second) }}
	phones, err := tes.Run(ctx, opts.Today, opts.Days, opts.Seed)
	if err != nil {
		return nil, err
	}
	if err := waitSettled(ctx, srv.Store(), 25*time.Second); err != nil {
		return nil, err
	}

	// The doors opened around those visits, as the locks logged them.
	if err := locks.OpenDoors(ctx, srv.Store(), phones.First.AddDays(-WarmUpDays), phones.Last); err != nil {
		return nil, err
	}

	// The directory's next morning: a leaver and a joiner, seen at the next sync; their
	// keys follow. Then a phone is lost and its keys revoked at once.
	if err := directory.NextDay(ctx, srv.Store(), m, opts.Today); err != nil {
		return nil, err
	}
	if err := locks.Staff(ctx, srv, directory.Left, directory.Joined); err != nil {
		return nil, err
	}
	if len(m.Providers[0].Staff) > 1 && directory.Synced > 0 {
		if err := locks.LostPhone(ctx, srv, m.Providers[0].Staff[1]); err != nil {
			return nil, err
		}
	}

	// The client-days queued again, read before the night's executed job sends them.
	queued, err := srv.Store().ReconcileDays(ctx)
	if err != nil {
		return nil, err
	}

	// The night passes: at 00:05 the nightly jobs fold in what takes effect tomorrow,
	// infer the executions the visits show, send the executed time, and report.
	tomorrow := time.Date(opts.Today.Year(), opts.Today.Month(), opts.Today.Day()+1, 0, 5, 0, 0, Stockholm())
	night.Store(int64(time.Until(tomorrow)))
	if err := srv.RunJobs(ctx); err != nil {
		return nil, err
	}
	if err := orders.Settle(ctx, srv.Store()); err != nil {
		return nil, err
	}
	sum, err := summarize(ctx, srv.Store(), phones, cfg.Visits.AcrossMidnight.Rule())
	if err != nil {
		return nil, err
	}
	if phones.Corrected != "" {
		if sum.Corrected, sum.Corrections, err = srv.Store().VisitHistory(ctx, "tes", phones.Corrected); err != nil {
			return nil, err
		}
	}
	if phones.Late != "" {
		if sum.Late, err = srv.Store().Visit(ctx, "tes", phones.Late); err != nil {
			return nil, err
		}
	}
	sum.Reconcile = queued
	if run, ok, err := srv.Store().LastJobRun(ctx, "executed"); err != nil {
		return nil, err
	} else if ok {
		sum.Executed = orders.Executed(run)
	}
	if sum.Orders, err = orders.Summarize(ctx, srv.Store(), sentOrders); err != nil {
		return nil, err
	}
	if err := directory.Summarize(ctx, srv.Store(), homecare.LocalDate(opts.Today)); err != nil {
		return nil, err
	}
	sum.Directory = directory
	if err := locks.Summarize(ctx, srv.Store()); err != nil {
		return nil, err
	}
	sum.Locks = locks
	// The next day and night: a supervisor's correction, the reconciliation again, and
	// the month's report with its payment basis to the case system.
	if cfg.Reconciliation.RuleSet != "" {
		setNow := func(at time.Time) { night.Store(int64(time.Until(at))) }
		if sum.Reconciliation, err = reconcileNights(ctx, srv, cfg, tes, phones, orders, setNow, tomorrow, opts.Dir); err != nil {
			return nil, err
		}
		sum.Reconciliation.kept = kept
	}
	sum.Print(opts.Out)
	if kept {
		fmt.Fprintf(opts.Out, "\nThe store is kept in %s; `knut serve` with store.dsn set to it shows it again.\n", cfg.Store.DSN)
	}
	if opts.Once {
		// Stopped as `knut serve` stops on SIGTERM: nothing new taken,
		// what is in flight drained, then sinks, bus and store closed.
		cancel()
		if err := <-done; err != nil {
			return sum, err
		}
		d := srv.Router().Drained()
		fmt.Fprintf(opts.Out, "\nStopped: %d messages drained in %s, %d left in the log for the next start; sinks, bus and store closed.\n",
			d.Finished, d.Took.Round(time.Millisecond), d.Left)
		return sum, nil
	}
	fmt.Fprintf(opts.Out, "\nThe hub keeps serving on %s (try %s/metrics); Ctrl-C stops it.\n", base, base)
	return sum, <-done
}

// waitSettled waits until no message is still only received.
func waitSettled(ctx context.Context, st *store.Store, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		counts, err := st.Counts(ctx)
		if err != nil {
			return err
		}
		if counts[store.StatusReceived] == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %d messages still unprocessed after %s", counts[store.StatusReceived], limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// summarize reads what the hub did; the executed time per day follows rule, the
// municipality's visits.across_midnight.
func summarize(ctx context.Context, st *store.Store, phones *PhoneReport, rule homecare.MidnightRule) (*Summary, error) {
	pc, err := pipelineCounts(ctx, st)
	if err != nil {
		return nil, err
	}
	dls, err := st.ListDeadLetters(ctx, store.DeadLetterFilter{Limit: 100})
	if err != nil {
		return nil, err
	}
	totals, err := st.VisitTotalsBy(ctx, store.VisitFilter{}, rule)
	if err != nil {
		return nil, err
	}
	flags := map[homecare.VisitFlag]int{}
	for day := phones.First.AddDays(-WarmUpDays); !phones.Last.Before(day); day = day.AddDays(1) {
		vs, err := st.ListVisits(ctx, store.VisitFilter{LocalDateFrom: day, LocalDateTo: day, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			for _, f := range v.Flags {
				flags[f]++
			}
		}
	}
	return &Summary{Phones: phones, Flags: flags, Pipelines: pc, DeadLetter: dls, Totals: totals}, nil
}

// pipelineCounts reads the message log page by page (the demo's log is a
// few hundred messages) and counts each pipeline's inputs and deliveries.
func pipelineCounts(ctx context.Context, st *store.Store) (map[string]*MessageCounts, error) {
	totals, err := st.PipelineCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*MessageCounts{}
	for p := range totals {
		c := &MessageCounts{Inputs: map[store.Status]int64{}, Deliveries: map[store.Status]int64{}}
		out[p] = c
		seen := map[string]bool{}
		var before time.Time
		for {
			page, err := st.ListMessages(ctx, store.MessageFilter{Pipeline: p, Before: before, Limit: 1000})
			if err != nil {
				return nil, err
			}
			fresh := 0
			for _, m := range page {
				if seen[m.ID] {
					continue
				}
				seen[m.ID], fresh = true, fresh+1
				if strings.HasPrefix(m.SourceAdapter, "deliver:") {
					c.Deliveries[m.Status]++
				} else {
					c.Inputs[m.Status]++
				}
			}
			if fresh == 0 || len(page) < 1000 {
				break
			}
			// Before is exclusive: step past the oldest's time so messages
			// received in the same microsecond are not skipped.
			before = page[len(page)-1].ReceivedAt.Add(time.Microsecond)
		}
		var n int64
		for _, v := range totals[p] {
			n += v
		}
		// More than counted is a poll that arrived meanwhile (the locks' sources go on
		// polling); fewer would be messages the pages skipped.
		if int64(len(seen)) < n {
			return nil, fmt.Errorf("demo: message log of %s: read %d messages of %d", p, len(seen), n)
		}
	}
	return out, nil
}

// Print writes the summary as tables.
func (s *Summary) Print(w io.Writer) {
	if s.Phones != nil {
		s.Phones.Print(w, s.Flags)
		if n := len(s.Phones.Nightly); n > 0 {
			fmt.Fprintf(w, "The nightly export %s (and %d more) was taken from the drop directory (tes_nightly): its rows are visits the phones had pushed, stored once.\n",
				s.Phones.Nightly[0], n-1)
		}
	}
	fmt.Fprintf(w, "\nMessage log: what each pipeline received, and what it delivered to its sink\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PIPELINE\tRECEIVED\tPROCESSED\tDEAD\tDELIVERIES\tDELIVERED\tFAILED")
	all := func(c map[store.Status]int64) int64 {
		return c[store.StatusReceived] + c[store.StatusProcessed] + c[store.StatusDead] + c[store.StatusReplayed]
	}
	for _, p := range sortedKeys(s.Pipelines) {
		in, out := s.Pipelines[p].Inputs, s.Pipelines[p].Deliveries
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\n", p, all(in), in[store.StatusProcessed], in[store.StatusDead],
			all(out), out[store.StatusProcessed], out[store.StatusDead])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nDead letters (%d), each with its reason; fix and `knut replay ID`:\n", len(s.DeadLetter))
	for _, d := range s.DeadLetter {
		fmt.Fprintf(w, "  %s  %s\n", d.MessageID, d.Reason)
	}
	var visits int64
	for _, t := range s.Totals {
		visits += t.Visits + t.NoOrder + t.Declined + t.Cancelled + t.InProgress
	}
	fmt.Fprintf(w, "\nVisits stored (%d), executed time per day and provider (what counts: completed, under an order in force):\n", visits)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DAY\tPROVIDER\tVISITS\tMINUTES\tNO ORDER\tDECLINED\tCANCELLED\tIN PROGRESS")
	for _, t := range s.Totals {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", t.LocalDate, t.ProviderID, t.Visits, t.Minutes,
			t.NoOrder, t.Declined, t.Cancelled, t.InProgress)
	}
	tw.Flush()
	if len(s.Corrections) > 0 {
		c := s.Corrections[len(s.Corrections)-1]
		var fields []string
		for _, f := range c.Changes {
			fields = append(fields, fmt.Sprintf("%s %s → %s", f.Field, f.Old, f.New))
		}
		fmt.Fprintf(w, "\nThe next morning a supervisor corrected visit %s (version %d → %d: %s); the correction is kept (`knut visits show %s`).\n",
			s.Corrected.ExternalID, c.FromVersion, c.ToVersion, strings.Join(fields, "; "), s.Corrected.ExternalID)
	}
	if s.Late.ExternalID != "" {
		fmt.Fprintf(w, "A phone that had been offline for days synced visit %s of %s (ended %s, TES got it %s): stored, flagged %v (`knut visits show %s`).\n",
			s.Late.ExternalID, s.Late.LocalDate, s.Late.EndAt.In(Stockholm()).Format("2006-01-02 15:04"),
			s.Late.ReceivedAt.In(Stockholm()).Format("2006-01-02 15:04"), s.Late.Flags, s.Late.ExternalID)
	}
	if len(s.Reconcile) > 0 {
		fmt.Fprintf(w, "Client-days queued for the nightly reconciliation to read again (a late visit or a correction): %d\n", len(s.Reconcile))
		for _, d := range s.Reconcile {
			fmt.Fprintf(w, "  %s  %s  %s\n", d.LocalDate, d.Provider, d.Reason)
		}
	}
	if s.Executed != nil {
		s.Executed.Print(w)
	}
	if s.Orders != nil {
		s.Orders.Print(w)
	}
	if s.Locks != nil {
		s.Locks.Print(w)
	}
	if s.Directory != nil {
		s.Directory.Print(w)
	}
	if s.Reconciliation != nil {
		s.Reconciliation.Print(w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// waitTaken waits until the hub has taken the file name from the drop
// directory dir: it is gone from dir and not being processed.
func waitTaken(ctx context.Context, dir, name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, errWaiting := os.Stat(filepath.Join(dir, name))
		_, errTaking := os.Stat(filepath.Join(dir, ".processing", name))
		if os.IsNotExist(errWaiting) && os.IsNotExist(errTaking) {
			if reason, err := os.ReadFile(filepath.Join(dir, "failed", name+".error")); err == nil {
				return fmt.Errorf("tes: the nightly export %s was refused: %s", name, reason)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tes: the nightly export %s in %s was not taken within %v", name, dir, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
