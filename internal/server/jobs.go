package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/schedule"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// jobMemory keeps the scheduler's last runs in the store.
type jobMemory struct{ st *store.Store }

func (m jobMemory) LastRun(ctx context.Context, job string) (homecare.Date, bool, error) {
	r, ok, err := m.st.LastJobRun(ctx, job)
	return r.LastDay, ok, err
}

func (m jobMemory) RecordRun(ctx context.Context, job string, day homecare.Date, detail string) error {
	return m.st.RecordJobRun(ctx, job, day, detail)
}

// ingester hands a message to a pipeline: the router.
type ingester interface {
	Ingest(ctx context.Context, name, source string, m knutpunkt.Message) (adapters.Receipt, error)
}

// Jobs are the hub's nightly jobs, in the order they run: the review of the visits
// (reviewJob), the orders' events that take
// effect today and the executions visits show (so the reports after them see today's
// orders), then the IVO report for each quarter and the statistics file for each month
// that ended since they last ran, and, when visits.executed_pipeline names a pipeline,
// the executed time of the days since the last run (executedJob), and, when
// reconciliation.rule_set names a rule set, the reconciliation (reconcileJob) and on the
// report day the month's payment basis (paymentBasisJob). in may be nil when no
// pipeline is to hear of an inferred execution, executed time or a payment basis.
func Jobs(st *store.Store, conf *config.Config, in ingester) []schedule.Job {
	cfg := conf.Orders
	jobs := []schedule.Job{
		reviewJob(st),
		{Name: "orders", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
			// Its first run folds every order (a store from before the timeline).
			due, err := st.ApplyDue(ctx, last.IsZero())
			if err != nil {
				return "", err
			}
			inferred, err := st.InferExecutions(ctx, cfg.InferExecutionFromVisits)
			if err != nil {
				return "", err
			}
			early := 0
			for _, inf := range inferred {
				early += inf.EarlyVisits
				if in == nil || cfg.ReceiptsPipeline == "" {
					continue
				}
				if err := handOn(ctx, in, cfg.ReceiptsPipeline, inf.Event); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf("%d events took effect; %d executions inferred from visits; %d visits before an order was in force",
				len(due), len(inferred), early), nil
		}},
		{Name: "ivo", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
			// Every quarter that ended since the last run (the one before today's at first).
			q := report.QuarterOf(day).Prev()
			first := q
			if !last.IsZero() {
				first = report.QuarterOf(last)
			}
			tls, err := st.Timelines(ctx) // once for every quarter reported
			if err != nil {
				return "", err
			}
			n := 0
			for ; !q.First().Before(first.First()); q = q.Prev() {
				if err := saveIVO(ctx, st, tls, q, q.Last().AddDays(1)); err != nil {
					return "", err
				}
				n++
				if last.IsZero() {
					break
				}
			}
			return fmt.Sprintf("%d quarters reported", n), nil
		}},
		{Name: "statistics", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
			m := report.MonthOf(day).Prev()
			first := m
			if !last.IsZero() {
				first = report.MonthOf(last)
			}
			tls, err := st.Timelines(ctx) // once for every month reported
			if err != nil {
				return "", err
			}
			n := 0
			for ; !m.First().Before(first.First()); m = m.Prev() {
				if err := saveStatistics(ctx, st, tls, m); err != nil {
					return "", err
				}
				n++
				if last.IsZero() {
					break
				}
			}
			return fmt.Sprintf("%d months reported", n), nil
		}},
	}
	if in != nil && conf.Visits.ExecutedPipeline != "" {
		jobs = append(jobs, executedJob(st, conf.Visits, in))
	}
	if conf.Reconciliation.RuleSet != "" {
		jobs = append(jobs, reconcileJob(st, conf))
		if in != nil && conf.Reconciliation.ReportPipeline != "" {
			jobs = append(jobs, paymentBasisJob(st, conf, in))
		}
	}
	return jobs
}

