#!/bin/bash
# Runs bench/profile-cache-put.ts with this process and the Pomerium server it starts on separate
# CPUs (the bench process on CPU 1, every thread of the server on CPU 0), or as the host schedules
# them ("free"), to tell the round trip's own cost from the two sharing cores.
#
#   bash bench/pinned-apart.sh pin|free [profile-cache-put options...]
#
# Needs taskset (util-linux) and at least 2 CPUs. The server inherits CPU 1 when it starts and is
# moved to CPU 0 as soon as it appears (before the timed Puts: seeding comes first).
set -euo pipefail
mode=${1:?usage: pinned-apart.sh pin|free [options...]}
shift
cd "$(dirname "$0")/.."
if [ "$mode" = pin ]; then
  (
    for _ in $(seq 1 600); do
      pid=$(pgrep -f "interop-cache/pomerium-databroker" | head -1 || true)
      if [ -n "$pid" ]; then
        taskset -a -p -c 0 "$pid" > /dev/null
        break
      fi
      sleep 0.1
    done
  ) &
  taskset -c 1 node --expose-gc --import tsx bench/profile-cache-put.ts "$@"
  wait
else
  node --expose-gc --import tsx bench/profile-cache-put.ts "$@"
fi
