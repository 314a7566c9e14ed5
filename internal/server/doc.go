// Package server is the composition root: it builds the store, the bus, the
// pipelines' router and the HTTP server from a config.Config, and runs them.
// Each component is wired in a small file of its own (store.go, router.go,
// http.go, resources.go, metrics.go); nothing else in the hub wires things.
package server
