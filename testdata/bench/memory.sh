#!/usr/bin/env bash
# The memory benchmark (issue 7): for KNUT_BENCH_SECONDS (default 60) 50
# clients post 9 MB TES JSON bodies over HTTPS as fast as the hub takes them
# (waiting out each 503's Retry-After), while Lifecare orders arrive at
# KNUT_BENCH_RATE orders/s (default 200) on the same hub. Reports the peak
# RSS of the process (hub, simulators and clients together), the big bodies
# accepted and refused, the orders' latency and retries, and lost (accepted
# but neither processed nor dead once settled). See BenchmarkMemoryUnderLoad
# in internal/server.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "memory benchmark: 50 x 9 MB senders and ${KNUT_BENCH_RATE:-200} orders/s for ${KNUT_BENCH_SECONDS:-60} s on $(nproc) cores"
${GO:-go} test -run '^$' -bench MemoryUnderLoad -benchtime 1x -timeout 30m ./internal/server/
