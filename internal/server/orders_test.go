package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestOrdersLoop drives the whole order loop on loopback, on SQLite and on
// PostgreSQL: the case-system simulator pushes Lifecare XML orders (new
// orders, then changes, pauses, resumptions and ends) to the hub; the hub
// stores each order's lifecycle and delivers to the client's provider, one
// over a signed JSON webhook that acknowledges in its answer, one over SFTP
// that acknowledges through the signed callback; the acknowledgements come
// back to the case system as receipts valid against receipt.xsd.
func TestOrdersLoop(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			cfg := repoConfig(t, db.DSN)
			world, secrets, err := demo.StartOrderWorld(t.TempDir(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(world.Close)
			srv := startWith(t, cfg, server.Options{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Secrets: secrets})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()

			clients := homecare.OfficialTestPersonIDs()[:10]
			// Decided months ago, as in the demo: the case system's messages are dated in
			// the past (the hub refuses events dated more than a day ahead of its clock).
			decided := time.Now().AddDate(0, 0, -demo.DecidedDaysAgo)
			sent, err := world.Run(ctx, "http://"+srv.Addr(), srv.Store(), clients, decided, 7)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := world.Summarize(ctx, srv.Store(), sent)
			if err != nil {
				t.Fatal(err)
			}

			dls, err := srv.Store().ListDeadLetters(ctx, store.DeadLetterFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range dls {
				t.Errorf("dead letter in %s at %s: %s", d.Pipeline, d.Step, d.Reason)
			}
			orders := 0
			for _, n := range sum.Statuses {
				orders += n
			}
			if orders != len(clients) {
				t.Errorf("orders stored = %d (%v), want one per client (%d)", orders, sum.Statuses, len(clients))
			}
			if sum.Norr == 0 || sum.Soder == 0 {
				t.Errorf("deliveries: webhook %d, SFTP %d; want both providers served", sum.Norr, sum.Soder)
			}
			// Omsorg Norr acknowledges every delivery; Hemtjänsten Söder
			// acknowledges every new order but the one it declines.
			soder, err := srv.Store().ListOrders(ctx, store.OrderFilter{Provider: "hemtjanst-soder"})
			if err != nil {
				t.Fatal(err)
			}
			soderTaken := len(soder) - sum.Receipts["avvisad"]
			if got, want := sum.Receipts["mottagen"], sum.Norr+soderTaken; got < want || sum.Receipts["avvisad"] > 1 {
				t.Errorf("receipts %v: want at least %d mottagen (every webhook delivery and every Söder order taken) and at most 1 avvisad",
					sum.Receipts, want)
			}
			if sum.Receipts["verkstalld"] == 0 {
				t.Errorf("no verkstalld receipt reached the case system: %v", sum.Receipts)
			}
			// The case system dates its pauses and ends ahead: each takes effect on its day,
			// so the orders once every event is in force show them.
			tls, err := srv.Store().Timelines(ctx)
			if err != nil {
				t.Fatal(err)
			}
			final := map[homecare.OrderStatus]int{}
			for _, tl := range tls {
				final[tl.Final().Status]++
			}
			if final[homecare.OrderStatusEnded]+final[homecare.OrderStatusSuperseded] == 0 || final[homecare.OrderStatusPaused] == 0 {
				t.Errorf("statuses once in force %v: want some orders paused and some ended, as the case system sent", final)
			}

			// Personal data stays out of the receipts to the case system.
			o, err := srv.Store().Order(ctx, "lifecare", "BEST-2026-0001")
			if err != nil {
				t.Fatalf("order BEST-2026-0001: %v", err)
			}
			if o.Client.PersonID.Reveal() != clients[0].Reveal() {
				t.Errorf("order BEST-2026-0001 client not stored (decrypted) as sent")
			}
			for _, r := range world.CaseSystemReceipts() {
				body := string(r.Body)
				if strings.Contains(body, clients[0].Reveal()) || strings.Contains(body, o.Client.FamilyName) && o.Client.FamilyName != "" {
					t.Errorf("a receipt to the case system carries the client's identity: %s", body)
				}
			}
		})
	}
}
