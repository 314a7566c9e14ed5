package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/tes/tessim"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/reconcile"
	"github.com/knutpunkt/knutpunkt/internal/report"
	"github.com/knutpunkt/knutpunkt/internal/server"
)

// Reconciliation is what the demo's nights did with executed hours: the first night's
// run over the simulated days (the nightly job), a supervisor's correction the morning
// after, the next night's run showing what it changed, and the month's report: its
// files, and the payment basis the case system received.
type Reconciliation struct {
	// FirstNight and SecondNight are the reconcile job's log lines.
	FirstNight, SecondNight string
	// Corrected is the visit the supervisor shortened by CorrectedMinutes.
	Corrected        tessim.Visit
	CorrectedMinutes int
	Month            report.Month
	// HTML and CSV are the month's report files (in the demo's directory).
	HTML, CSV, MunicipalityCSV string
	Bases                      []homecare.PaymentBasis
	// Received is what the case system holds of the month's payment basis.
	Received []lifecaresim.Manadsrapport
	kept     bool // the demo's directory is kept (--dir)
}

// reconcileNights follows the first night (whose jobs have run): a supervisor corrects a
// visit of the last day in the morning, the next night's jobs run at 00:05 and the
// reconcile job shows the change against the first night's run; then the month's report
// is written to dir and each provider's payment basis is sent to the case system.
func reconcileNights(ctx context.Context, srv *server.Server, cfg *config.Config, tes *TES, phones *PhoneReport,
	orders *OrderWorld, setNow func(time.Time), firstNight time.Time, dir string) (*Reconciliation, error) {
	st := srv.Store()
	r := &Reconciliation{CorrectedMinutes: 10}
	run, ok, err := st.LastJobRun(ctx, "reconcile")
	if err != nil || !ok {
		return nil, fmt.Errorf("demo: the night's reconcile job: ran %v, %v", ok, err)
	}
	r.FirstNight = run.Detail
	if phones.Correctable.VisitID != "" {
		// The hub's clock stays at the morning until the correction is stored: the
		// client-day it queues is of that morning, after the night's run.
		morning := firstNight.Add(8 * time.Hour)
		setNow(morning)
		if r.Corrected, err = tes.Correct(ctx, phones.Correctable, morning, r.CorrectedMinutes); err != nil {
			return nil, err
		}
		if err := waitSettled(ctx, st, 25*time.Second); err != nil {
			return nil, err
		}
	}
	setNow(firstNight.Add(24 * time.Hour))
	if err := srv.RunJobs(ctx); err != nil {
		return nil, err
	}
	if err := waitSettled(ctx, st, 25*time.Second); err != nil {
		return nil, err
	}
	if run, _, err = st.LastJobRun(ctx, "reconcile"); err != nil {
		return nil, err
	}
	r.SecondNight = run.Detail

	rs, err := reconcile.LoadRuleSet(cfg.Path(cfg.Reconciliation.RuleSet))
	if err != nil {
		return nil, err
	}
	r.Month = report.MonthOf(phones.Last)
	in, err := reconcile.MonthInput(ctx, st, rs, r.Month, st.Now())
	if err != nil {
		return nil, err
	}
	r.Bases = report.PaymentBases(in)
	r.HTML = filepath.Join(dir, "reconciliation-"+r.Month.String()+".html")
	r.CSV = filepath.Join(dir, "payment-basis-"+r.Month.String()+".csv")
	r.MunicipalityCSV = filepath.Join(dir, "executed-vs-granted-"+r.Month.String()+".csv")
	for path, write := range map[string]func(io.Writer) error{
		r.HTML:            func(w io.Writer) error { return report.WriteMonthHTML(w, in) },
		r.CSV:             func(w io.Writer) error { return report.WritePaymentBasisCSV(w, r.Bases) },
		r.MunicipalityCSV: func(w io.Writer) error { return report.WriteMunicipalityCSV(w, in) },
	} {
		if err := writeFile(path, write); err != nil {
			return nil, err
		}
	}
	if cfg.Reconciliation.ReportPipeline == "" {
		return r, nil
	}
	if _, _, err := server.SendPaymentBasis(ctx, st, rs, r.Month, srv.Router(), cfg.Reconciliation.ReportPipeline); err != nil {
		return nil, err
	}
	err = waitFor(ctx, 50*time.Millisecond, func() (bool, error) {
		r.Received = nil
		for _, m := range orders.caseSystem.PaymentMonths() {
			if m.Month == r.Month.String() {
				r.Received = append(r.Received, m)
			}
		}
		return len(r.Received) == len(r.Bases), nil
	})
	if err != nil {
		return nil, fmt.Errorf("demo: the case system's payment basis of %s: %d of %d providers: %w", r.Month, len(r.Received), len(r.Bases), err)
	}
	return r, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Print writes what the nights reconciled and the month's report.
func (r *Reconciliation) Print(w io.Writer) {
	fmt.Fprintf(w, "\nReconciliation of executed hours (docs/reconciliation.md), the nightly job at 00:05:\n")
	for _, part := range strings.Split(r.FirstNight, " | ") {
		fmt.Fprintf(w, "  %s\n", part)
	}
	if r.Corrected.VisitID != "" {
		fmt.Fprintf(w, "The morning after, a supervisor shortened visit %s by %d minutes (version %d); the next night's run:\n",
			r.Corrected.VisitID, r.CorrectedMinutes, r.Corrected.Version)
		for _, part := range strings.Split(r.SecondNight, " | ") {
			fmt.Fprintf(w, "  %s\n", part)
		}
	}
	fmt.Fprintf(w, "The payment basis of %s so far, per provider (what the case system received as Manadsrapport XML):\n", r.Month)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PROVIDER\tCLIENTS\tVISITS\tGRANTED MIN\tPAYABLE MIN\tAMOUNT KR\tMANUAL %\tCASE SYSTEM GOT")
	for _, b := range r.Bases {
		got := "-"
		for _, m := range r.Received {
			if m.Provider == b.ProviderID {
				got = fmt.Sprintf("%d.%02d kr", m.Total.AmountOre/100, m.Total.AmountOre%100)
			}
		}
		review := ""
		if b.ManualReview {
			review = " (review)"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d.%02d\t%.1f%s\t%s\n", b.ProviderID, b.Clients, b.Visits, b.GrantedMinutes,
			b.PayableMinutes, b.AmountOre/100, b.AmountOre%100, b.ManualSharePct, review, got)
	}
	tw.Flush()
	where := "(removed with the demo's directory; --dir keeps them)"
	if r.kept {
		where = ""
	}
	fmt.Fprintf(w, "The month's report: %s, %s, %s %s\n  (`knut report month --month %s --html FILE` writes it from any store)\n",
		r.HTML, r.CSV, r.MunicipalityCSV, where, r.Month)
}
