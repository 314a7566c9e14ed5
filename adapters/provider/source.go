package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
	kphttp "github.com/knutpunkt/knutpunkt/adapters/http"
)

// Source receives a provider's acknowledgements, POSTed to the hub at
// /ingest/{path}. It is the http source (see adapters/http) behind a
// signature check: every request must carry X-Knutpunkt-Timestamp and
// X-Knutpunkt-Signature made with the shared secret (see Sign), or it is
// answered 401 {"error": reason} before anything is read into the hub.
//
// A verified request becomes a message with source-system
// "provider:<name>" (whatever the provider claims), external-id from the
// Idempotency-Key header or else the body's "id" field (a request with
// neither gets 400), content-type, correlation-id (X-Correlation-Id),
// caller (the hub's mTLS identity), and provider-ack-status when the body's
// status is "mottagen" or "avvisad". The body is kept byte-exact; the
// pipeline validates and maps it. Answers after verification are the http
// source's: 202 once stored, 503 to retry, 422 for a final refusal, 413,
// 415 (only application/json is accepted). Requests are served
// concurrently: no ordering promise.
type Source struct {
	http *kphttp.Source
}

var _ adapters.Source = (*Source)(nil)

// NewSource resolves the secret and mounts the endpoint on env.Ingress.
// Without an Ingress (no hub server, as in `knut import`) it fails.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	env = env.WithDefaults()
	if env.Ingress == nil {
		return nil, errors.New("provider callback source needs the hub's HTTP server, and this hub serves none")
	}
	key, err := env.Secrets.Resolve(cfg.Callback.Secret)
	if err != nil {
		return nil, fmt.Errorf("callback.secret: %w", err)
	}
	v := &verifier{key: []byte(key), maxSkew: cfg.Callback.MaxClockSkew, maxBody: int64(cfg.Callback.MaxBodySize), log: env.Logger}
	inner := env
	inner.Ingress = verifyingIngress{Ingress: env.Ingress, v: v}
	hs, err := kphttp.NewSource(kphttp.SourceConfig{
		Path:         cfg.Callback.Path,
		MaxBodySize:  cfg.Callback.MaxBodySize,
		ContentTypes: []string{"application/json"},
		SourceSystem: "provider:" + cfg.Name,
		RetryAfter:   cfg.Callback.RetryAfter,
	}, inner)
	if err != nil {
		return nil, err
	}
	return &Source{http: hs}, nil
}

// Receive implements adapters.Source, as the http source's Receive: it
// delivers verified acknowledgements until ctx ends or Close.
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	return s.http.Receive(ctx, func(ctx context.Context, m knutpunkt.Message) (adapters.Receipt, error) {
		var a struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(m.Body, &a) == nil {
			if st := AckStatus(strings.ToLower(strings.TrimSpace(a.Status))); st == Mottagen || st == Avvisad {
				m.Headers[HeaderAckStatus] = string(st)
			}
		}
		return deliver(ctx, m)
	})
}

// Close stops a running Receive with ErrClosed; later requests get 503
// once verified. Close is idempotent.
func (s *Source) Close() error { return s.http.Close() }

// verifyingIngress puts the verifier in front of every handler mounted.
type verifyingIngress struct {
	adapters.Ingress
	v *verifier
}

func (in verifyingIngress) Handle(name string, h http.Handler) error {
	return in.Ingress.Handle(name, in.v.wrap(h))
}

type verifier struct {
	key     []byte
	maxSkew time.Duration
	maxBody int64
	log     *zap.Logger
}

func (v *verifier) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r) // answers 405 without reading anything
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.maxBody))
		if err != nil {
			if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
				writeError(w, http.StatusRequestEntityTooLarge, "body exceeds max_body_size")
				return
			}
			writeError(w, http.StatusBadRequest, "read body: "+err.Error())
			return
		}
		if err := Verify(v.key, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), v.maxSkew); err != nil {
			v.log.Warn("callback refused", zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Knutpunkt-HMAC-SHA256 headers="`+HeaderTimestamp+" "+HeaderSignature+`"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		extID := r.Header.Get(HeaderIdempotencyKey)
		if extID == "" {
			var a struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(body, &a)
			extID = strings.TrimSpace(a.ID)
		}
		if extID == "" {
			writeError(w, http.StatusBadRequest, `an acknowledgement needs an Idempotency-Key header or an "id" field`)
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set(kphttp.HeaderExternalID, extID)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}
