#!/usr/bin/env bash
# Crash test: `make crash-test`. Kills the server with SIGKILL under concurrent writes CYCLES
# times (default 20) and checks every acknowledged write is still there (tests/api/reliability.rs;
# CI runs the same test with 3 cycles).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
log=bench/out/crash-test.log
TEST=reliability::every_acknowledged_write_survives_kill_minus_nine
set +e
CRASH_CYCLES="${CYCLES:-20}" timeout "${CRASH_TIMEOUT:-1800}" \
  cargo test --release --test api "$TEST" -- --nocapture --exact 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo
if grep -q "^crash test:" "$log"; then
  grep "^crash test:" "$log" | tail -1
else
  echo "crash test: no figures line (exit $rc); see $log"
fi
exit "$rc"
