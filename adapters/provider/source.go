package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/knutpunkt/knutpunkt/internal/jsonscan"

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
	keys, err := newKeyring(cfg.Callback.Secret, env.Secrets)
	if err != nil {
		return nil, fmt.Errorf("callback.secret: %w", err)
	}
	v := &verifier{provider: cfg.Name, scope: "callback:" + cfg.Name, keys: keys, maxSkew: cfg.Callback.MaxClockSkew,
		maxBody: int64(cfg.Callback.MaxBodySize), orders: env.Orders, replays: env.Replays, log: env.Logger}
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
	provider string
	scope    string // of the signatures remembered
	keys     *keyring
	maxSkew  time.Duration
	maxBody  int64
	orders   adapters.OrderScope  // nil: the store step refuses foreign orders
	replays  adapters.ReplayGuard // nil: replays end as duplicates in the log
	log      *zap.Logger
}

// wrap checks, in this order, before the http source sees the request:
// the signature (401), a body that is one JSON object without repeated
// keys and an idempotency key (400), that this signed request
// was not taken before (409), and that the order it names is the
// provider's (403). A request the hub then fails to store (5xx) is
// forgotten as seen, so the provider's retry of it is not a replay.
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
		ctx := r.Context()
		ts, sig, idemKey := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), r.Header.Get(HeaderIdempotencyKey)
		if err := Verify(v.keys.keys(), ts, sig, idemKey, body, time.Now(), v.maxSkew); err != nil {
			v.log.Warn("callback refused", zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Knutpunkt-HMAC-SHA256 headers="`+HeaderTimestamp+" "+HeaderSignature+`"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		// A repeated key would let this check read one order_id and the
		// mapping another; the mapping refuses it too, but here it is
		// refused before anything is stored.
		if err := jsonscan.CheckKeys(body); err != nil {
			writeError(w, http.StatusBadRequest, "the acknowledgement is not valid JSON: "+err.Error())
			return
		}
		var a struct {
			ID      string `json:"id"`
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			// Not an object with string id and order_id: nothing the
			// scope check could read, so nothing the hub takes.
			writeError(w, http.StatusBadRequest, `the acknowledgement is not a JSON object with string "id" and "order_id"`)
			return
		}
		extID := idemKey
		if extID == "" {
			extID = strings.TrimSpace(a.ID)
		}
		if extID == "" {
			writeError(w, http.StatusBadRequest, `an acknowledgement needs an Idempotency-Key header or an "id" field`)
			return
		}
		if v.replays != nil {
			sec, _ := strconv.ParseInt(ts, 10, 64) // Verify parsed it
			seen, err := v.replays.Seen(ctx, v.scope, sig, time.Unix(sec, 0).Add(v.maxSkew))
			switch {
			case err != nil:
				v.log.Error("callback: replay check failed", zap.Error(err))
				w.Header().Set("Retry-After", "10")
				writeError(w, http.StatusServiceUnavailable, "the hub cannot check this request now; retry later")
				return
			case seen:
				v.log.Warn("callback refused: replayed", zap.String("remote", r.RemoteAddr))
				writeError(w, http.StatusConflict, "this signed request was received before: sign each attempt anew")
				return
			}
		}
		if v.orders != nil && strings.TrimSpace(a.OrderID) != "" {
			if err := v.orders.CheckProvider(ctx, v.provider, strings.TrimSpace(a.OrderID), adapters.CallerFromContext(ctx)); err != nil {
				if errors.Is(err, adapters.ErrForbidden) {
					v.log.Warn("callback refused: not the provider's order", zap.String("remote", r.RemoteAddr))
					writeError(w, http.StatusForbidden, "order_id names no order of provider "+v.provider)
					return
				}
				v.forget(ctx, sig)
				v.log.Error("callback: order check failed", zap.Error(err))
				w.Header().Set("Retry-After", "10")
				writeError(w, http.StatusServiceUnavailable, "the hub cannot check this request now; retry later")
				return
			}
		}
		r = r.Clone(ctx)
		r.Header.Set(kphttp.HeaderExternalID, extID)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status >= 500 {
			v.forget(ctx, sig)
		}
	})
}

// forget drops a signature Seen recorded, for a request not taken.
func (v *verifier) forget(ctx context.Context, sig string) {
	if v.replays == nil {
		return
	}
	if err := v.replays.Forget(context.WithoutCancel(ctx), v.scope, sig); err != nil {
		v.log.Error("callback: forget signature", zap.Error(err))
	}
}

// statusRecorder notes the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func writeError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}
