package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/demo"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/server"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// TestPendingRecovered: a message saved in the log but never queued (the
// process died between the two) is queued again when the hub starts, and
// processed, body intact.
func TestPendingRecovered(t *testing.T) {
	cfg := repoConfig(t, "")
	seq := 0
	v := demo.NewMunicipality(1).Visits(time.Date(2026, 11, 20, 0, 0, 0, 0, demo.Stockholm()), 1, &seq)[0]
	body, _ := json.Marshal(v)

	st, err := server.OpenStore(t.Context(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := knutpunkt.Message{ID: "01a20000-0000-7000-8000-000000000001", Body: body, Headers: map[string]string{
		knutpunkt.HeaderContentType: "application/json", knutpunkt.HeaderSourceSystem: "tes",
		knutpunkt.HeaderExternalID: v.VisitID, router.HeaderTopic: "in.tes_visits.0",
	}}
	if _, err := st.SaveInbound(t.Context(), store.Inbound("tes_visits", "adapter:http", msg)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	srv := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	// Only this message: the nightly jobs the hub catches up on at start
	// may log messages of their own (the executed time of that day).
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := srv.Store().MessageStatus(t.Context(), msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s == store.StatusProcessed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s after 20s, want the pending message processed", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := srv.Store().Visit(t.Context(), "tes", v.VisitID); err != nil {
		t.Errorf("visit of the recovered message: %v", err)
	}
}

// TestOneHubPerStore: a second hub on a store that one runs on refuses to
// run (both would queue the log's received messages and handle them
// twice); once the first stops, it runs.
func TestOneHubPerStore(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			cfg := repoConfig(t, anotherDSN(t, db))
			start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
			second := *cfg
			second.HTTP.Listen = "127.0.0.1:0"
			srv, err := server.New(t.Context(), &second, server.Options{Logger: zap.NewNop(), Secrets: demo.Secrets(nil)})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			err = srv.Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), "another knut serve is running on this store") {
				t.Fatalf("second hub's Run = %v, want refused", err)
			}
		})
	}
}