// reconcileJob reconciles executed hours every night (internal/reconcile): the month so
// far, by month, and back to the earliest day a late record or a correction queued since
// its last run reopened, within the rule set's late_record_reopen_days (its first run:
// that whole window, so a hub that starts mid-month pays the days still open). The lines of the
// clients those records concern are compared with the earlier run's, and each change is
// in the job's detail. The rule set file is read at each run, so a new version applies
// from the next night without a restart; a broken one fails the job (logged, retried).
func reconcileJob(st *store.Store, conf *config.Config) schedule.Job {
	return schedule.Job{Name: "reconcile", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
		rs, err := reconcile.LoadRuleSet(conf.Path(conf.Reconciliation.RuleSet))
		if err != nil {
			return "", err
		}
		to := day.AddDays(-1)
		from := report.MonthOf(to).First()
		if last.IsZero() {
			from = to.AddDays(1 - rs.LateRecordReopenDays)
		}
		var since time.Time
		if prev, ok, err := st.LastJobRun(ctx, "reconcile"); err != nil {
			return "", err
		} else if ok {
			since = prev.RanAt.Add(-time.Hour)
		}
		queued, err := st.ReconcileDays(ctx)
		if err != nil {
			return "", err
		}
		compare := map[string]bool{}
		oldest := to.AddDays(-rs.LateRecordReopenDays)
		for _, q := range queued {
			if q.QueuedAt.Before(since) || q.LocalDate.Before(oldest) || to.Before(q.LocalDate) {
				continue
			}
			compare[q.ClientKey] = true
			if q.LocalDate.Before(from) {
				from = q.LocalDate
			}
		}
		var parts, changed []string
		for m := report.MonthOf(from); !to.Before(m.First()); m = report.MonthOf(m.Last().AddDays(1)) {
			first, lastDay := m.First(), m.Last()
			if first.Before(from) {
				first = from
			}
			if to.Before(lastDay) {
				lastDay = to
			}
			res, err := reconcile.Run(ctx, st, rs, reconcile.Options{From: first, To: lastDay, Trigger: "nightly", Compare: compare})
			if err != nil {
				return "", err
			}
			parts = append(parts, fmt.Sprintf("%s to %s: run %s, %s", first, lastDay, res.Run.ID, res.Run.Summary))
			for _, c := range res.Changes {
				changed = append(changed, c.String())
			}
		}
		detail := strings.Join(parts, " | ")
		if len(changed) > 0 {
			const shown = 20
			more := ""
			if len(changed) > shown {
				more = fmt.Sprintf(" … and %d more", len(changed)-shown)
				changed = changed[:shown]
			}
			detail += fmt.Sprintf(" | clients reopened by late records or corrections: %d; lines changed against the earlier run: %s%s",
				len(compare), strings.Join(changed, "; "), more)
		}
		return detail, nil
	}}
}

// paymentBasisJob sends each provider's payment basis of the month before to the case
// system on reconciliation.report_day (or the first night after it, when the hub was
// down), once a month: the month's current lines, as the reconcile job left them that
// night (it runs first).
func paymentBasisJob(st *store.Store, conf *config.Config, in ingester) schedule.Job {
	cfg := conf.Reconciliation
	return schedule.Job{Name: "payment_basis", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
		m := report.MonthOf(day).Prev()
		if day.Day < cfg.ReportDay {
			return fmt.Sprintf("%s is reported on day %d", m, cfg.ReportDay), nil
		}
		if !last.IsZero() && report.MonthOf(last) == report.MonthOf(day) && last.Day >= cfg.ReportDay {
			return fmt.Sprintf("%s was reported on %s", m, last), nil
		}
		rs, err := reconcile.LoadRuleSet(conf.Path(cfg.RuleSet))
		if err != nil {
			return "", err
		}
		n, amount, err := SendPaymentBasis(ctx, st, rs, m, in, cfg.ReportPipeline)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %d providers' payment basis handed to %s, %d.%02d kr in all", m, n, cfg.ReportPipeline, amount/100, amount%100), nil
	}}
}

