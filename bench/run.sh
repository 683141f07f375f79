#!/usr/bin/env bash
# Load benchmark of invois: `make bench` (SCALE=100k default, SCALE=1m for the full run).
# Installs wrk and vmtouch if missing, builds the release binary and the same code without
# the request guard (bench-no-auth, for the authentication A/B), seeds (or re-uses)
# bench/out/seed-$SCALE.db, starts the server, drives it with wrk and appends a section to
# bench/RESULTS.md.
# ENGINE=sqlite (default) | postgres | both: postgres runs the same scenarios against a server on
# a throwaway PostgreSQL cluster (PostgreSQL's default durability) holding the same data
# (`invois export` of the seeded file, `invois import` into PostgreSQL); both measures the two
# engines in one run, alternating, then two instances on one PostgreSQL database
# (`bench.py engines`). Installs Debian's postgresql package if its server binaries are missing.
# Environment: SCALE, DURATION (s per scenario, 10), WARMUP (3), CONNECTIONS (32), THREADS (2),
# FRESH=1 (re-seed), ONLY=org-by-id,search-mix (a subset of scenarios; /healthz always runs;
# add auth-ab for the A/B), AUTH_AB=0 (skip the A/B), LOCK=0 (do not hold the database in the
# page cache).
source "$(dirname "$0")/common.sh"
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

ENGINE=${ENGINE:-sqlite}
case $ENGINE in
  sqlite | postgres) cmd=(run --engine "$ENGINE") ;;
  both) cmd=(engines) ;;
  *) echo "ENGINE must be sqlite, postgres or both (got $ENGINE)" >&2; exit 2 ;;
esac

# The same code without the request guard, for the authentication A/B (AUTH_AB=0 skips it;
# ENGINE=both has no A/B).
if [[ ${AUTH_AB:-1} != 0 && $ENGINE != both ]]; then
  echo "building the bench-no-auth binary (target/bench-noauth) ..." >&2
  cargo build --release --features bench-no-auth --target-dir target/bench-noauth
fi

python3 bench/bench.py "${cmd[@]}" --scale "${SCALE:-100k}"
