package demo

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/provider"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
	"github.com/knutpunkt/knutpunkt/adapters/sftp/sftptest"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// OrderWorld is the order side of the demo municipality: the case system
// (Lifecare simulator) that decides and sends orders and records receipts,
// Omsorg Norr taking orders on a signed JSON webhook and acknowledging in
// its answer, and Hemtjänsten Söder taking XML files over SFTP and
// acknowledging through the hub's signed callback.
type OrderWorld struct {
	caseSystem *lifecaresim.CaseSystem
	norr       *providersim.Server // webhook
	soderAcks  *providersim.Server // only signs Söder's callbacks
	norrAcks   *providersim.Server // only signs Norr's callbacks (verkställd)
	// The demo's two departures from a provider's routine, each an IVO line: the Söder
	// order its office declines for want of capacity, and the Norr order whose
	// verkställd its office forgets (the hub infers it from the visits).
	declined, forgotten string
	// crossOrder is the Omsorg Norr order Söder tried to reject, and
	// crossStatus the hub's answer (see crossProvider).
	crossOrder  string
	crossStatus int
	soderSFTP   *sftptest.Server
	soderDir    string

	stop func()
	wg   sync.WaitGroup
}

const (
	secretNorrWebhook  = "env:KNUT_OMSORG_NORR_WEBHOOK_SECRET"
	secretSoderAcks    = "env:KNUT_HEMTJANST_SODER_CALLBACK_SECRET"
	secretNorrAcks     = "env:KNUT_OMSORG_NORR_CALLBACK_SECRET"
	secretSoderSFTPPwd = "env:KNUT_HEMTJANST_SODER_SFTP_PASSWORD"
)

// StartOrderWorld starts the simulators and points cfg's vars at them; the
// returned resolver holds the secrets the hub needs to reach them.
func StartOrderWorld(dir string, cfg *config.Config) (*OrderWorld, adapters.SecretResolver, error) {
	secrets := Secrets(nil).(fallback).m
	w := &OrderWorld{soderDir: filepath.Join(dir, "hemtjanst-soder-sftp")}
	var err error
	if w.caseSystem, err = lifecaresim.New(lifecaresim.Options{}); err != nil {
		return nil, nil, err
	}
	if w.norr, err = providersim.New(providersim.Options{Secret: secrets[secretNorrWebhook]}); err != nil {
		w.Close()
		return nil, nil, err
	}
	if w.soderAcks, err = providersim.New(providersim.Options{Secret: secrets[secretSoderAcks]}); err != nil {
		w.Close()
		return nil, nil, err
	}
	if w.norrAcks, err = providersim.New(providersim.Options{Secret: secrets[secretNorrAcks]}); err != nil {
		w.Close()
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Join(w.soderDir, "in", "orders"), 0o750); err != nil {
		w.Close()
		return nil, nil, err
	}
	if w.soderSFTP, err = sftptest.Start(w.soderDir, func(string, ...any) {}); err != nil {
		w.Close()
		return nil, nil, err
	}
	host, port, _ := strings.Cut(w.soderSFTP.Addr, ":")
	if cfg.Vars == nil {
		cfg.Vars = map[string]string{}
	}
	cfg.Vars["lifecare_receipts_url"] = w.caseSystem.ReceiptURL()
	cfg.Vars["lifecare_executed_url"] = w.caseSystem.ExecutedURL()
	cfg.Vars["lifecare_payment_basis_url"] = w.caseSystem.PaymentBasisURL()
	// The TES nightly export's drop directory (pipelines/tes_nightly.yaml).
	exportDir := filepath.Join(dir, "tes-export")
	if err := os.MkdirAll(exportDir, 0o750); err != nil {
		w.Close()
		return nil, nil, err
	}
	cfg.Vars["tes_export_dir"] = exportDir
	cfg.Vars["omsorg_norr_webhook_url"] = w.norr.URL()
	cfg.Vars["hemtjanst_soder_sftp_host"] = host
	cfg.Vars["hemtjanst_soder_sftp_port"] = port
	cfg.Vars["hemtjanst_soder_sftp_user"] = w.soderSFTP.User
	cfg.Vars["hemtjanst_soder_sftp_host_key"] = w.soderSFTP.Fingerprint()
	return w, Secrets(adapters.MapSecrets{secretSoderSFTPPwd: w.soderSFTP.Password}), nil
}

