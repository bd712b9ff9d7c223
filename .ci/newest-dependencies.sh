#!/usr/bin/env bash
# Runs the transport, sync and fault suites against the newest dependency versions package.json
# allows (called by .ci/run after the main run, which has built the Pomerium peer).
#
# package.json gives the runtime dependencies semver ranges, and a few guards in src/transport rely
# on internals of connect-node and grpc-js (README: "Dependencies and why each is there"). This
# copies the checkout to a throwaway folder (this checkout's node_modules and package-lock.json
# stay as they are), installs the lockfile there, runs `npm update` (the newest versions within
# the ranges), and runs the suites those guards serve, so that a release which breaks one fails
# here before it reaches an application.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
newest="$(mktemp -d)"
trap 'rm -rf "$newest"' EXIT

cd "$root"
tar --exclude=./node_modules --exclude=./.interop-cache --exclude=./dist --exclude=./.git -cf - . | tar -xf - -C "$newest"
# The Pomerium peer, shared rather than rebuilt.
if [ -e .interop-cache ]; then ln -s "$(cd .interop-cache && pwd -P)" "$newest/.interop-cache"; fi

cd "$newest"
npm ci --no-audit --no-fund
npm update --no-audit --no-fund
echo "newest-dependencies: runtime dependencies now:" >&2
npm ls --omit=dev --depth=0
REQUIRE_INTEROP=1 npx vitest run test/transport test/sync test/faults
