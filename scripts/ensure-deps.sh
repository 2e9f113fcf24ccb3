#!/usr/bin/env bash
# Installs the system packages the test suite runs against (real Redis, a
# real round-robin proxy). Idempotent; needs root (CI and dev machines are).
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian package starts a system-wide redis; tests run their own servers.
if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
# The bench's open-loop load generator (Go, pinned in bench/tools/go.mod),
# built once into ~/.cache/berth/bin; a no-op when cached. Needs npm ci first.
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -x "$root/node_modules/.bin/node" ]; then
  "$root/node_modules/.bin/node" "$root/bench/src/loadgen.ts"
fi
