package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/adapters"
)

// Source receives messages pushed to /ingest/{path} on the hub's server.
// It is an http.Handler mounted through Env.Ingress when it is opened.
//
// Answers: 202 {"id": ...} once the hub has stored the message; 200
// {"id": ..., "duplicate": true} when it already had it (same source system
// and external id): the id is the message stored first; 503 with
// Retry-After when the hub could not (the client retries: that is this
// source's redelivery) or while no Receive runs; 422 {"error": reason} when
// the hub refuses the message for good; 413, 415 and 405 for requests that
// are too large, of a type not in content_types, or not POST. Requests are
// handled concurrently, so the source makes no ordering promise.
type Source struct {
	cfg   SourceConfig
	log   *zap.Logger
	types []string

	mu       sync.Mutex
	deliver  adapters.DeliverFunc // non-nil while Receive runs
	recvCtx  context.Context
	inflight sync.WaitGroup
	closed   bool
	closeCh  chan struct{}
	started  chan struct{} // closed when Receive first runs

	split Splitter // nil: one request is one message
}

// Splitter turns one request, as a message, into the messages it carries:
// a vendor that posts a batch (a TES system posts each phone's sync) gets
// each part logged, processed and dead-lettered on its own. Parts without
// an ID get one. An error refuses the whole request (422): the batch is
// not readable as a batch at all.
type Splitter func(m knutpunkt.Message) ([]knutpunkt.Message, error)

// startupWait is how long a request that arrives before Receive has
// started waits for it, rather than being turned away: the hub's HTTP
// server may take requests a moment before its pipelines' sources run.
const startupWait = 5 * time.Second

var (
	_ adapters.Source = (*Source)(nil)
	_ http.Handler    = (*Source)(nil)
)

// NewSource mounts the source on env.Ingress. Without an Ingress (no hub
// server, as in `knut import`) it fails.
func NewSource(cfg SourceConfig, env adapters.Env) (*Source, error) {
	return NewBatchSource(cfg, env, nil)
}

// NewBatchSource is NewSource for requests that carry several messages:
// split makes them, and each is delivered on its own, in order. The
// answer lists them: 202 {"messages": [{"id": ..., "duplicate": ...}]}
// once all are stored; 503 when one could not be (those before it are
// stored: the sender's retry finds them duplicate); 422 with the list,
// each refused part with its "error", when the hub refuses some for good
// (the others are stored: the sender must not send the batch again). A
// nil split is NewSource.
func NewBatchSource(cfg SourceConfig, env adapters.Env, split Splitter) (*Source, error) {
	env = env.WithDefaults()
	if env.Ingress == nil {
		return nil, errors.New("http source needs the hub's HTTP server, and this hub serves none")
	}
	path := cfg.Path
	if path == "" {
		path = env.Name
	}
	if path == "" {
		return nil, errors.New("http source: path is not set and the pipeline has no name")
	}
	s := &Source{cfg: cfg, log: env.Logger.With(zap.String("path", "/ingest/"+path)), types: cfg.ContentTypes,
		closeCh: make(chan struct{}), started: make(chan struct{}), split: split}
	if err := env.Ingress.Handle(path, s); err != nil {
		return nil, fmt.Errorf("mount /ingest/%s: %w", path, err)
	}
	return s, nil
}

// Receive implements adapters.Source: requests are delivered while it
// runs. When ctx ends it stops taking requests, cancels the deliveries in
// flight and waits for them before returning ctx.Err().
func (s *Source) Receive(ctx context.Context, deliver adapters.DeliverFunc) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return adapters.ErrClosed
	case s.deliver != nil:
		s.mu.Unlock()
		return errors.New("http source is already receiving")
	}
	s.deliver, s.recvCtx = deliver, ctx
	select {
	case <-s.started:
	default:
		close(s.started)
	}
	s.mu.Unlock()

	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.closeCh:
		err = adapters.ErrClosed
	}
	s.mu.Lock()
	s.deliver, s.recvCtx = nil, nil
	s.mu.Unlock()
	s.inflight.Wait()
	return err
}

