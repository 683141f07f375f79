#!/usr/bin/env bash
# Load benchmark of invois: `make bench` (SCALE=100k default, SCALE=1m for the full run).
# Installs wrk and vmtouch if missing, builds the release binary and the same code without
# the request guard (bench-no-auth, for the authentication A/B), seeds (or re-uses)
# bench/out/seed-$SCALE.db, starts the server, drives it with wrk and appends a section to
# bench/RESULTS.md.
# Environment: SCALE, DURATION (s per scenario, 10), WARMUP (3), CONNECTIONS (32), THREADS (2),
# FRESH=1 (re-seed), ONLY=org-by-id,search-mix (a subset of scenarios; /healthz always runs;
# add auth-ab for the A/B), AUTH_AB=0 (skip the A/B), LOCK=0 (do not hold the database in the
# page cache).
source "$(dirname "$0")/common.sh"
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

# The same code without the request guard, for the authentication A/B (AUTH_AB=0 skips it).
if [[ ${AUTH_AB:-1} != 0 ]]; then
  echo "building the bench-no-auth binary (target/bench-noauth) ..." >&2
  cargo build --release --features bench-no-auth --target-dir target/bench-noauth
fi

python3 bench/bench.py run --scale "${SCALE:-100k}"
