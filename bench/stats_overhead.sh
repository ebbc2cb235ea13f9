#!/usr/bin/env bash
# Query-path cost of pg_governor's counters: pgbench -S throughput on one
# throwaway cluster, restarted with and without pg_governor preloaded,
# alternating (off/on, then on/off, ...) so drift hits both sides alike.
# Run as root under the project lock, from the tree to measure:
#   flock /tmp/pg_governor.lock bench/stats_overhead.sh [rounds] [seconds] [clients]
# Prints each round's tps and the medians.  Stops the server it started.
set -eu
ROUNDS=${1:-5}
SECS=${2:-15}
CLIENTS=${3:-8}
cd "$(dirname "$0")/.."
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
B=$($PG_CONFIG --bindir)
make -s -j2 >/dev/null && make -s install >/dev/null

D=$(mktemp -d /tmp/gov-bench.XXXXXX)
chown postgres: "$D"
cd /tmp
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
PGPID=
cleanup() {
  [ -n "$PGPID" ] && kill -INT "$PGPID" 2>/dev/null && while kill -0 "$PGPID" 2>/dev/null; do sleep 0.1; done
  rm -rf "$D"
}
trap cleanup EXIT
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$B/initdb" -D "$D/data" -A trust -U postgres --no-sync >/dev/null
cat >> "$D/data/postgresql.conf" <<EOC
listen_addresses = ''
unix_socket_directories = '$D'
port = $PORT
shared_buffers = 128MB
max_connections = 50
EOC

start() {	# $1 = preload list
  as_pg "$B/pg_ctl" -D "$D/data" -l "$D/server.log" -o "-c shared_preload_libraries='$1'" -w start >/dev/null
  PGPID=$(head -1 "$D/data/postmaster.pid")
}
stop() {
  kill -INT "$PGPID"; while kill -0 "$PGPID" 2>/dev/null; do sleep 0.1; done; PGPID=
}

start pg_governor
as_pg "$B/psql" -X -q -h "$D" -p "$PORT" -U postgres -d postgres -c 'CREATE EXTENSION pg_governor' >/dev/null
as_pg "$B/pgbench" -i -q -s 5 -h "$D" -p "$PORT" -U postgres postgres >/dev/null 2>&1
stop

run() {	# $1 = off|on -> tps
  start "$([ "$1" = on ] && echo pg_governor)"
  as_pg "$B/pgbench" -S -n -T 3 -c "$CLIENTS" -j 2 -h "$D" -p "$PORT" -U postgres postgres >/dev/null 2>&1	# warm-up
  as_pg "$B/pgbench" -S -n -T "$SECS" -c "$CLIENTS" -j 2 -h "$D" -p "$PORT" -U postgres postgres 2>/dev/null \
    | sed -nE 's/^tps = ([0-9.]+).*/\1/p'
  stop
}

OFF=(); ON=()
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="off on"; else order="on off"; fi
  for m in $order; do
    t=$(run "$m")
    if [ "$m" = on ]; then ON+=("$t"); else OFF+=("$t"); fi
    printf 'round %d %-3s %s tps\n' "$r" "$m" "$t"
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
moff=$(median "${OFF[@]}"); mon=$(median "${ON[@]}")
printf 'median without pg_governor: %s tps\nmedian with pg_governor:    %s tps\n' "$moff" "$mon"
awk -v a="$moff" -v b="$mon" 'BEGIN {printf "difference: %+.2f %%\n", (b - a) / a * 100}'