// Run sends the case system's orders to the hub in two rounds, as days
// would pass: first the new orders, then, once the providers have
// answered, the changes, pauses, resumptions and ends. Meanwhile
// Hemtjänsten Söder's office reads its SFTP drop and answers each new
// order by callback: mottagen, then verkstalld on the order's first day.
func (w *OrderWorld) Run(ctx context.Context, hub string, st *store.Store, clients []homecare.PersonID, decidedOn time.Time, seed uint64) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	w.stop = cancel
	msgs := lifecaresim.Orders(seed, clients, []string{"omsorg-norr", "hemtjanst-soder"}, decidedOn)
	w.pickDepartures(msgs)
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		w.soderOffice(ctx, hub+"/ingest/hemtjanst-soder-acks")
	}()
	go func() {
		defer w.wg.Done()
		w.norrOffice(ctx, hub+"/ingest/omsorg-norr-acks")
	}()
	first := slices.DeleteFunc(slices.Clone(msgs), func(m lifecaresim.OrderMessage) bool { return m.Kind() != "Bestallning" })
	later := slices.DeleteFunc(slices.Clone(msgs), func(m lifecaresim.OrderMessage) bool { return m.Kind() == "Bestallning" })
	// Today the case officers also send what they know of the future: each decision
	// with an end date ends then (beslut_upphort), an Avslut stored now that takes
	// effect on its day.
	ahead := decisionEnds(msgs, time.Now())
	for i, round := range [][]lifecaresim.OrderMessage{first, later, ahead} {
		for _, m := range round {
			if err := w.caseSystem.QueueOrder(hub+"/ingest/lifecare_orders", m); err != nil {
				return 0, err
			}
		}
		if err := w.settle(ctx, st, 25*time.Second); err != nil {
			return 0, err
		}
		if i == 0 {
			if err := w.crossProvider(ctx, hub+"/ingest/hemtjanst-soder-acks", st); err != nil {
				return 0, err
			}
		}
	}
	return len(msgs) + len(ahead), nil
}

// pickDepartures chooses the order Söder declines and the one whose verkställd Norr
// forgets: the first new order of each provider with no change, pause or end after it.
func (w *OrderWorld) pickDepartures(msgs []lifecaresim.OrderMessage) {
	busy := map[string]bool{}
	for _, m := range msgs {
		if m.Kind() != "Bestallning" {
			busy[m.OrderID()] = true
		}
	}
	for _, m := range msgs {
		b, ok := m.(*lifecaresim.Bestallning)
		if !ok || busy[b.ID] || len(b.Cohabitants) > 0 {
			continue
		}
		switch {
		case b.Provider == "hemtjanst-soder" && w.declined == "":
			w.declined = b.ID
		case b.Provider == "omsorg-norr" && w.forgotten == "":
			w.forgotten = b.ID
		}
	}
}

// decisionEnds are the Avslut (beslut_upphort) the case system sends at now for each
// order with an end date that is not ended otherwise.
func decisionEnds(msgs []lifecaresim.OrderMessage, now time.Time) []lifecaresim.OrderMessage {
	ended := map[string]bool{}
	for _, m := range msgs {
		if m.Kind() == "Avslut" {
			ended[m.OrderID()] = true
		}
	}
	var out []lifecaresim.OrderMessage
	for _, m := range msgs {
		b, ok := m.(*lifecaresim.Bestallning)
		if !ok || b.ValidTo == nil || ended[b.ID] {
			continue
		}
		out = append(out, &lifecaresim.Avslut{
			Head:  lifecaresim.Head{Version: b.Head.Version, ID: b.Head.ID + "-upphor", Time: now.UTC().Truncate(time.Second)},
			Order: b.ID, Provider: b.Provider, Date: *b.ValidTo, Reason: "beslut_upphort",
		})
	}
	return out
}

