package adapterstest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/knutpunkt/knutpunkt/adapters"
)

// Ingress is an adapters.Ingress on an httptest server, standing in for the
// hub's own server in tests of push sources: the source mounts its handler,
// the fake vendor posts to URL(name).
type Ingress struct {
	srv    *httptest.Server
	mu     sync.Mutex
	mux    map[string]http.Handler
	caller string
}

var _ adapters.Ingress = (*Ingress)(nil)

// NewIngress starts an Ingress that lives until t ends. Every request
// carries caller (see adapters.WithCaller), as the hub's server sets it from
// the client certificate; "" means an anonymous caller.
func NewIngress(t testing.TB, caller string) *Ingress {
	t.Helper()
	in := &Ingress{mux: map[string]http.Handler{}, caller: caller}
	in.srv = httptest.NewServer(http.HandlerFunc(in.serve))
	t.Cleanup(in.srv.Close)
	return in
}

// Handle implements adapters.Ingress.
func (in *Ingress) Handle(name string, h http.Handler) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, taken := in.mux[name]; taken {
		return fmt.Errorf("ingress %q is already mounted", name)
	}
	in.mux[name] = h
	return nil
}

// URL returns the address a vendor posts to for the source mounted as name.
func (in *Ingress) URL(name string) string { return in.srv.URL + "/ingest/" + name }

func (in *Ingress) serve(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/ingest/")
	in.mu.Lock()
	h := in.mux[name]
	in.mu.Unlock()
	if !ok || h == nil {
		http.NotFound(w, r)
		return
	}
	if in.caller != "" {
		r = r.WithContext(adapters.WithCaller(r.Context(), in.caller))
	}
	h.ServeHTTP(w, r)
}
