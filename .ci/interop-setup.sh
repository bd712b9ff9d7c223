#!/usr/bin/env bash
# Prepares the Pomerium interop tests (idempotent; called by .ci/run):
#  1. PostgreSQL server binaries (the tests start a throwaway cluster of their own; see
#     test/support/postgres-cluster.ts), installed with apt-get when missing;
#  2. the Pomerium databroker peer, built into .interop-cache/ (see .ci/interop-build.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "interop-setup: PostgreSQL binaries missing; installing with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends postgresql
fi
# initdb refuses to run as root; the tests run it as this user through runuser.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

"$root/.ci/interop-build.sh" >/dev/null
echo "interop-setup: ready ($(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1), $root/.interop-cache/pomerium-databroker)" >&2