// crossProvider has Hemtjänsten Söder's system reject an order of Omsorg
// Norr's, correctly signed with Söder's own secret: what a broken or
// hostile provider system would do. The hub refuses it (403) and keeps the
// refusal in its audit trail; the order and the case system never see it.
func (w *OrderWorld) crossProvider(ctx context.Context, callback string, st *store.Store) error {
	norr, err := st.ListOrders(ctx, store.OrderFilter{Provider: "omsorg-norr", Limit: 1})
	if err != nil || len(norr) == 0 {
		return err
	}
	w.crossOrder = norr[0].ExternalID
	body, _ := json.Marshal(map[string]string{"id": "HS-WRONG-" + w.crossOrder, "order_id": w.crossOrder,
		"status": "avvisad", "reason": "fel utförare", "occurred_at": time.Now().UTC().Format(time.RFC3339)})
	w.crossStatus, _, err = w.soderAcks.Post(ctx, callback, body, "HS-WRONG-"+w.crossOrder, time.Now())
	return err
}

// DecidedDaysAgo is how long before the demo's day its decisions were made: five
// months, so that what happened since (a stay in hospital, a trip, an end) lies in
// the past, and a decision left without care has passed its IVO deadline.
const DecidedDaysAgo = 150

// Settle waits until the hub and the providers' offices have nothing left to do.
func (w *OrderWorld) Settle(ctx context.Context, st *store.Store) error {
	return w.settle(ctx, st, 25*time.Second)
}

