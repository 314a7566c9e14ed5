#!/usr/bin/env bash
# The reconciliation benchmark: one month at city scale, VISITS visits (default
# 2,000,000) and twice as many lock events, written by `knut demo city` into a
# fresh store, then `knut reconcile --month MONTH --read-only` (every input of
# the month read through the reconciliation's reader and discarded: the
# baseline) and `knut reconcile --month MONTH` (the run, its lines written).
# First on a durable SQLite store (synchronous=FULL), then on a durable
# PostgreSQL (fsync and synchronous_commit on): a private cluster started with
# .ci/pgtest.sh and stopped at the end, or the server of
# KNUT_BENCH_POSTGRES_DSN (a fresh database in it). Prints, for each, the
# generation's time, the read's and the run's seconds, the ratio run/read and
# knut's peak RSS (VmHWM) of each. Builds nothing (KNUT, default bin/knut),
# caches nothing across runs.
#
#   bash testdata/bench/reconcile.sh
#   VISITS=20000 bash testdata/bench/reconcile.sh     a quick run
#   MONTH=2026-11 SEED=2 RULES=FILE bash testdata/bench/reconcile.sh
#   DBS=postgres bash testdata/bench/reconcile.sh     PostgreSQL only
set -euo pipefail
cd "$(dirname "$0")/../.."
VISITS=${VISITS:-2000000}
LOCK_EVENTS=${LOCK_EVENTS:-$((2 * VISITS))}
MONTH=${MONTH:-2026-10}
SEED=${SEED:-1}
# Which stores: DBS=sqlite or DBS=postgres for one of them.
DBS=${DBS:-sqlite postgres}
# The demo municipality's rule set.
RULES=${RULES:-$PWD/rulesets/demo.yaml}
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

timer=""
if [[ -x /usr/bin/time ]]; then
	timer=/usr/bin/time
fi

echo "reconciliation benchmark: $MONTH, $VISITS visits, $LOCK_EVENTS lock events (seed $SEED) on $(nproc) cores"

# timed OUT CMD...: runs CMD with stdout to OUT and sets secs and rss (MiB):
# from /usr/bin/time when there is one, else from the command's last line
# ("... in 12.3 s, peak RSS 210 MiB").
timed() {
	local out=$1
	shift
	if [[ -n $timer ]]; then
		"$timer" -o "$dir/time" -f '%e %M' "$@" >"$out" || return
		read -r secs rss <"$dir/time"
		rss=$((rss / 1024))
	else
		"$@" >"$out" || return
		secs=$(tail -1 "$out" | sed -n 's/.* in \([0-9.]*\) s.*/\1/p')
		rss=$(tail -1 "$out" | sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p')
	fi
}

# run NAME DSN: generates the month into a fresh store at DSN, reads it, reconciles it.
run() {
	cat >"$dir/knut.yaml" <<YAML
store: {dsn: '$2'}
pipelines: $PWD/pipelines
mappings: $PWD/mappings
schemas: $PWD/schemas
log: {level: warn}
vars: {nuki_url: 'http://127.0.0.1:9', nuki_token: 'env:KNUT_NUKI_TOKEN', nuki_poll_interval: 1m}
YAML
	local cfg=$dir/knut.yaml gen readsecs readrss rec
	timed "$dir/city.out" "$knut" demo city --config "$cfg" --month "$MONTH" --visits "$VISITS" --lock-events "$LOCK_EVENTS" --seed "$SEED" 2>"$dir/city.err" ||
		{ cat "$dir/city.err" >&2; exit 1; }
	gen=$secs
	echo "$1: generated in ${gen} s (peak RSS $rss MiB): $(tr '\n' ' ' <"$dir/city.out")"
	timed "$dir/read.out" "$knut" reconcile --month "$MONTH" --read-only --rules "$RULES" --config "$cfg" 2>"$dir/read.err" ||
		{ cat "$dir/read.err" >&2; exit 1; }
	readsecs=$secs readrss=$rss
	echo "$1: $(tail -1 "$dir/read.out")"
	timed "$dir/rec.out" "$knut" reconcile --month "$MONTH" --rules "$RULES" --config "$cfg" 2>"$dir/rec.err" ||
		{ cat "$dir/rec.err" >&2; exit 1; }
	rec=$secs
	echo "$1: $(tail -1 "$dir/rec.out")"
	awk -v n="$1" -v r="$readsecs" -v c="$rec" -v rr="$readrss" -v cr="$rss" 'BEGIN {
		printf "%s: read %.1f s, reconcile %.1f s, reconcile/read %.2f, peak RSS read %d MiB, reconcile %d MiB\n", n, r, c, (r > 0 ? c / r : 0), rr, cr
	}'
	if [[ $2 != postgres* ]]; then
		echo "$1: store $(du -sh "${2%%\?*}" | cut -f1)"
		rm -f "$2" "$2-wal" "$2-shm"
	fi
}

if [[ $DBS == *sqlite* ]]; then
	run sqlite "$dir/bench.db"
fi
if [[ $DBS != *postgres* ]]; then
	exit 0
fi

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
run postgres "$dsn"
