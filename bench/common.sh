# Sourced by bench/run.sh and bench/peer.sh: enter the repo, make bench/out, stop any server
# we started when the script ends (bench.py cleans up too; this covers a killed Python), and
# install wrk and vmtouch from Debian if they are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p bench/out

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

# wrk drives the load; vmtouch holds the database in the page cache during a run (see
# PageCacheLock in bench.py).
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v vmtouch >/dev/null 2>&1 || missing="$missing vmtouch"
if [[ -n $missing ]]; then
  echo "installing$missing ..." >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  timeout 600 $SUDO apt-get update -qq
  timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