// settle waits until the case system has handed over everything and the
// hub has nothing left to do: no message received but unprocessed, and no
// order answer still on its way.
func (w *OrderWorld) settle(ctx context.Context, st *store.Store, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	quiet := 0
	var last int64
	for {
		counts, err := st.Counts(ctx)
		if err != nil {
			return err
		}
		total := counts[store.StatusProcessed] + counts[store.StatusDead]
		if w.caseSystem.Pending() == 0 && counts[store.StatusReceived] == 0 && total == last {
			// Stable twice in a row: acknowledgements travel through two
			// more pipelines after a delivery, and the office polls.
			if quiet++; quiet >= 6 {
				return nil
			}
		} else {
			quiet = 0
		}
		last = total
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: orders not settled after %s (%d messages waiting in the case system, %d in the hub)",
				limit, w.caseSystem.Pending(), counts[store.StatusReceived])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// providerOrder is what the office reads from an order file.
type providerOrder struct {
	Event     string `xml:"event"`
	OrderID   string `xml:"order_id"`
	ValidFrom string `xml:"valid_from"`
}

// soderOffice polls Hemtjänsten Söder's drop directory and answers new
// orders through the hub's callback endpoint.
func (w *OrderWorld) soderOffice(ctx context.Context, callback string) {
	seen := map[string]bool{}
	dir := filepath.Join(w.soderDir, "in", "orders")
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if seen[e.Name()] || !strings.HasSuffix(e.Name(), ".xml") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			seen[e.Name()] = true
			var o providerOrder
			if xml.Unmarshal(b, &o) != nil || o.Event != "created" {
				continue
			}
			now := time.Now().UTC()
			if o.OrderID == w.declined {
				w.sendAck(ctx, w.soderAcks, callback, provider.Ack{ID: "HS-" + o.OrderID + "-avvisad", OrderID: o.OrderID,
					Status: "avvisad", Reason: "Ingen kapacitet i området just nu.", OccurredAt: now.Format(time.RFC3339)}, "")
				continue
			}
			acks := []provider.Ack{{ID: "HS-" + o.OrderID + "-mottagen", OrderID: o.OrderID, Status: "mottagen",
				OccurredAt: now.Format(time.RFC3339)}}
			if o.ValidFrom != "" {
				acks = append(acks, provider.Ack{ID: "HS-" + o.OrderID + "-verkstalld", OrderID: o.OrderID, Status: "verkstalld",
					OccurredAt: now.Add(time.Second).Format(time.RFC3339)})
			}
			for _, a := range acks {
				w.sendAck(ctx, w.soderAcks, callback, a, o.ValidFrom)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// norrOffice reads the orders Omsorg Norr's webhook received and reports each new one
// verkställd on its first day through the hub's callback, but for the one it forgets.
func (w *OrderWorld) norrOffice(ctx context.Context, callback string) {
	seen := map[string]bool{}
	for {
		for _, d := range w.norr.Received() {
			var o struct {
				Event     string `json:"event"`
				OrderID   string `json:"order_id"`
				ValidFrom string `json:"valid_from"`
			}
			if json.Unmarshal(d.Body, &o) != nil || o.Event != "created" || seen[o.OrderID] {
				continue
			}
			seen[o.OrderID] = true
			if o.OrderID == w.forgotten || o.ValidFrom == "" {
				continue
			}
			w.sendAck(ctx, w.norrAcks, callback, provider.Ack{ID: "ON-" + o.OrderID + "-verkstalld", OrderID: o.OrderID,
				Status: "verkstalld", OccurredAt: time.Now().UTC().Format(time.RFC3339)}, o.ValidFrom)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sendAck posts one acknowledgement signed by signer, with the start date for
// verkstalld, retrying while the hub asks to.
func (w *OrderWorld) sendAck(ctx context.Context, signer *providersim.Server, callback string, a provider.Ack, date string) {
	body := map[string]any{"id": a.ID, "order_id": a.OrderID, "status": string(a.Status), "occurred_at": a.OccurredAt}
	if a.Status == "verkstalld" {
		body["date"] = date
	}
	if a.Reason != "" {
		body["reason"] = a.Reason
	}
	raw, _ := json.Marshal(body)
	for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
		code, _, err := signer.Post(ctx, callback, raw, a.ID, time.Now())
		if err == nil && code < 300 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CaseSystemReceipts are the receipts the case system received.
func (w *OrderWorld) CaseSystemReceipts() []lifecaresim.Receipt { return w.caseSystem.Receipts() }

// Close stops the simulators.
func (w *OrderWorld) Close() {
	if w.stop != nil {
		w.stop()
	}
	w.wg.Wait()
	if w.caseSystem != nil {
		w.caseSystem.Close()
	}
	if w.norr != nil {
		w.norr.Close()
	}
	if w.soderAcks != nil {
		w.soderAcks.Close()
	}
	if w.norrAcks != nil {
		w.norrAcks.Close()
	}
	if w.soderSFTP != nil {
		w.soderSFTP.Close()
	}
}

// OrderSummary is what happened to the orders.
type OrderSummary struct {
	Sent        int
	Statuses    map[homecare.OrderStatus]int
	Receipts    map[string]int
	Norr, Soder int
	// CrossOrder is the order another provider tried to reject,
	// CrossStatus the hub's answer, and Refusals the audit trail's
	// records of refused calls.
	CrossOrder  string
	CrossStatus int
	Refusals    []store.AuditRecord
	// IVO is this quarter's IVO report as of today (decisions not executed
	// within 3 months, interruptions of 3 months or more), IVOIn4Months the
	// count four months on had nothing more happened; Pending counts events
	// stored that take effect after today (an Avslut at a decision's end).
	Quarter report.Quarter
	IVO     []report.IVOLine
	Pending int
	// Jobs are the nightly jobs' runs: what each did.
	Jobs []store.JobRun
}

// Summarize reports what happened to the orders.
func (w *OrderWorld) Summarize(ctx context.Context, st *store.Store, sent int) (*OrderSummary, error) {
	s := &OrderSummary{Sent: sent, Statuses: map[homecare.OrderStatus]int{}, Receipts: map[string]int{},
		CrossOrder: w.crossOrder, CrossStatus: w.crossStatus}
	records, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		if r.Outcome == store.AuditDenied {
			s.Refusals = append(s.Refusals, r)
		}
	}
	orders, err := st.ListOrders(ctx, store.OrderFilter{Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		s.Statuses[o.Status]++
	}
	for _, r := range w.caseSystem.Receipts() {
		s.Receipts[r.Kvittens.Type]++
	}
	s.Norr = len(w.norr.Received())
	tls, err := st.Timelines(ctx)
	if err != nil {
		return nil, err
	}
	today := st.Today()
	s.Quarter = report.QuarterOf(today)
	s.IVO = report.IVO(tls, s.Quarter, today)
	for _, job := range []string{"visits", "orders", "ivo", "statistics"} {
		if run, ok, err := st.LastJobRun(ctx, job); err != nil {
			return nil, err
		} else if ok {
			s.Jobs = append(s.Jobs, run)
		}
	}
	for _, tl := range tls {
		for _, e := range tl.Events() {
			if today.Before(e.EffectiveDate()) {
				s.Pending++
			}
		}
	}
	files, err := os.ReadDir(filepath.Join(w.soderDir, "in", "orders"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".xml") {
			s.Soder++
		}
	}
	return s, nil
}

// Print writes the order summary.
func (s *OrderSummary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nOrders: the case system sent %d messages; Omsorg Norr got %d webhook deliveries, Hemtjänsten Söder %d files over SFTP.\n",
		s.Sent, s.Norr, s.Soder)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ORDER STATUS\tORDERS")
	for _, st := range homecare.OrderStatuses() {
		if n := s.Statuses[st]; n > 0 {
			fmt.Fprintf(tw, "  %s\t%d\n", st, n)
		}
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RECEIPT TO THE CASE SYSTEM\tCOUNT")
	for _, typ := range []string{"mottagen", "verkstalld", "avvisad", "avbrott", "avslut"} {
		if n := s.Receipts[typ]; n > 0 {
			fmt.Fprintf(tw, "  %s\t%d\n", typ, n)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "  %d events are stored to take effect on their dates (`knut orders show ID --as-of DATE`); the nightly job applies them.\n", s.Pending)
	fmt.Fprintln(w, "\nThe night passed: the nightly jobs ran at 00:05 (in knut serve, robfig/cron; on start they catch up):")
	for _, j := range s.Jobs {
		fmt.Fprintf(w, "  %-10s for %s: %s\n", j.Job, j.LastDay, j.Detail)
	}
	fmt.Fprintf(w, "\nIVO report %s so far (`knut report ivo --quarter %s`; client refs masked here): %d decisions not executed within three months or interrupted for three.\n",
		s.Quarter, s.Quarter, len(s.IVO))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DECISION\tCLIENT\tSEX\tAGE\tDECIDED\tINSATSER\tKIND\tFROM\tDAYS\tREASON\tOUTCOME")
	for _, l := range s.IVO {
		outcome := l.Outcome + " " + dateOrDash(l.OutcomeDate)
		if l.Inferred {
			outcome += " (inferred from visits)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.DecisionID, maskRef(l.ClientRef), l.Sex,
			l.AgeBand, l.DecidedAt, l.Insatser, l.Kind, l.PeriodStart, l.Days, orDash(l.Reason), outcome)
	}
	tw.Flush()
	if s.CrossOrder != "" {
		fmt.Fprintf(w, "\nHemtjänsten Söder's system tried to reject Omsorg Norr's order %s, correctly signed with Söder's own secret: the hub answered %d.\n",
			s.CrossOrder, s.CrossStatus)
	}
	fmt.Fprintf(w, "Refusals in the audit trail (%d; `knut audit list` prints the whole log list, `knut audit verify` checks it):\n", len(s.Refusals))
	for _, r := range s.Refusals {
		fmt.Fprintf(w, "  %s  %s  %s  %s  client %s\n", r.At.UTC().Format(time.RFC3339), r.Actor, r.Action, r.Resource, r.Client)
	}
}

// maskRef masks a report's client reference as logs do: the date part only.
func maskRef(ref string) string {
	if len(ref) < 8 {
		return "****"
	}
	return ref[:8] + "-****"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dateOrDash(d homecare.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}