// SendPaymentBasis hands each provider's payment basis of month m (its current lines
// under rs) to pipeline name, and returns how many providers and the total in öre. A
// basis is named by its provider, month and run, so the same month sent again after no
// new run is a duplicate, and after a re-run a new message the case system replaces the
// month with.
func SendPaymentBasis(ctx context.Context, st *store.Store, rs *reconcile.RuleSet, m report.Month, in ingester, name string) (int, int64, error) {
	input, err := reconcile.MonthInput(ctx, st, rs, m, st.Now())
	if err != nil {
		return 0, 0, err
	}
	var total int64
	bases := report.PaymentBases(input)
	for _, b := range bases {
		body, err := json.Marshal(b)
		if err != nil {
			return 0, 0, err
		}
		_, err = in.Ingest(ctx, name, "reconcile", knutpunkt.Message{Body: body, Headers: map[string]string{
			knutpunkt.HeaderContentType:  "application/json",
			knutpunkt.HeaderExternalID:   b.MessageID,
			knutpunkt.HeaderSourceSystem: "reconcile",
			"payment-basis":              b.ProviderID + "/" + b.Month,
		}})
		if err != nil {
			return 0, 0, fmt.Errorf("hand the payment basis of %s for %s to %s: %w", b.ProviderID, m, name, err)
		}
		total += b.AmountOre
	}
	return len(bases), total, nil
}

// reviewJob flags the visits the day's records alone cannot judge (store.ReviewVisits:
// a tag at another client's door or at none, staff on two visits at once), and the doors
// opened with no visit of the client near (store.ReviewLockEvents), first among
// the nightly jobs so that what runs after it reads them flagged: yesterday, the days
// the executed job reads again (a record synced within 48 hours queues nothing), and
// every client-day a late record or a correction queued within the executed job's first
// period; its first run, that whole period.
func reviewJob(st *store.Store) schedule.Job {
	return schedule.Job{Name: "visits", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
		to := day.AddDays(-1)
		from := to.AddDays(1 - ExecutedFirstDays)
		if !last.IsZero() {
			from = last.AddDays(-ExecutedRecheckDays)
			queued, err := st.ReconcileDays(ctx)
			if err != nil {
				return "", err
			}
			for _, q := range queued {
				if q.LocalDate.Before(from) && !q.LocalDate.Before(to.AddDays(1-ExecutedFirstDays)) {
					from = q.LocalDate
				}
			}
		}
		r, err := st.ReviewVisits(ctx, from, to)
		if err != nil {
			return "", err
		}
		// The doors opened those days, against the visits now stored (DOMAIN.md §6.5).
		opened, noVisit, err := st.ReviewLockEvents(ctx, from, to)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s to %s: %d visits reviewed, %d flagged or cleared; %d foreign_tag, %d unknown_tag, %d staff_overlap, %d no_order; %d door openings reviewed, %d no_visit findings set or cleared",
			from, to, r.Visits, r.Changed, r.ForeignTag, r.UnknownTag, r.StaffOverlap, r.NoOrder, opened, noVisit), nil
	}}
}

// ExecutedFirstDays is how many days the executed job's first run reports: the days a late
// record or a correction may still change before the month's payment run (DOMAIN.md §6.4,
// late_record_reopen_days), so enabling it mid-month gives the case system the whole
// period. Later runs report each day since the last run, and the days queued again.
const ExecutedFirstDays = 35

// ExecutedRecheckDays is how many days before yesterday the executed job reads again every
// night: a record that arrives within homecare.LateAfter (48 h) of its visit's end is not
// flagged late, so it queues nothing, yet its day may have been sent already; a visit
// across midnight counts a day earlier still. Days that did not change send nothing.
const ExecutedRecheckDays = int(homecare.LateAfter/(24*time.Hour)) + 1

