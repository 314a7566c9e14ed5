package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/lifecare/lifecaresim"
	"github.com/knutpunkt/knutpunkt/adapters/provider"
	"github.com/knutpunkt/knutpunkt/adapters/provider/providersim"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// The callback secret knut.yaml's hemtjanst_soder_callback_secret resolves
// to under demo.Secrets.
const soderCallbackSecret = "demo-hemtjanst-soder-callback-secret"

// TestProviderTouchesOnlyItsOwnOrders is the hostile tester's finding: a
// correctly signed callback from Hemtjänsten Söder moved an Omsorg Norr
// order to rejected and sent an avvisad receipt to the case system. Now it
// is refused with 403 on the callback path and dead-lettered on the
// webhook-reply path, each refusal audited with the client it concerned;
// and a captured callback sent again is refused, not applied again.
func TestProviderTouchesOnlyItsOwnOrders(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, nil)
			ids := pids(t)
			norrOrder, soderOrder := newOrder(1, ids[0], "omsorg-norr"), newOrder(2, ids[1], "hemtjanst-soder")
			h.push(t, norrOrder)
			h.push(t, soderOrder)
			h.waitOrder(t, norrOrder.ID, homecare.OrderStatusAcknowledged)
			h.waitOrder(t, soderOrder.ID, homecare.OrderStatusSent)

			soder, err := providersim.New(providersim.Options{Secret: soderCallbackSecret})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { soder.Close() })
			callback := "http://" + h.srv.Addr() + "/ingest/hemtjanst-soder-acks"
			send := func(order, id, status string) (int, string) {
				body, _ := json.Marshal(map[string]string{"id": id, "order_id": order, "status": status,
					"reason": "ingen kapacitet", "occurred_at": "2026-11-03T08:00:00Z"})
				code, answer, err := soder.Post(t.Context(), callback, body, id, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return code, string(answer)
			}

			// Söder on Norr's order: 403, audited, nothing changes.
			if code, answer := send(norrOrder.ID, "HS-EVIL-1", "avvisad"); code != http.StatusForbidden {
				t.Fatalf("Söder's avvisad on Norr's order = %d %s, want 403", code, answer)
			}
			// Söder on its own order: taken.
			if code, answer := send(soderOrder.ID, "HS-OWN-1", "mottagen"); code != http.StatusAccepted {
				t.Fatalf("Söder's mottagen on its own order = %d %s, want 202", code, answer)
			}
			h.waitOrder(t, soderOrder.ID, homecare.OrderStatusAcknowledged)

			// Omsorg Norr answers a delivery with an ack naming Söder's
			// order: the reply is dead-lettered at the store step.
			h.norr.Misname(soderOrder.ID)
			h.push(t, changeOf(norrOrder, 2))
			h.settle(t)
			if err := h.norr.Up(); err != nil {
				t.Fatal(err)
			}

			if o := h.waitOrder(t, norrOrder.ID, homecare.OrderStatusAcknowledged); o.RejectReason != "" {
				t.Errorf("Norr's order has reject reason %q from Söder", o.RejectReason)
			}
			if o, _ := h.st.Order(t.Context(), "lifecare", soderOrder.ID); o.Status != homecare.OrderStatusAcknowledged {
				t.Errorf("Söder's order is %s after Norr's misnamed ack, want acknowledged", o.Status)
			}
			for _, r := range h.cs.Receipts() {
				if r.Kvittens.Type == "avvisad" {
					t.Errorf("an avvisad receipt reached the case system: order %s", r.Kvittens.Order)
				}
			}
			dead := listDead(t, h.st)
			if len(dead) != 1 || dead[0].Pipeline != "provider_acks" || dead[0].Step != "commit" {
				t.Fatalf("dead letters %+v, want Norr's misnamed ack at provider_acks/commit", dead)
			}

			all, err := h.st.ListAudit(t.Context(), store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			// The providers' denied calls; the nightly jobs' own records (the reconciliation's
			// runs) are beside the point here.
			records := slices.DeleteFunc(all, func(r store.AuditRecord) bool { return strings.HasPrefix(r.Actor, "hub:") })
			want := []struct{ actor, resource, client string }{
				{"provider:hemtjanst-soder", "order:lifecare/" + norrOrder.ID, ids[0].String()[:8] + "-****"},
				{"provider:omsorg-norr", "order:lifecare/" + soderOrder.ID, ids[1].String()[:8] + "-****"},
			}
			if len(records) != len(want) {
				t.Fatalf("%d audit records (%+v), want %d", len(records), records, len(want))
			}
			for i, w := range want {
				r := records[i]
				if r.Actor != w.actor || r.Resource != w.resource || r.Outcome != store.AuditDenied || r.Client != w.client {
					t.Errorf("audit record %d = %s %s %s client %q, want %s %s denied client %q",
						i+1, r.Actor, r.Resource, r.Outcome, r.Client, w.actor, w.resource, w.client)
				}
			}
		})
	}
}

