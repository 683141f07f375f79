#!/usr/bin/env bash
# Load benchmark of invois: `make bench` (SCALE=100k default, SCALE=1m for the full run).
# Installs wrk if missing, seeds (or re-uses) bench/out/seed-$SCALE.db, starts the release
# binary, drives it with wrk and appends a section to bench/RESULTS.md.
# Environment: SCALE, DURATION (s per scenario, 10), WARMUP (3), CONNECTIONS (32), THREADS (2),
# FRESH=1 (re-seed), ONLY=org-by-id,search-mix (a subset of scenarios; /healthz always runs).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out

# Whatever happens, no server we started outlives this script (bench.py also cleans up;
# this covers a killed Python).
cleanup() {
  for f in bench/out/invois.pid bench/out/pocketbase.pid; do
    if [[ -f $f ]]; then
      pid=$(cat "$f")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$f"
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk ..." >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  timeout 600 $SUDO apt-get update -qq
  timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

python3 bench/bench.py run --scale "${SCALE:-100k}"
