package lifecaresim_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
)

// TestPaymentBasisEndpoint: the case system takes a payment basis valid against
// payment_basis.xsd, records it once per Idempotency-Key and per handelseId, refuses
// what is not one, and pays a provider's month from the latest run.
func TestPaymentBasisEndpoint(t *testing.T) {
	cs := newCaseSystem(t, lifecaresim.Options{})
	b, err := os.ReadFile("../../../schemas/lifecare/testdata/valid/payment_basis_full.xml")
	if err != nil {
		t.Fatal(err)
	}
	first := string(b)
	const run1, run2 = "5d0c2f9e-3b1a-4c7e-9f2d-8a6b1e4c7d30", "9a41e0c7-0d2b-4f5e-8c1a-3e7b6d2f9a10"
	// A later run over the same month: 30 more payable minutes of omvårdnad.
	later := strings.NewReplacer(run1, run2, "2026-12-01T02:15:00Z", "2026-12-02T02:15:00Z",
		"<ersattningsbaraMinuter>12150<", "<ersattningsbaraMinuter>12180<", "<beloppOre>9396000<", "<beloppOre>9419200<",
		"<ersattningsbaraMinuter>14460<", "<ersattningsbaraMinuter>14490<", "<beloppOre>10866700<", "<beloppOre>10889900<").Replace(first)
	for _, tc := range []struct {
		name, key, body string
		want            int
	}{
		{"first run", "run1", first, 200},
		{"resent", "run1", first, 200},
		{"resent under another key", "run1-again", first, 200},
		{"later run", "run2", later, 200},
		{"month 13", "bad", strings.Replace(first, "<manad>2026-11</manad>", "<manad>2026-13</manad>", 1), 400},
		{"not XML", "junk", "månadsrapport", 400},
		{"a receipt", "receipt", receipt, 400},
	} {
		if got := post(t, cs.PaymentBasisURL(), tc.key, tc.body); got != tc.want {
			t.Errorf("POST %s (%s) = %d, want %d", lifecaresim.PaymentBasisPath, tc.name, got, tc.want)
		}
	}
	got := cs.PaymentBases()
	if len(got) != 2 || got[0].IdempotencyKey != "run1" || got[1].IdempotencyKey != "run2" {
		t.Fatalf("recorded %d payment bases, want 2 (run 1 once, run 2)", len(got))
	}
	if string(got[0].Body) != first {
		t.Error("the first body was not recorded byte-exact")
	}
	if len(cs.Receipts()) != 0 || len(cs.Executed()) != 0 {
		t.Error("a payment basis was recorded as a receipt or as executed time")
	}
	months := cs.PaymentMonths()
	if len(months) != 1 {
		t.Fatalf("PaymentMonths = %d, want the one provider-month", len(months))
	}
	m := months[0]
	if m.Provider != "omsorg-norr" || m.Month != "2026-11" || m.RunID != run2 || m.Total.AmountOre != 10889900 ||
		m.Total.PayableMinutes != 14490 || !m.Time.Equal(time.Date(2026, 12, 2, 2, 15, 0, 0, time.UTC)) {
		t.Errorf("the month the case system pays = %+v, want run 2's 10889900 öre", m)
	}
	wantCats := []lifecaresim.Kategori{
		{Name: "omvardnad", GrantedMinutes: 12600, RegisteredMinutes: 12480, PayableMinutes: 12180, DeclinedMinutes: 90,
			UnitPriceOre: 46400, AmountOre: 9419200},
		{Name: "service", GrantedMinutes: 2400, RegisteredMinutes: 1980, PayableMinutes: 2310, SchablonMinutes: 1560,
			DeclinedMinutes: 120, UnitPriceOre: 38200, AmountOre: 1470700},
	}
	if diff := cmp.Diff(wantCats, m.Categories); diff != "" {
		t.Errorf("categories mismatch (-want +got):\n%s", diff)
	}
	if m.RuleSet.Name != "Demo kommun hemtjänst 2026" || len(m.RuleSet.Hash) != 64 || m.Clients != 42 || m.Visits != 1893 ||
		m.ManualSharePct != 12.5 || !m.ManualReview {
		t.Errorf("the month's rule set, counts or manual share = %+v", m)
	}
}
