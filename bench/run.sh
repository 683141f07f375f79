#!/usr/bin/env bash
# Load benchmark of invois: `make bench` (SCALE=100k default, SCALE=1m for the full run).
# Installs wrk if missing, seeds (or re-uses) bench/out/seed-$SCALE.db, starts the release
# binary, drives it with wrk and appends a section to bench/RESULTS.md.
# Environment: SCALE, DURATION (s per scenario, 10), WARMUP (3), CONNECTIONS (32), THREADS (2),
# FRESH=1 (re-seed), ONLY=org-by-id,search-mix (a subset of scenarios; /healthz always runs).
source "$(dirname "$0")/common.sh"
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

python3 bench/bench.py run --scale "${SCALE:-100k}"
