#!/usr/bin/env bash
# Attacks a release build on loopback and prints the server's peak RSS (VmHWM) under each:
#  1. guessing: wrong secrets for a REAL key id (each costs a full argon2 verification), the
#     failed-auth throttle lifted so that every guess reaches argon2 — DURATION seconds;
#  2. slow uploads: SLOW connections that send full headers (with a valid key; per-key rate
#     limits lifted) and 4 of 1,000 body bytes to POST /users, then stall; reports how many
#     the server has answered (408) or closed after 5, 15 and 30 s, and /healthz meanwhile.
# Usage: make attack   (DURATION=60 SLOW=2000 by default; needs wrk, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
DURATION=${DURATION:-60}
SLOW=${SLOW:-2000}
bin=target/release/invois
work=$(mktemp -d)
$bin seed --demo --db "$work/a.db" >/dev/null
key=$($bin keys create --name victim --json --db "$work/a.db" | python3 -c 'import sys,json;print(json.load(sys.stdin)["key"])')
keyid=$(echo "$key" | cut -d_ -f2)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
INVOIS_LOG__LEVEL=error INVOIS_RATE_LIMIT__AUTH_PER_SECOND=1000000 INVOIS_RATE_LIMIT__AUTH_BURST=1000000 \
  INVOIS_RATE_LIMIT__PER_MINUTE=0 INVOIS_RATE_LIMIT__PER_HOUR=0 INVOIS_RATE_LIMIT__PER_DAY=0 \
  $bin serve --bind "127.0.0.1:$port" --db "$work/a.db" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
hwm() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status; }
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "start: RSS $(rss), peak $(hwm)"

cat > "$work/guess.lua" <<LUA
request = function()
  local secret = string.rep(string.format("%08x", math.random(0, 2^31)), 8)
  return wrk.format("GET", "/api/integrations/organizations", {["X-Invois-Key"] = "invois_${keyid}_" .. secret})
end
LUA
wrk -t2 -c16 -d"${DURATION}s" -s "$work/guess.lua" "http://127.0.0.1:$port" > "$work/guess.txt"
guesses=$(awk '/requests in/ {print $1}' "$work/guess.txt")
echo "guessing, 16 connections, ${DURATION} s: ${guesses} wrong secrets verified (all 401); RSS $(rss), peak $(hwm)"

cat > "$work/slow.py" <<'PY'
import socket, sys, time, resource, urllib.request
port, n, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 200, n + 200))
# A valid key, so that the handler really waits for the body (a bad one is refused at once).
head = (b"POST /api/integrations/users HTTP/1.1\r\nHost: t\r\nX-Invois-Key: " + key + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"na")
socks = []
for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
# Send the head and 4 body bytes on every socket that has connected; the kernel's listen
# backlog drops the SYNs of the rest (they retry), so keep trying for a few seconds.
sent, pending = [], list(socks)
deadline = time.time() + 5
while pending and time.time() < deadline:
    time.sleep(0.2)
    still = []
    for s in pending:
        try:
            s.send(head)
            sent.append(s)
        except OSError:
            still.append(s)
    pending = still
for s in pending:
    s.close()
socks = sent
start = time.time()
print(f"{len(socks)} of {n} connected and sent headers and 4 bytes of a 1,000-byte body", flush=True)

def health():
    t = time.time()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30).read()
        return f"{(time.time() - t) * 1000:.0f} ms"
    except Exception as e:
        return f"failed ({e.__class__.__name__})"

def answered():
    """Connections on which the server has answered or that it has closed."""
    c = 0
    for s in socks:
        try:
            s.recv(1, socket.MSG_PEEK)
            c += 1
        except BlockingIOError:
            pass
        except OSError:
            c += 1
    return c

print(f"/healthz while they stall: {health()}", flush=True)
for at in (5, 15, 30):
    time.sleep(max(0.0, at - (time.time() - start)))
    print(f"after {at} s: {answered()} of {len(socks)} answered (408) or closed by the server; /healthz: {health()}", flush=True)
PY
python3 "$work/slow.py" "$port" "$SLOW" "$key"
echo "slow uploads done: RSS $(rss), peak $(hwm)"
echo "server CPU seconds used: $(awk '{print ($14+$15)/100}' /proc/$pid/stat)"
