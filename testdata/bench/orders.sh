#!/usr/bin/env bash
# The order latency benchmark (issue 3): new Lifecare orders pushed over
# HTTPS into the hub at KNUT_BENCH_RATE orders/s (default 200) for N orders
# (default 12000, i.e. 60 s), on the durable SQLite store and bus, delivered
# to the Omsorg Norr webhook simulator. Reports p50/p95/p99/max in ms from
# the case system's POST to the provider's acknowledgement. Run via
# `make bench`; see BenchmarkOrderLatency in internal/server.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-12000}
echo "order benchmark: $N orders at ${KNUT_BENCH_RATE:-200}/s over HTTPS on $(nproc) cores"
${GO:-go} test -run '^$' -bench OrderLatency -benchtime "${N}x" -timeout 30m ./internal/server/
