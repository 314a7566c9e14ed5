package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

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
	Sent int
	// Nightly is the TES nightly export file the hub took from its drop directory.
	Nightly    string
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

	m := NewMunicipality(opts.Seed)
	base := "http://" + srv.Addr()
	where := "a temporary directory, removed at the end"
	if kept {
		where = "kept after the demo (--dir); a later run with the same --dir adds to it"
	}
	fmt.Fprintf(opts.Out, "Knutpunkt demo: %s, %d clients, %d providers; hub on %s\n  pipelines, mappings and schemas: %s\n  store: %s, %s\n",
		m.Name, len(m.Clients), len(m.Providers), base, content, cfg.Store.DSN, where)

	// The orders come first: decided five months ago, in force a week later, with what
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
	care, err := CareToday(ctx, srv.Store())
	if err != nil {
		return nil, err
	}
	m.FollowOrders(care)
	tes := &TES{URL: base + "/ingest/tes_sync", ExportDir: cfg.Vars["tes_export_dir"], Client: &http.Client{Timeout: 10 * time.Second},
		Sync: func(at time.Time) {
			if at.IsZero() {
				night.Store(0)
			} else {
				night.Store(int64(time.Until(at)))
			}
		}}
	sent, err := tes.Run(ctx, m, opts.Today, opts.Days, opts.Seed)
	if err != nil {
		return nil, err
	}
	if err := waitSettled(ctx, srv.Store(), 25*time.Second); err != nil {
		return nil, err
	}
	corrected, late, err := tes.Afterwards(ctx, m, opts.Today, opts.Seed)
	if err != nil {
		return nil, err
	}
	sent += 2
	// The nightly export dropped with the first day is taken within a poll or two.
	if err := waitTaken(ctx, tes.ExportDir, tes.Nightly, 20*time.Second); err != nil {
		return nil, err
	}
	if err := waitSettled(ctx, srv.Store(), 25*time.Second); err != nil {
		return nil, err
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
	sum, err := summarize(ctx, srv.Store(), sent, cfg.Visits.AcrossMidnight.Rule())
	if err != nil {
		return nil, err
	}
	if corrected != "" {
		if sum.Corrected, sum.Corrections, err = srv.Store().VisitHistory(ctx, "tes", corrected); err != nil {
			return nil, err
		}
		if sum.Late, err = srv.Store().Visit(ctx, "tes", late); err != nil {
			return nil, err
		}
		sum.Reconcile = queued
	}
	if run, ok, err := srv.Store().LastJobRun(ctx, "executed"); err != nil {
		return nil, err
	} else if ok {
		sum.Executed = orders.Executed(run)
	}
	sum.Nightly = tes.Nightly
	if sum.Orders, err = orders.Summarize(ctx, srv.Store(), sentOrders); err != nil {
		return nil, err
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
func summarize(ctx context.Context, st *store.Store, sent int, rule homecare.MidnightRule) (*Summary, error) {
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
	return &Summary{Sent: sent, Pipelines: pc, DeadLetter: dls, Totals: totals}, nil
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
		if int64(len(seen)) != n {
			return nil, fmt.Errorf("demo: message log of %s: read %d messages of %d", p, len(seen), n)
		}
	}
	return out, nil
}

// Print writes the summary as tables.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nTES sent %d visits over HTTP, in phone syncs (tes_sync).\n", s.Sent)
	if s.Nightly != "" {
		fmt.Fprintf(w, "The nightly export %s was taken from the drop directory (tes_nightly): its rows are visits the phones had pushed, stored once.\n", s.Nightly)
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
		fmt.Fprintf(w, "A phone that had been offline synced visit %s of %s: stored, flagged %v.\n", s.Late.ExternalID, s.Late.LocalDate, s.Late.Flags)
		fmt.Fprintf(w, "Client-days queued for the nightly reconciliation to read again: %d\n", len(s.Reconcile))
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
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TES simulates a TES-style registration system that pushes each visit to
// the hub as it is registered, over HTTP, and retries while the hub says
// 503, as the phone app's sync would.
type TES struct {
	URL    string
	Client *http.Client
	// ExportDir, if set, receives the nightly export (CSV) of the first day: the
	// same visits the phones pushed, which the hub takes as known records.
	ExportDir string
	// Nightly is the name of the export file dropped there.
	Nightly string
	// Sync, if set, moves the hub's clock to when a day's visits arrive (the zero time:
	// back to now), so that each day's sync is on time and only a late one is late.
	Sync func(time.Time)
	sent []TESVisit // the good visits sent, for Afterwards

	mu    sync.Mutex
	syncs int // syncs posted, for their ids
}

// Run registers days of visits ending the day before today, plus the bad
// and duplicate messages a real feed has, and returns how many it sent.
func (t *TES) Run(ctx context.Context, m *Municipality, today time.Time, days int, seed uint64) (int, error) {
	var visits []TESVisit
	seq, posted := 0, 0
	first := today.AddDate(0, 0, -days)
	for d := range days {
		day := m.Visits(first.AddDate(0, 0, d), seed, &seq)
		if d < days-1 && t.Sync != nil {
			// The phones sync each evening: the day's visits arrive that day.
			t.Sync(first.AddDate(0, 0, d).Add(21 * time.Hour))
			if err := t.postAll(ctx, day); err != nil {
				return 0, err
			}
			t.sent, posted = append(t.sent, day...), posted+len(day)
			continue
		}
		visits = append(visits, day...)
		t.sent = append(t.sent, day...)
	}
	if t.Sync != nil {
		t.Sync(time.Time{}) // back to now
	}
	visits = append(visits, badVisits(t.sent[0])...)
	// A phone that synced twice: the same visit arrives again.
	visits = append(visits, t.sent[1])

	if err := t.postAll(ctx, visits); err != nil {
		return 0, err
	}
	if t.ExportDir != "" {
		// The night after, the TES system exports the first day: records the hub has.
		var day []TESVisit
		for _, v := range t.sent {
			if strings.HasPrefix(v.Start, first.Format(time.DateOnly)) {
				day = append(day, v)
			}
		}
		name, err := DropNightlyCSV(t.ExportDir, first, day)
		if err != nil {
			return 0, err
		}
		t.Nightly = name
	}
	return posted + len(visits), nil
}

// Afterwards is what a TES sends later than the day's sync: a supervisor's correction of
// one visit the next morning (a new version, ended 15 minutes later: the staff member
// forgot to tag out), and a phone that was offline syncing a visit from five days ago.
// It returns the two visit ids.
func (t *TES) Afterwards(ctx context.Context, m *Municipality, today time.Time, seed uint64) (corrected, late string, err error) {
	seq := 900000
	if len(t.sent) == 0 {
		return "", "", nil
	}
	c := t.sent[len(t.sent)-1] // one of the last day's
	end, err := time.ParseInLocation("2006-01-02 15:04:05", c.End, Stockholm())
	if err != nil {
		return "", "", err
	}
	c.End, c.Version = end.Add(15*time.Minute).Format("2006-01-02 15:04:05"), 2
	old := m.Visits(today.AddDate(0, 0, -5), seed+1, &seq)
	if len(old) == 0 {
		return "", "", nil
	}
	l := old[0]
	l.Offline = true
	if err := t.postAll(ctx, []TESVisit{c, l}); err != nil {
		return "", "", err
	}
	return c.VisitID, l.VisitID, nil
}

// postAll posts visits as the phones sync them: batches of up to 25, four
// syncs at a time (the push API, /ingest/tes_sync).
func (t *TES) postAll(ctx context.Context, visits []TESVisit) error {
	work := make(chan []TESVisit)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for batch := range work {
				if err := t.post(ctx, batch); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		})
	}
	for len(visits) > 0 {
		n := min(25, len(visits))
		work <- visits[:n]
		visits = visits[n:]
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// badVisits are what a real feed also carries: a client number that fails
// its check digit (taken from the official test data's invalid cases), an
// unknown registration method, and an end before the start.
func badVisits(good TESVisit) []TESVisit {
	badPnr := good
	badPnr.VisitID += "-BADPNR"
	badPnr.ClientPnr = "20150916-0006"
	badMethod := good
	badMethod.VisitID += "-BADMETHOD"
	badMethod.Method = "BLUETOOTH"
	reversed := good
	reversed.VisitID += "-REVERSED"
	reversed.Start, reversed.End = good.End, good.Start
	return []TESVisit{badPnr, badMethod, reversed}
}

func (t *TES) post(ctx context.Context, visits []TESVisit) error {
	t.mu.Lock()
	t.syncs++
	id := fmt.Sprintf("DEMO-SYNC-%05d", t.syncs)
	t.mu.Unlock()
	body, err := json.Marshal(map[string]any{"syncId": id, "deviceId": "PHONE-DEMO", "visits": visits})
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.Client.Do(req)
		if err != nil {
			return fmt.Errorf("tes: post sync %s: %w", id, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < 5:
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		default:
			return fmt.Errorf("tes: post sync %s: %s: %s", id, resp.Status, strings.TrimSpace(string(msg)))
		}
	}
}

// DropNightlyCSV writes day's visits as the TES nightly export
// (schemas/tes/README.md: semicolon-separated, a header row) into dir, the
// way an exporter should: aside, then renamed into place.
func DropNightlyCSV(dir string, day time.Time, visits []TESVisit) (name string, err error) {
	var b strings.Builder
	b.WriteString("besok_id;version;personnummer;tagg;start;slut;hsa_id;utforare;enhet;metod;offline;status;insatser\n")
	for _, v := range visits {
		ins := make([]string, len(v.Insatser))
		for i, in := range v.Insatser {
			ins[i] = fmt.Sprintf("%s:%d", in.Code, in.Minutes)
		}
		offline := "nej"
		if v.Offline {
			offline = "ja"
		}
		version := ""
		if v.Version > 0 {
			version = strconv.Itoa(v.Version)
		}
		fmt.Fprintf(&b, "%s;%s;%s;%s;%s;%s;%s;%s;%s;%s;%s;%s;%s\n", v.VisitID, version, v.ClientPnr, v.TagUID, v.Start, v.End,
			v.StaffHSAID, v.Provider, v.Unit, v.Method, offline, v.Status, strings.Join(ins, "|"))
	}
	name = "tes-export-" + day.Format(time.DateOnly) + ".csv"
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o640); err != nil {
		return "", fmt.Errorf("tes: nightly export: %w", err)
	}
	return name, os.Rename(tmp, filepath.Join(dir, name))
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
