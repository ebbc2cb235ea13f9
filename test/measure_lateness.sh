#!/usr/bin/env bash
# Lateness of idle_in_transaction_timeout terminations at the default
# governor.naptime (1 s): 30 sessions idle in a transaction, limit 2 s,
# measured from the client (last statement's result -> connection closed).
#
# Run as root from the worktree, holding the shared install lock:
#   flock /tmp/pg_governor.lock test/measure_lateness.sh [sessions] [limit_s] [naptime]
# It builds and installs the extension, starts a throwaway cluster as
# postgres (socket in a temp dir, 127.0.0.1 only), measures, and stops the
# server by its pid.
set -eu
cd "$(dirname "$0")/.."
N=${1:-30}
LIMIT=${2:-2}
NAPTIME=${3:-1s}
BIN=/usr/lib/postgresql/15/bin
export PG_CONFIG=$BIN/pg_config

make -s -j2 >/dev/null && make -s install >/dev/null

D=$(mktemp -d /tmp/gov-lateness.XXXXXX)
chown postgres: "$D"
cp test/measure_lateness.py "$D/"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
PGPID=
cleanup() {
  if [ -n "$PGPID" ]; then
    kill -INT "$PGPID" 2>/dev/null || true
    while kill -0 "$PGPID" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$D"
}
trap cleanup EXIT
cd "$D"
runuser -u postgres -- $BIN/initdb -D "$D/data" -A trust -U postgres --no-sync >/dev/null
cat >> "$D/data/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_governor'
governor.naptime = $NAPTIME
max_connections = $((N + 20))
EOF
runuser -u postgres -- $BIN/pg_ctl -D "$D/data" -l "$D/server.log" \
  -o "-p $PORT -k $D -c listen_addresses=127.0.0.1" -w start >/dev/null
PGPID=$(head -1 "$D/data/postmaster.pid")

psql() { runuser -u postgres -- $BIN/psql -XAtq -h "$D" -p "$PORT" -U postgres -d postgres "$@"; }
psql -c "CREATE EXTENSION pg_governor; CREATE ROLE lat LOGIN;
         INSERT INTO governor.rules (name, role, idle_in_transaction_timeout)
           VALUES ('lateness', 'lat', '$LIMIT s');
         SELECT governor.reload();" >/dev/null

echo "sessions=$N limit=${LIMIT}s naptime=$NAPTIME cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
runuser -u postgres -- python3 "$D/measure_lateness.py" \
  "host=127.0.0.1 port=$PORT user=lat dbname=postgres application_name=lateness" "$N" "$LIMIT"
echo "server-side observed (idle time when the worker decided), from the events' LOG lines:"
grep -o 'observed [0-9.]*' "$D/server.log" | awk '{print $2}' | sort -n |
  awk '{a[NR]=$1} END {if (NR) printf "  n=%d min %.3f p50 %.3f max %.3f s\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