// Close stops a running Receive with ErrClosed; later requests get 503.
// The mount stays until the hub's server stops. Close is idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closeCh)
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	select {
	case <-s.started:
	default: // only at startup: wait a moment for Receive
		t := time.NewTimer(startupWait)
		select {
		case <-s.started:
		case <-s.closeCh:
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
	}
	s.mu.Lock()
	deliver, recvCtx := s.deliver, s.recvCtx
	if deliver != nil {
		s.inflight.Add(1)
	}
	s.mu.Unlock()
	if deliver == nil {
		s.unavailable(w, "source is not receiving")
		return
	}
	defer s.inflight.Done()

	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); len(s.types) > 0 && (err != nil || !slices.Contains(s.types, mt)) {
		// The sender's value is not repeated: an answer echoes nothing sent.
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("this content type is not accepted here; accepted: %v", s.types))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBodySize)))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeError(w, http.StatusRequestEntityTooLarge, "body exceeds max_body_size of "+s.cfg.MaxBodySize.String())
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}

	m := knutpunkt.Message{ID: uuid.Must(uuid.NewV7()).String(), Headers: s.headers(r), Body: body}
	// The delivery ends with the request or with Receive, whichever first.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(recvCtx, cancel)()
	if s.split != nil {
		s.serveBatch(ctx, w, deliver, m)
		return
	}
	receipt, err := deliver(ctx, m)
	log := s.log.With(zap.String("msg_id", m.ID))
	switch {
	case err == nil && receipt.Duplicate:
		// The sender retried, or sent the same external id twice: the
		// answer names the message the hub has, not this request's copy.
		log.Debug("duplicate", zap.String("first_id", receipt.ID))
		writeJSON(w, http.StatusOK, map[string]any{"id": receipt.ID, "duplicate": true})
	case err == nil:
		log.Debug("accepted")
		writeJSON(w, http.StatusAccepted, map[string]any{"id": receipt.ID})
	case adapters.IsPermanent(err):
		log.Debug("refused", zap.Error(err))
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		log.Debug("not stored, client will retry", zap.Error(err))
		s.unavailable(w, "message not stored, retry later")
	}
}

// serveBatch delivers the parts of m one by one and answers for all.
func (s *Source) serveBatch(ctx context.Context, w http.ResponseWriter, deliver adapters.DeliverFunc, m knutpunkt.Message) {
	parts, err := s.split(m)
	if err != nil {
		s.log.Debug("batch refused", zap.String("msg_id", m.ID), zap.Error(err))
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	results := make([]map[string]any, len(parts))
	refused := false
	for i, p := range parts {
		if p.ID == "" {
			p.ID = uuid.Must(uuid.NewV7()).String()
		}
		receipt, err := deliver(ctx, p)
		switch {
		case err == nil:
			results[i] = map[string]any{"id": receipt.ID, "duplicate": receipt.Duplicate}
		case adapters.IsPermanent(err):
			refused = true
			results[i] = map[string]any{"error": err.Error()}
		default:
			s.log.Debug("batch part not stored, client will retry", zap.String("msg_id", p.ID), zap.Int("part", i+1), zap.Error(err))
			s.unavailable(w, fmt.Sprintf("part %d of %d not stored, retry later (the parts before it are stored)", i+1, len(parts)))
			return
		}
	}
	status := http.StatusAccepted
	if refused {
		status = http.StatusUnprocessableEntity
	}
	s.log.Debug("batch", zap.String("msg_id", m.ID), zap.Int("parts", len(parts)), zap.Bool("refused", refused))
	writeJSON(w, status, map[string]any{"messages": results})
}

func (s *Source) headers(r *http.Request) map[string]string {
	h := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			h[k] = v
		}
	}
	set(knutpunkt.HeaderContentType, r.Header.Get("Content-Type"))
	set(knutpunkt.HeaderSourceSystem, r.Header.Get(HeaderSourceSystem))
	set(knutpunkt.HeaderSourceSystem, s.cfg.SourceSystem)
	set(knutpunkt.HeaderExternalID, r.Header.Get(HeaderIdempotencyKey))
	set(knutpunkt.HeaderExternalID, r.Header.Get(HeaderExternalID))
	set(knutpunkt.HeaderCorrelationID, r.Header.Get(HeaderCorrelationID))
	set(knutpunkt.HeaderCaller, adapters.CallerFromContext(r.Context()))
	return h
}

func (s *Source) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
	writeError(w, http.StatusServiceUnavailable, msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
