#!/usr/bin/env bash
# Runs a command with the services the test suite needs: the local PostgreSQL 15 cluster (started here,
# and stopped again afterwards if this script started it), a `sandbox` role and a `sandbox_test` database.
# Exports SANDBOX_TEST_POSTGRES_URL for the tests.
set -euo pipefail

PG_VERSION=15
PG_CLUSTER=main
started_here=0

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed; installing it (Debian package postgresql)…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
  PG_VERSION=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
  PG_CLUSTER=$(pg_lsclusters -h | awk 'NR==1 {print $2}')
fi
status=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}')
if [ "$status" != "online" ]; then
  pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
  started_here=1
fi
PG_PORT=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {print $3}')

cleanup() {
  if [ "$started_here" = 1 ]; then
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop || true
  fi
}
trap cleanup EXIT

as_postgres() { (cd / && su postgres -c "$*"); }
as_postgres "psql -p $PG_PORT -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='sandbox'\"" | grep -q 1 \
  || as_postgres "psql -p $PG_PORT -qc \"CREATE ROLE sandbox LOGIN PASSWORD 'sandbox'\""
as_postgres "psql -p $PG_PORT -qtAc \"SELECT 1 FROM pg_database WHERE datname='sandbox_test'\"" | grep -q 1 \
  || as_postgres "createdb -p $PG_PORT -O sandbox sandbox_test"

export SANDBOX_TEST_POSTGRES_URL="postgresql+psycopg://sandbox:sandbox@127.0.0.1:${PG_PORT}/sandbox_test"
"$@"