// executedJob sends the case system the executed time (utförd tid) of each client with
// each provider on every day from its last run to yesterday, and of every client-day a
// late record or a correction queued, through the pipeline visits.executed_pipeline names:
// a day once, and again one version up when it changed. A day is marked sent only after
// the pipeline took it (logged, so delivered even across a restart); a run that fails
// before that sends the same version with the same message id next time, which the hub
// takes as a duplicate.
func executedJob(st *store.Store, cfg config.Visits, in ingester) schedule.Job {
	rule := cfg.AcrossMidnight.Rule()
	return schedule.Job{Name: "executed", Run: func(ctx context.Context, day, last homecare.Date) (string, error) {
		to := day.AddDays(-1)
		from := to.AddDays(1 - ExecutedFirstDays)
		if !last.IsZero() {
			// The last run reported the days before it; the recent ones are read again.
			from = last
			if recheck := to.AddDays(-ExecutedRecheckDays); recheck.Before(from) {
				from = recheck
			}
		}
		// The client-days queued since the last run (an hour's margin: a day read
		// twice that did not change sends nothing); all of them at first.
		var since time.Time
		if prev, ok, err := st.LastJobRun(ctx, "executed"); err != nil {
			return "", err
		} else if ok {
			since = prev.RanAt.Add(-time.Hour)
		}
		c, err := st.ExecutedChanges(ctx, from, to, rule, since)
		if err != nil {
			return "", err
		}
		minutes, again := 0, 0
		for _, d := range c.Days {
			if err := handOnExecuted(ctx, in, cfg.ExecutedPipeline, d); err != nil {
				return "", err
			}
			minutes += d.Minutes
			if d.Version > 1 {
				again++
			}
		}
		if err := st.MarkExecutedSent(ctx, c); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d client-days of executed time sent (%d minutes; %d again after a change), %d unchanged, %s to %s, %s",
			len(c.Days), minutes, again, c.Unchanged, from, to, rule), nil
	}}
}

// handOnExecuted gives d to pipeline name as a new message from the scheduler. Its
// headers carry no personal data: the message id names the client by the store's key.
func handOnExecuted(ctx context.Context, in ingester, name string, d homecare.ExecutedDay) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	clientDay := strings.TrimPrefix(d.MessageID, "executed/")
	if i := strings.LastIndex(clientDay, "/v"); i >= 0 {
		clientDay = clientDay[:i]
	}
	// With the source system named, the same version handed on again (a run that failed
	// before it marked the days sent) is the message log's duplicate, not a second send.
	_, err = in.Ingest(ctx, name, "scheduler", knutpunkt.Message{Body: body, Headers: map[string]string{
		knutpunkt.HeaderContentType:  "application/json",
		knutpunkt.HeaderExternalID:   d.MessageID,
		knutpunkt.HeaderSourceSystem: "scheduler",
		"executed-day":               clientDay,
	}})
	if err != nil {
		return fmt.Errorf("hand executed day %s to %s: %w", d.MessageID, name, err)
	}
	return nil
}

// handOn gives ev to pipeline name as a new message from the scheduler.
func handOn(ctx context.Context, in ingester, name string, ev homecare.OrderEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = in.Ingest(ctx, name, "scheduler", knutpunkt.Message{Body: body, Headers: map[string]string{
		knutpunkt.HeaderContentType: "application/json",
		knutpunkt.HeaderExternalID:  ev.EventID,
		"lifecare-order-id":         ev.Order.ExternalID,
	}})
	if err != nil {
		return fmt.Errorf("hand %s of order %s to %s: %w", ev.Type, ev.Order.ExternalID, name, err)
	}
	return nil
}

// saveIVO stores quarter q's IVO report as of asOf, from the orders' timelines tls.
func saveIVO(ctx context.Context, st *store.Store, tls []homecare.Timeline, q report.Quarter, asOf homecare.Date) error {
	lines := report.IVO(tls, q, asOf)
	var buf bytes.Buffer
	if err := report.WriteIVO(&buf, lines); err != nil {
		return err
	}
	return st.SaveReport(ctx, store.Report{Kind: "ivo", Period: q.String(), AsOf: asOf, Rows: len(lines), Body: buf.Bytes()})
}

// saveStatistics stores month m's statistics file, from the orders' timelines tls.
func saveStatistics(ctx context.Context, st *store.Store, tls []homecare.Timeline, m report.Month) error {
	lines := report.Statistics(tls, m)
	var buf bytes.Buffer
	if err := report.WriteStatistics(&buf, lines); err != nil {
		return err
	}
	return st.SaveReport(ctx, store.Report{Kind: "statistics", Period: m.String(), AsOf: m.Last().AddDays(1),
		Rows: len(lines), Body: buf.Bytes()})
}
