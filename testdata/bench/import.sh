#!/usr/bin/env bash
# The import benchmarks: N (default 1,000,000) records through `knut
# import`, first into a durable SQLite store (synchronous=FULL), then into
# a durable PostgreSQL (fsync and synchronous_commit on): a private cluster
# started with .ci/pgtest.sh and stopped at the end, or the server of
# KNUT_BENCH_POSTGRES_DSN (a fresh database in it). Prints each run's
# lines/s, knut's CPU seconds and peak RSS (VmHWM) as knut import reports
# them, PostgreSQL's own CPU seconds, and PostgreSQL's rate as a share of
# SQLite's. Run via `make bench`.
#
#   bash testdata/bench/import.sh tes_csv       rows of the TES nightly CSV export
#       (demo.WriteVisitCSV: staff and insatser columns, some visits
#       double-staffed, named by the provider's staff id or partly declined)
#       through tes_visits_csv
#   bash testdata/bench/import.sh lock_events   Nuki SmartlockLog JSON lines
#       (demo.WriteLockEvents: unlock, door opened, closed, lock per visit at
#       40,000 doors) through nuki_lock_events: mapped, validated, stored
#       once each, resolved to grants and clients
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000000}
knut=${KNUT:-bin/knut}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
dir=$(mktemp -d)
pgdir=""
pgdb=""
admin=""
cleanup() {
	if [[ -n $pgdb ]]; then
		"$PGBIN/psql" -q "$admin" -c "DROP DATABASE $pgdb WITH (FORCE)" >/dev/null || true
	fi
	if [[ -n $pgdir ]]; then
		bash .ci/pgtest.sh stop "$pgdir" >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

case ${1:-} in
tes_csv)
	pipeline=tes_visits_csv input=$dir/visits.csv
	"$knut" demo visits --format csv --count "$N" >"$input"
	;;
lock_events)
	pipeline=nuki_lock_events input=$dir/lock-events.jsonl
	"$knut" demo lock-events --count "$N" >"$input"
	;;
*)
	echo "usage: $0 tes_csv|lock_events" >&2
	exit 2
	;;
esac
echo "import benchmark $1: $N records ($(du -h "$input" | cut -f1)) through $pipeline on $(nproc) cores"

# run NAME DSN: one import into a fresh store; prints knut's summary line and
# leaves the rate in $rate.
run() {
	cat >"$dir/knut.yaml" <<YAML
store: {dsn: '$2'}
pipelines: $PWD/pipelines
mappings: $PWD/mappings
schemas: $PWD/schemas
log: {level: warn}
vars: {nuki_url: 'http://127.0.0.1:9', nuki_token: 'env:KNUT_NUKI_TOKEN', nuki_poll_interval: 1m}
YAML
	local out
	out=$("$knut" import --config "$dir/knut.yaml" --pipeline "$pipeline" "$input")
	echo "$1: $out"
	rate=$(sed -n 's/.*(\([0-9]*\) messages\/s.*/\1/p' <<<"$out")
}

# ticks_of PID: the CPU time, in clock ticks, of a process and of its
# children, live or reaped (PostgreSQL's backends are the postmaster's).
ticks_of() {
	local total=0
	for p in "$1" $(pgrep -P "$1"); do
		# utime stime cutime cstime are fields 14-17 of /proc/PID/stat (the
		# command name, field 2, has no spaces for postgres).
		total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

run sqlite "$dir/bench.db"
sqlite=$rate

if [[ -n ${KNUT_BENCH_POSTGRES_DSN:-} ]]; then
	admin=$KNUT_BENCH_POSTGRES_DSN
else
	pgdir=$(mktemp -d /tmp/knut-bench-pg.XXXXXX)
	if ! out=$(PGTEST_FSYNC=on bash .ci/pgtest.sh "$pgdir" 2>"$dir/pgtest.log"); then
		cat "$dir/pgtest.log" >&2
		exit 1
	fi
	eval "$out"
	admin=$KNUT_TEST_POSTGRES_DSN
fi
pgdb=knut_bench_$$
"$PGBIN/psql" -q "$admin" -c "CREATE DATABASE $pgdb"
base=${admin%%\?*}
dsn=${base%/*}/$pgdb${admin#"$base"}
postmaster=""
if [[ -n $pgdir ]]; then
	postmaster=$(head -1 "$pgdir/data/postmaster.pid")
	before=$(ticks_of "$postmaster")
fi
run postgres "$dsn"
if [[ -n $postmaster ]]; then
	awk -v t="$(ticks_of "$postmaster")" -v b="$before" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "postgres: server cpu %.1fs\n", (t - b) / hz }'
fi
awk -v p="$rate" -v s="$sqlite" 'BEGIN { printf "postgres/sqlite: %.0f %%\n", 100 * p / s }'
