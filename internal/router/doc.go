// Package router runs pipeline Plans on Watermill. It is the only package
// that imports Watermill.
//
// Every message enters a pipeline the same way, through Ingest: it is given
// an ID, recorded in the message log (idempotently: a known source system and
// external id is a duplicate and is not processed twice), and only then
// published on the pipeline's input topic in.<pipeline>[.<partition>] of the
// Bus. A source adapter acknowledges its vendor after Ingest returns, so a
// message the hub accepted is never lost: the log is the durable queue, and
// Run queues again whatever it holds as received.
//
// One Watermill handler per pipeline (per partition with order_by) runs the
// Plan. Its middleware, outermost first: CorrelationID, the dead-letter
// filter (a failure that is permanent, or still failing after the retries,
// becomes a dead letter in the store with its pipeline, step and reason),
// Retry (exponential backoff, skipping permanent errors), Recoverer (a panic
// on bad input becomes an error, never a crash). Entity writes and outputs
// are committed together with the message's status, and the outputs are
// published once that commit is durable: to a topic means into every
// pipeline whose `from` names that topic, to an adapter means onto
// out.<pipeline>.<n>, whose own handler calls the sink with the same retry
// and dead-letter policy (a sink's reply is committed with the delivery).
//
// The files follow the concerns: router.go builds and runs the handlers;
// ingest.go is how a message enters (sources, Ingest, Replay); handlers.go
// processes, commits and delivers; deferred.go makes a message wait for its
// predecessor; sweep.go finds what the log holds and nobody handles;
// inflight.go holds messages with their body sizes and refuses new ones
// when MaxInFlight or MaxQueue is reached (backpressure); stop.go drains
// what is in flight when Run stops; messagelog.go is the contract with the
// store; bus.go the embedded queue; headers.go the header names the engine
// sets.
package router
