#!/usr/bin/env bash
# pgtest.sh: a private, throwaway PostgreSQL cluster for tests (run as root).
#
#   eval "$(bash .ci/pgtest.sh)"          # create (if needed) and start; prints the export line
#   eval "$(bash .ci/pgtest.sh /tmp/x)"   # same, in another directory
#   bash .ci/pgtest.sh stop [DIR]         # stop it
#
# Tests run with fsync=off (they measure behaviour, not disks); PGTEST_FSYNC=on
# starts a durable cluster, for benchmarks.
# Idempotent: a cluster that is already running is reused and its DSN printed again.
# Everything but the final export line goes to stderr, so eval sees only the export.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
action=start
if [[ ${1:-} == stop || ${1:-} == start ]]; then
	action=$1
	shift
fi
DIR=${1:-${KNUT_PG_DIR:-/tmp/knut-pg}}
DATA=$DIR/data

as_postgres() {
	if [[ $(id -un) == postgres ]]; then
		bash -c "$1"
	else
		su postgres -s /bin/bash -c "$1"
	fi
}

if [[ ! -x $PGBIN/initdb ]]; then
	echo "pgtest: no PostgreSQL binaries in $PGBIN (apt-get install postgresql)" >&2
	exit 1
fi

if [[ $action == stop ]]; then
	if [[ -f $DATA/postmaster.pid ]]; then
		as_postgres "$PGBIN/pg_ctl -D '$DATA' -m fast -w stop" >&2
	else
		echo "pgtest: no cluster running in $DATA" >&2
	fi
	exit 0
fi

mkdir -p "$DIR"
if [[ $(id -u) == 0 ]]; then
	chown -R postgres:postgres "$DIR"
fi

if [[ ! -f $DATA/PG_VERSION ]]; then
	as_postgres "$PGBIN/initdb -D '$DATA' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >'$DIR/initdb.log' 2>&1" || {
		cat "$DIR/initdb.log" >&2
		exit 1
	}
fi

port_file=$DIR/port
if as_postgres "$PGBIN/pg_ctl -D '$DATA' status" >/dev/null 2>&1 && [[ -f $port_file ]]; then
	port=$(cat "$port_file")
else
	port_free() {
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	}
	port=""
	for p in 55432 55433 55434 55435 55436; do
		if port_free "$p"; then
			port=$p
			break
		fi
	done
	if [[ -z $port ]]; then
		# Let the kernel choose an ephemeral port.
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
			echo $((40000 + RANDOM % 20000)))
	fi
	echo "$port" >"$port_file"
	chown postgres:postgres "$port_file" 2>/dev/null || true
	as_postgres "$PGBIN/pg_ctl -D '$DATA' -o '-p $port -k $DIR -c listen_addresses=127.0.0.1 -c fsync=${PGTEST_FSYNC:-off} -c max_connections=200' -l '$DIR/server.log' -w -t 30 start" >&2 || {
		tail -n 30 "$DIR/server.log" >&2
		exit 1
	}
fi

# Wait until it accepts connections.
for _ in $(seq 1 50); do
	if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
		break
	fi
	sleep 0.1
done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" || {
	echo "pgtest: server on port $port is not ready" >&2
	exit 1
}

echo "export KNUT_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
