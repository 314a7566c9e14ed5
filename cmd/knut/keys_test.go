package main

import (
	"strings"
	"testing"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestKeysCommands: knut keys list and events print a client's grants and door masked
// (and audit the read), knut audit list --client shows who opened the door, knut keys
// revoke blocks the person and leaves the revokes in the message log for the running
// hub, and knut keys unblock lifts the block.
func TestKeysCommands(t *testing.T) {
	t.Setenv("KNUT_NUKI_TOKEN", "test-token") // the keys pipeline's sink opens with it
	cfg, _ := repoConfig(t, "locks: {vendor: nuki, keys_pipeline: nuki_keys}")
	st := openStore(t, cfg)
	ctx := t.Context()
	client := homecare.OfficialTestPersonIDs()[3]
	holder := homecare.HSAID("TSTNMT2321000156-1001")
	from := time.Now().AddDate(0, -1, 0)
	c := store.KeyChange{KeyGrantChange: homecare.KeyGrantChange{ChangeID: homecare.KeyChangeID("17004", holder, 1), Seq: 1,
		Op: homecare.KeyGrantOp, LockRef: "17004", Holder: holder, ProviderID: "omsorg-norr", Reason: "order lifecare/B4 in force",
		KeyWindow: homecare.KeyWindow{ValidFrom: from}}, Client: client, OrderRef: "lifecare/B4"}
	if err := st.Tx(ctx, func(tx *store.Tx) error { return tx.RecordKeyChange(ctx, "nuki", c) }); err != nil {
		t.Fatal(err)
	}
	res := homecare.KeyGrantResult{ChangeID: c.ChangeID, Seq: 1, Op: homecare.KeyGrantOp, LockRef: "17004", Holder: holder, State: store.KeyActive}
	if err := st.Tx(ctx, func(tx *store.Tx) error { return tx.ApplyKeyGrantResult(ctx, "nuki", res) }); err != nil {
		t.Fatal(err)
	}
	if err := st.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.InsertLockEvent(ctx, homecare.LockEvent{Vendor: "nuki", EventRef: "5f01", LockRef: "17004", OccurredAt: time.Now(),
			Action: "unlock", VendorAction: 1, Trigger: "app", Result: "success", Holder: string(holder)}, "m")
		return err
	}); err != nil {
		t.Fatal(err)
	}

	out, _, err := knut(t, "keys", "list", "--config", cfg, "--client", client.Reveal())
	if err != nil || !strings.Contains(out, "17004") || !strings.Contains(out, string(holder)) || !strings.Contains(out, client.Masked()) ||
		!strings.Contains(out, "active") || strings.Contains(out, client.Reveal()) {
		t.Errorf("knut keys list = %v:\n%s", err, out)
	}
	out, _, err = knut(t, "keys", "events", "--config", cfg, "--client", client.Reveal())
	if err != nil || !strings.Contains(out, "unlock") || !strings.Contains(out, client.Masked()) || strings.Contains(out, client.Reveal()) {
		t.Errorf("knut keys events = %v:\n%s", err, out)
	}
	out, _, err = knut(t, "audit", "list", "--config", cfg, "--client", client.Reveal())
	if err != nil || !strings.Contains(out, "The client's door (1 lock events") || !strings.Contains(out, "keys.events") {
		t.Errorf("knut audit list --client = %v:\n%s", err, out)
	}

	if _, _, err := knut(t, "keys", "revoke", "--config", cfg, "--staff", string(holder)); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("knut keys revoke without a reason = %v", err)
	}
	out, _, err = knut(t, "keys", "revoke", "--config", cfg, "--staff", string(holder), "--reason", "lost phone")
	if err != nil || !strings.Contains(out, string(holder)+" blocked; 1 grants to revoke handed to nuki_keys") {
		t.Fatalf("knut keys revoke = %v:\n%s", err, out)
	}
	gs, err := st.KeyGrants(ctx, store.KeyGrantFilter{Holder: holder})
	if err != nil || len(gs) != 1 || gs[0].State != store.KeyRevoking || gs[0].Seq != 2 {
		t.Errorf("after knut keys revoke: %+v, %v; want the grant revoking, change #2", gs, err)
	}
	pending, err := st.PipelineCounts(ctx)
	if err != nil || pending["nuki_keys"][store.StatusReceived] != 1 {
		t.Errorf("the message log holds %v for nuki_keys, want the revoke received for the running hub", pending["nuki_keys"])
	}
	out, _, err = knut(t, "keys", "list", "--config", cfg)
	if err != nil || !strings.Contains(out, "blocked: "+string(holder)) || !strings.Contains(out, "lost phone") {
		t.Errorf("knut keys list after the revoke = %v:\n%s", err, out)
	}
	if _, _, err := knut(t, "keys", "unblock", "--config", cfg, "--staff", string(holder)); err != nil {
		t.Errorf("knut keys unblock: %v", err)
	}
	if blocks, err := st.KeyBlocks(ctx); err != nil || len(blocks) != 0 {
		t.Errorf("blocks after unblock: %v, %v", blocks, err)
	}
	if _, _, err := knut(t, "keys", "unblock", "--config", cfg, "--staff", string(holder)); err == nil {
		t.Error("unblocking someone not blocked succeeded")
	}
}
