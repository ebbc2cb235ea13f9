#!/usr/bin/env bash
# Developer helper (run under flock /tmp/pg_governor.lock): build, install,
# run the given TAP files and pg_regress tests from a postgres-owned copy,
# and keep the copy (path printed) for reading logs.
set -u
cd "$(dirname "$0")/.."
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
make -s -j2 >/dev/null 2>&1 && make -s install >/dev/null || { echo build failed; exit 1; }
T=$(mktemp -d /tmp/gov-enforce-run.XXXXXX)
tar --exclude=.git -cf - . | tar -C "$T" -xf -
chown -R postgres: "$T"
cd "$T"
if [ -n "${REG:-}" ]; then
  runuser -u postgres -- make installcheck ISOLATION= TAP_TESTS= REGRESS="$REG" 2>&1 | tail -15
fi
if [ -n "${TAP:-}" ]; then
  runuser -u postgres -- make installcheck REGRESS= ISOLATION= PROVE_TESTS="$TAP" PROVE_FLAGS=-v 2>&1 | tail -80
fi
echo "kept: $T"
