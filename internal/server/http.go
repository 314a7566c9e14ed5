package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt/adapters"
	"github.com/knutpunkt/knutpunkt/internal/config"
	"github.com/knutpunkt/knutpunkt/internal/keys"
	"github.com/knutpunkt/knutpunkt/internal/router"
	"github.com/knutpunkt/knutpunkt/internal/store"
)

// ingress is the hub's adapters.Ingress: HTTP sources mount their handlers
// here and are served under /ingest/{name}.
type ingress struct {
	mu       sync.RWMutex
	handlers map[string]http.Handler
	// admit reserves room for a body before it is read (router.Admit);
	// maxBody is what a request without Content-Length may send.
	admit   func(share string, size int64) (*router.Admission, error)
	maxBody int64
}

func (in *ingress) Handle(name string, h http.Handler) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, dup := in.handlers[name]; dup {
		return fmt.Errorf("ingest path /ingest/%s is already taken", name)
	}
	if in.handlers == nil {
		in.handlers = map[string]http.Handler{}
	}
	in.handlers[name] = h
	return nil
}

func (in *ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	in.mu.RLock()
	h, ok := in.handlers[name]
	in.mu.RUnlock()
	if !ok {
		// The name is not repeated: an answer echoes nothing sent.
		writeError(w, http.StatusNotFound, "no pipeline receives on this /ingest path")
		return
	}
	if in.admit != nil {
		size := r.ContentLength
		if size < 0 {
			size = in.maxBody
		}
		a, err := in.admit("ingest/"+name, size)
		if err != nil {
			// Refused before the body is read: a full hub does not fill
			// its memory with bodies it cannot take. Closing the
			// connection keeps net/http from reading the body to reuse it.
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		defer a.Release()
		r = r.WithContext(router.WithAdmission(r.Context(), a))
	}
	h.ServeHTTP(w, r)
}

// Checker is a readiness probe.
type Checker interface {
	Check(ctx context.Context) error
}

// endpoints is what handler serves besides /ingest.
type endpoints struct {
	metrics *prometheus.Registry
	ready   []Checker
	// operators may read /metrics and /readyz's reasons; nil means any
	// caller (outside production, where config requires the list).
	operators *config.Allow
	st        *store.Store
	// keys is the key lifecycle behind POST /keys/revoke (operators only); nil: none.
	keys *keys.Engine
	// allowTest accepts test-form HSA-IDs (outside production).
	allowTest bool
}

// handler builds the hub's HTTP routes. /healthz answers everyone: a load
// balancer needs no certificate to see the process is up. /readyz answers
// everyone with its status, and operators with the reason behind a 503 (a
// store's or a pipeline's error may name hosts and paths). /metrics is for
// operators only: it counts messages per pipeline and vendor.
func handler(in *ingress, ep endpoints, maxBody int64, log *zap.Logger) http.Handler {
	ops := ep.operators
	if ops == nil {
		ops = &config.Allow{Any: true}
	}
	mux := http.NewServeMux()
	mux.Handle("POST /ingest/{name}", http.MaxBytesHandler(in, maxBody))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, c := range ep.ready {
			errs = append(errs, c.Check(ctx))
		}
		if err := errors.Join(errs...); err != nil {
			reason := "not ready"
			if allows(ops, principalOf(r), store.StaffCaller{}) { // detail for a named operator only
				reason = err.Error()
			}
			writeError(w, http.StatusServiceUnavailable, reason)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", guard(ops, "endpoint:/metrics", ep.st, log,
		promhttp.HandlerFor(ep.metrics, promhttp.HandlerOpts{Registry: ep.metrics})))
	mux.Handle("POST /keys/revoke", guard(ops, "endpoint:/keys/revoke", ep.st, log, revokeHandler(ep.keys, ep.allowTest)))
	return identify(log, mux)
}

// identify puts the caller's identity on the request context: the subject
// serialNumber of the verified client certificate, which in SITHS
// certificates is the holder's HSA-ID.
func identify(log *zap.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller := ""
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			cert := r.TLS.VerifiedChains[0][0]
			caller = cert.Subject.SerialNumber
			if caller == "" {
				caller = cert.Subject.CommonName
			}
		}
		if caller != "" {
			r = r.WithContext(adapters.WithCaller(r.Context(), caller))
		}
		log.Debug("request", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("caller", caller))
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// tlsConfig builds the server's TLS config: nil without a certificate;
// with client_ca set, every connection must present a certificate from it.
func tlsConfig(c config.TLS, resolve func(string) string) (*tls.Config, error) {
	if c.Cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(resolve(c.Cert), resolve(c.Key))
	if err != nil {
		return nil, fmt.Errorf("http.tls: load certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(resolve(c.ClientCA))
		if err != nil {
			return nil, fmt.Errorf("http.tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http.tls.client_ca: no PEM certificates in %s", c.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// listen opens the listener, with TLS when configured.
func listen(addr string, tc *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}
