// Package knutpunkt is the vocabulary every layer of the Knutpunkt hub shares.
//
// Knutpunkt is an integration hub for Swedish municipal home care (hemtjänst).
// Vendor systems (case systems, TES, keyless locks, HSA directories, provider
// systems) talk to it through adapters; declarative pipelines validate and map
// their messages into one canonical model, which the hub stores and routes.
//
//	vendor ──▶ adapters.Source ──▶ pipeline (validate · map · store · route · split) ──▶ adapters.Sink ──▶ vendor
//	                                        │
//	                                        ▼
//	                                  internal/store (SQLite or PostgreSQL): message log, dead letters, canonical entities
//
// Map of the module:
//
//   - adapters: the adapter contract (Source, Sink, Checker, Env), the Registry,
//     and one package per vendor or protocol; adapters/adapterstest is the
//     conformance kit every adapter passes.
//   - internal/pipeline: pipeline YAML → typed Plan; internal/router runs Plans
//     on Watermill; internal/mapping and internal/schema are the step engines.
//   - internal/store: the hub's own database; internal/homecare: the canonical
//     entities and identifiers (personnummer, samordningsnummer, HSA-ID).
//   - internal/server: the composition root; cmd/knut: the CLI.
//
// This package imports nothing from the module and stays small on purpose.
package knutpunkt
