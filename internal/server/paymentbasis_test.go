package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestPaymentBasisPipeline hands providers' months (homecare.PaymentBasis, as the monthly
// reconciliation will) to a hub running the shipped lifecare_payment_basis pipeline with
// the Lifecare simulator: the case system gets each month as a Manadsrapport, a resend is
// a duplicate, a later run replaces the month, and a basis the canonical schema refuses
// is a dead letter at the first step.
func TestPaymentBasisPipeline(t *testing.T) {
	const pipeline = "lifecare_payment_basis"
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := t.Context()
			cs, err := lifecaresim.New(lifecaresim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cs.Close() })
			cfg := repoConfig(t, anotherDSN(t, db))
			cfg.Pipelines = orderPipelines(t, map[string]string{pipeline: "{attempts: 3, backoff: 10ms, max_backoff: 10ms}"})
			cfg.Vars["lifecare_payment_basis_url"] = cs.PaymentBasisURL()
			_, log := observedLogger(t)
			srv, err := server.New(ctx, cfg, server.Options{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(runCtx) }()
			t.Cleanup(func() {
				cancel()
				<-done
				srv.Close()
			})
			<-srv.Ready()

			norr := homecare.PaymentBasis{
				MessageID: "payment-basis/omsorg-norr/2026-11/run-1", Month: "2026-11", ProviderID: "omsorg-norr",
				ProducedAt: time.Date(2026, 12, 1, 2, 15, 0, 0, time.UTC), RunID: "run-1",
				RuleSetName: "Demo kommun hemtjänst 2026", RuleSetHash: "0ff5b2da1f93eb10f9cb34953e711c3796f847501115ee73a887542ada1aff32",
				Clients: 42, Visits: 1893,
				Categories: []homecare.PaymentCategory{
					{Category: "omvardnad", GrantedMinutes: 12600, RegisteredMinutes: 12480, PayableMinutes: 12150,
						DeclinedMinutes: 90, UnitPriceOre: 46400, AmountOre: 9396000},
					{Category: "service", GrantedMinutes: 2400, RegisteredMinutes: 1980, PayableMinutes: 2310,
						SchablonMinutes: 1560, DeclinedMinutes: 120, UnitPriceOre: 38200, AmountOre: 1470700},
				},
				GrantedMinutes: 15000, PayableMinutes: 14460, AmountOre: 10866700, ManualSharePct: 12.47, ManualReview: true,
			}
			// A provider with nothing paid that month: no categories (a nil slice, JSON null).
			soder := homecare.PaymentBasis{
				MessageID: "payment-basis/hemtjanst-soder/2026-11/run-1", Month: "2026-11", ProviderID: "hemtjanst-soder",
				ProducedAt: norr.ProducedAt, RunID: "run-1", RuleSetName: norr.RuleSetName, RuleSetHash: norr.RuleSetHash,
			}
			handOnPaymentBasis(t, srv, pipeline, norr)
			handOnPaymentBasis(t, srv, pipeline, soder)
			waitPaymentBases(t, cs, 2)
			if rc := handOnPaymentBasis(t, srv, pipeline, norr); !rc.Duplicate {
				t.Errorf("the resent month was taken as new message %s, want a duplicate", rc.ID)
			}

			// A later run over the month pays 30 minutes more of omvårdnad.
			later := norr
			later.MessageID, later.RunID, later.ProducedAt = "payment-basis/omsorg-norr/2026-11/run-2", "run-2", norr.ProducedAt.Add(24*time.Hour)
			later.Categories = slices.Clone(norr.Categories)
			later.Categories[0].PayableMinutes, later.Categories[0].AmountOre = 12180, 9419200
			later.PayableMinutes, later.AmountOre = 14490, 10889900
			handOnPaymentBasis(t, srv, pipeline, later)
			waitPaymentBases(t, cs, 3)

			months := cs.PaymentMonths()
			if len(months) != 2 {
				t.Fatalf("the case system holds %d provider-months, want 2: %+v", len(months), months)
			}
			s, n := months[0], months[1] // ordered by month, then provider
			if s.Provider != "hemtjanst-soder" || len(s.Categories) != 0 || s.Total.AmountOre != 0 || s.ManualReview {
				t.Errorf("Hemtjänsten Söder's month = %+v, want nothing paid", s)
			}
			if n.Provider != "omsorg-norr" || n.Month != "2026-11" || n.RunID != "run-2" || n.ID != "KP-"+later.MessageID ||
				n.Total.AmountOre != 10889900 || n.Total.PayableMinutes != 14490 || n.Total.GrantedMinutes != 15000 ||
				len(n.Categories) != 2 || n.Categories[0].Name != "omvardnad" || n.Categories[0].AmountOre != 9419200 ||
				n.Categories[1].SchablonMinutes != 1560 || n.ManualSharePct != 12.5 || !n.ManualReview ||
				n.RuleSet.Hash != norr.RuleSetHash || n.Clients != 42 || n.Visits != 1893 {
				t.Errorf("Omsorg Norr's month = %+v, want run 2's 10889900 öre", n)
			}

			// Negative minutes: refused by the canonical schema, never sent.
			bad := later
			bad.MessageID, bad.RunID = "payment-basis/omsorg-norr/2026-11/run-3", "run-3"
			bad.Categories = []homecare.PaymentCategory{later.Categories[0]}
			bad.Categories[0].PayableMinutes = -5
			id := handOnPaymentBasis(t, srv, pipeline, bad).ID
			if rec := waitDone(t, srv.Store(), id); rec.Status != store.StatusDead {
				t.Fatalf("the invalid basis ended %q, want dead", rec.Status)
			}
			checkDeadLetter(t, srv.Store(), id, pipeline, "steps[0].validate",
				[]string{"schema canonical/payment_basis.schema.json", "at '/categories/0/payable_minutes'"})
			if got := len(cs.PaymentBases()); got != 3 {
				t.Errorf("the case system got %d payment bases, want 3", got)
			}
		})
	}
}

// handOnPaymentBasis gives p to pipeline name as the monthly job would and returns the
// hub's receipt. The source system with the external id (the message id) makes a resend
// a duplicate in the hub; the case system also knows it by its handelseId.
func handOnPaymentBasis(t *testing.T, srv *server.Server, name string, p homecare.PaymentBasis) adapters.Receipt {
	t.Helper()
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := srv.Router().Ingest(t.Context(), name, "scheduler", knutpunkt.Message{Body: body, Headers: map[string]string{
		knutpunkt.HeaderContentType:  "application/json",
		knutpunkt.HeaderSourceSystem: "reconcile",
		knutpunkt.HeaderExternalID:   p.MessageID,
		"payment-basis":              p.ProviderID + "/" + p.Month,
	}})
	if err != nil {
		t.Fatalf("hand payment basis %s to %s: %v", p.MessageID, name, err)
	}
	return rc
}

// waitPaymentBases waits until the case system has n payment-basis messages.
func waitPaymentBases(t *testing.T, cs *lifecaresim.CaseSystem, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(cs.PaymentBases()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the case system got %d payment bases after 20s, want %d", len(cs.PaymentBases()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
