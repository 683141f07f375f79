#!/usr/bin/env bash
# Failed-auth throttling under attack: /healthz and a verified key's requests, alone and while
# 8 connections hammer the API with wrong keys (each distinct, so none is ever cached).
# Usage: bash bench/auth-attack.sh   (uses target/release/invois and wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bin=target/release/invois
work=$(mktemp -d)
$bin seed --demo --db "$work/a.db" >/dev/null
key=$($bin keys create --name ok --json --db "$work/a.db" | python3 -c 'import sys,json;print(json.load(sys.stdin)["key"])')
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
INVOIS_LOG__LEVEL=error INVOIS_RATE_LIMIT__PER_MINUTE=1000000000 INVOIS_RATE_LIMIT__PER_HOUR=1000000000 INVOIS_RATE_LIMIT__PER_DAY=1000000000 \
  $bin serve --bind "127.0.0.1:$port" --db "$work/a.db" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -H "X-Invois-Key: $key" "http://127.0.0.1:$port/api/integrations/organizations/org-123" >/dev/null
cat > "$work/bad.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local id = string.format("%016x", math.random(0, 2^31) * 65536 + n % 65536)
  local secret = string.rep(string.format("%08x", math.random(0, 2^31)), 8)
  return wrk.format("GET", "/api/integrations/organizations", {["X-Invois-Key"] = "invois_" .. id .. "_" .. secret})
end
LUA
measure() {
  wrk -t1 -c4 -d5s --latency "http://127.0.0.1:$port$1" -H "X-Invois-Key: $key" | awk -v what="$2" '
    /Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
    END {printf "| %s | %s | %s | %s |\n", what, rps, p50, p99}'
}
echo "| what (4 connections) | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
measure /healthz "/healthz, no attack"
measure /api/integrations/organizations/org-123 "verified key, GET org, no attack"
wrk -t1 -c8 -d14s -s "$work/bad.lua" "http://127.0.0.1:$port" > "$work/attack.txt" &
apid=$!
sleep 1
measure /healthz "/healthz, 8 connections sending wrong keys"
measure /api/integrations/organizations/org-123 "verified key, GET org, during the attack"
wait $apid
awk '/Requests\/sec/ {print "attack: " $2 " wrong-key requests/s answered"} /Non-2xx/ {print "attack: " $4 " non-2xx (401/429)"}' "$work/attack.txt"
echo "server CPU seconds used: $(awk '{print ($14+$15)/100}' /proc/$pid/stat)"
