package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/knutpunkt/knutpunkt/internal/config"
)

type failing struct{}

func (failing) Check(context.Context) error {
	return errors.New("store: dial tcp db.internal.example:5432: connection refused")
}

// TestReadyzDetailForOperators: /readyz tells everyone whether the hub is
// ready, and only operators why not; the reason names hosts and paths.
func TestReadyzDetailForOperators(t *testing.T) {
	tests := []struct {
		name       string
		operators  *config.Allow
		wantDetail bool
	}{
		{"a caller not on the list", &config.Allow{HSAIDs: []string{"SE2120001234-OPS1"}}, false},
		{"operators unset outside production", nil, true},
		{"operators: any", &config.Allow{Any: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := handler(&ingress{}, endpoints{metrics: prometheus.NewRegistry(), ready: []Checker{failing{}}, operators: tt.operators}, 1<<20, zap.NewNop())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz = %d, want 503", rec.Code)
			}
			if got := strings.Contains(rec.Body.String(), "db.internal.example"); got != tt.wantDetail {
				t.Errorf("/readyz body %q: detail shown = %v, want %v", rec.Body.String(), got, tt.wantDetail)
			}
			if !strings.Contains(rec.Body.String(), "not ready") && !tt.wantDetail {
				t.Errorf("/readyz body %q, want it to say not ready", rec.Body.String())
			}
		})
	}
}
