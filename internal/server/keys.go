package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/homecare"
	"github.com/knutpunkt/knutpunkt/internal/keys"
	"github.com/knutpunkt/knutpunkt/internal/pipeline"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// keyEngine returns the key lifecycle when locks.keys_pipeline names a loaded pipeline.
// One it does not name stops a production hub (nobody's keys would follow the orders);
// elsewhere it is said and the hub runs without.
func keyEngine(cfg *config.Config, plans []*pipeline.Plan, st *store.Store, in keys.Ingester, opts Options) (*keys.Engine, error) {
	name := cfg.Locks.KeysPipeline
	if name == "" {
		return nil, nil
	}
	if planNamed(plans, name) == nil {
		err := fmt.Errorf("locks.keys_pipeline: %q: no such pipeline (or it is disabled)", name)
		if cfg.Environment == config.Production {
			return nil, err
		}
		opts.Logger.Warn("keys will not follow the orders", zap.Error(err))
		return nil, nil
	}
	return &keys.Engine{Store: st, In: in, Vendor: cfg.Locks.Vendor, Pipeline: name, ResendAfter: cfg.Locks.ResendAfter,
		Clock: opts.Clock, Log: opts.Logger.Named("keys")}, nil
}

// convergeKeys compares the grants the hub wants with those it has every
// locks.converge_interval, from the start, until ctx ends.
func (s *Server) convergeKeys(ctx context.Context) {
	t := time.NewTicker(s.cfg.Locks.ConvergeInterval)
	defer t.Stop()
	for {
		if st, err := s.keys.Converge(ctx, ""); err != nil && ctx.Err() == nil {
			s.log.Error("key lifecycle: converge", zap.Error(err))
		} else if st.Grants+st.Revokes > 0 {
			s.log.Info("key lifecycle: changes handed on", zap.Int("wanted", st.Wanted), zap.Int("grants", st.Grants), zap.Int("revokes", st.Revokes))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revokeRequest is POST /keys/revoke's body.
type revokeRequest struct {
	Staff  string `json:"staff"`
	Reason string `json:"reason"`
}

// revokeHandler is the emergency revoke (a lost phone, a dismissal): it blocks the
// person's keys and revokes every grant at once; the caller, whom the operators' allow
// list admitted, is recorded in the audit trail as who did it.
func revokeHandler(engine *keys.Engine, allowTest bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if engine == nil {
			writeError(w, http.StatusNotFound, "the hub runs no key lifecycle (locks.keys_pipeline)")
			return
		}
		var req revokeRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "body: want {\"staff\": HSA-ID, \"reason\": text}: "+err.Error())
			return
		}
		holder, err := homecare.ParseHSAID(req.Staff, allowTest)
		if err != nil {
			writeError(w, http.StatusBadRequest, "staff: "+err.Error())
			return
		}
		if req.Reason == "" {
			writeError(w, http.StatusBadRequest, "reason: is required (a lost phone, a dismissal, …)")
			return
		}
		n, err := engine.Revoke(r.Context(), holder, req.Reason, principalOf(r).actor())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "revoke: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"staff": holder, "revokes": n})
	})
}

// cursorStore keeps one adapter instance's cursors in the store, scoped by its name.
type cursorStore struct {
	st    *store.Store
	scope string
}

func (c cursorStore) Cursor(ctx context.Context, key string) (string, bool, error) {
	return c.st.Cursor(ctx, c.scope+"/"+key)
}

func (c cursorStore) SaveCursor(ctx context.Context, key, value string) error {
	return c.st.SaveCursor(ctx, c.scope+"/"+key, value)
}
