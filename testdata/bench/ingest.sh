#!/usr/bin/env bash
# The ingest benchmark: N (default 1,000,000) TES visit JSON lines through
# `knut import` with JSON Schema validation, the 15-field visit mapping and
# the durable SQLite store (synchronous=FULL, group commit). Prints lines/s,
# CPU seconds and peak RSS as knut import reports them. Run via `make bench`.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000000}
knut=${KNUT:-bin/knut}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$knut" demo visits --count "$N" >"$dir/visits.jsonl"
cat >"$dir/knut.yaml" <<YAML
store: {dsn: $dir/bench.db}
pipelines: $PWD/pipelines
mappings: $PWD/mappings
schemas: $PWD/schemas
log: {level: warn}
# The pipeline's allow: names who may post over HTTP; import posts nothing.
vars: {tes_callers: any}
YAML
echo "ingest benchmark: $N lines ($(du -h "$dir/visits.jsonl" | cut -f1)) on $(nproc) cores"
"$knut" import --config "$dir/knut.yaml" --pipeline tes_visits "$dir/visits.jsonl"
