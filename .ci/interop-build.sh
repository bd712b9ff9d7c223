#!/usr/bin/env bash
# Builds the Pomerium databroker test peer (interop/pomerium) into .interop-cache/, once.
# Rebuilds only when interop/pomerium's sources, go.mod/go.sum, the Go toolchain or the tags
# change (a hash is kept beside the binary). Safe to run concurrently (flock).
# Prints the binary's path on stdout; progress goes to stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/interop/pomerium"
cache="$root/.interop-cache"
bin="$cache/pomerium-databroker"
tags="embed_pomerium" # Pomerium's tag for supplying Envoy externally: no embedded Envoy binary
mkdir -p "$cache"

if ! command -v go >/dev/null 2>&1; then
  echo "interop-build: 'go' is not on PATH; install Go >= 1.26 to build the Pomerium peer" >&2
  exit 2
fi

hash="$( { go version; echo "tags=$tags"; cd "$src" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)"

exec 9>"$cache/build.lock"
flock 9
if [ -x "$bin" ] && [ "$(cat "$bin.hash" 2>/dev/null)" = "$hash" ]; then
  echo "$bin"
  exit 0
fi

echo "interop-build: building Pomerium databroker peer (cold builds take minutes on 2 cores)" >&2
start=$(date +%s)
cd "$src"
# go build fetches only the modules the build needs. (`go mod download` would also ask the
# proxy for .info of graph-only modules, some of which it refuses: see interop/pomerium/README.md.)
nice -n 10 go build -tags "$tags" -o "$bin.tmp" .
mv -f "$bin.tmp" "$bin"
echo "$hash" > "$bin.hash"
echo "interop-build: built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
