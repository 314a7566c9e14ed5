package server

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry is the hub's /metrics registry with the Go runtime's and the
// process's collectors (heap, GC, goroutines, RSS, open files), which an
// operator needs beside the pipelines' own counters to see a hub running
// out of memory or file descriptors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// latency measures, per pipeline, how long a message takes from being
// logged as received to being processed or dead-lettered, queueing and
// retries included: what a vendor waits for. The receipt time is kept in
// memory from SaveInbound or the commit that hands the message on, until
// the message finishes, so it holds only messages in flight; a message
// received before this process started (requeued at start, or logged by
// `knut replay`) is not measured.
type latency struct {
	hist *prometheus.HistogramVec
	now  func() time.Time

	mu    sync.Mutex
	since map[string]time.Time // message id → received
}

func newLatency(reg prometheus.Registerer, now func() time.Time) *latency {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "knut", Name: "message_processing_seconds",
		Help: "Time from a message's receipt into a pipeline to its being processed or dead-lettered (messages received since start).",
		// 1 ms to about 65 s: a hop takes milliseconds, retries with
		// backoff take seconds.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
	}, []string{"pipeline"})
	reg.MustRegister(h)
	return &latency{hist: h, now: now, since: map[string]time.Time{}}
}

// received notes when message id entered its pipeline.
func (l *latency) received(id string) {
	t := l.now()
	l.mu.Lock()
	l.since[id] = t
	l.mu.Unlock()
}

// finished observes message id of pipeline p as done, if its receipt was
// seen.
func (l *latency) finished(p, id string) {
	l.mu.Lock()
	t, ok := l.since[id]
	delete(l.since, id)
	l.mu.Unlock()
	if ok {
		l.hist.WithLabelValues(p).Observe(l.now().Sub(t).Seconds())
	}
}