// TestCallbackReplayGivesOneReceipt: six copies of one signed callback
// gave six receipts to the case system, each with its own Idempotency-Key.
// Now the copies are refused (409), also after a restart of the hub, and
// the one acknowledgement gives one receipt.
func TestCallbackReplayGivesOneReceipt(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, nil)
			order := newOrder(3, pids(t)[2], "hemtjanst-soder")
			h.push(t, order)
			h.waitOrder(t, order.ID, homecare.OrderStatusSent)

			body, _ := json.Marshal(map[string]string{"id": "HS-3-mottagen", "order_id": order.ID, "status": "mottagen",
				"occurred_at": "2026-11-03T08:00:00Z"})
			stamp, sig := provider.Sign([]byte(soderCallbackSecret), time.Now(), "HS-3-mottagen", body)
			header := map[string]string{provider.HeaderTimestamp: stamp, provider.HeaderSignature: sig,
				provider.HeaderIdempotencyKey: "HS-3-mottagen"}
			callback := func() string { return "http://" + h.srv.Addr() + "/ingest/hemtjanst-soder-acks" }
			if code, answer := postHeaders(t, callback(), body, header); code != http.StatusAccepted {
				t.Fatalf("first callback = %d %s, want 202", code, answer)
			}
			h.waitReceipt(t, order.ID, "mottagen")
			for i := range 5 {
				if i == 3 { // the window survives a restart
					h.stop()
					h.start(t, h.cfg)
				}
				if code, answer := postHeaders(t, callback(), body, header); code != http.StatusConflict {
					t.Errorf("copy %d = %d %s, want 409", i+1, code, answer)
				}
			}
			h.settle(t)
			n := 0
			for _, r := range h.cs.Receipts() {
				if r.Kvittens.Order == order.ID && r.Kvittens.Type == "mottagen" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d mottagen receipts for one acknowledgement, want 1", n)
			}
		})
	}
}

// postHeaders posts a JSON body with the given headers.
func postHeaders(t *testing.T, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b [4096]byte
	n, _ := resp.Body.Read(b[:])
	return resp.StatusCode, string(b[:n])
}

// TestReplayedReceiptKeepsItsKey: a receipt the case system recorded, whose
// answer was lost (a gateway timeout after the commit), is dead-lettered;
// replaying it gave the case system a second receipt under a new
// Idempotency-Key. Now a replay, and a replay of a replay, is sent under
// the first run's key, and the case system records one receipt.
func TestReplayedReceiptKeepsItsKey(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			h := startOrderHub(t, db, map[string]string{"lifecare_receipts": "{attempts: 1, backoff: 1ms}"})
			h.cs.SetFailure(lifecaresim.LoseAnswer)
			order := newOrder(4, pids(t)[3], "omsorg-norr")
			h.push(t, order)
			first := h.waitReceipt(t, order.ID, "mottagen")
			h.settle(t)
			dead := listDead(t, h.st)
			if len(dead) != 1 || dead[0].Pipeline != "lifecare_receipts" {
				t.Fatalf("dead letters %+v, want the receipt whose answer was lost", dead)
			}
			if first.IdempotencyKey != dead[0].MessageID {
				t.Fatalf("first receipt's key %q, dead message %q", first.IdempotencyKey, dead[0].MessageID)
			}

			replay, err := h.srv.Replay(t.Context(), dead[0].MessageID)
			if err != nil {
				t.Fatal(err)
			}
			if rec := waitDone(t, h.st, replay); rec.Status != store.StatusDead {
				t.Fatalf("replay %s is %s, want dead again (the answer is still lost)", replay, rec.Status)
			}
			h.cs.Up()
			again, err := h.srv.Replay(t.Context(), replay)
			if err != nil {
				t.Fatal(err)
			}
			if rec := waitDone(t, h.st, again); rec.Status != store.StatusProcessed {
				t.Fatalf("second replay %s is %s, want processed", again, rec.Status)
			}
			var keys []string
			for _, r := range h.cs.Receipts() {
				if r.Kvittens.Order == order.ID {
					keys = append(keys, r.IdempotencyKey)
				}
			}
			if len(keys) != 1 {
				t.Errorf("the case system recorded %d receipts for one acknowledgement (keys %q), want 1", len(keys), keys)
			}
		})
	}
}
