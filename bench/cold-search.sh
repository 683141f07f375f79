#!/usr/bin/env bash
# Uncached search latency: the server keeps the ordered matches of recent terms (valid until
# an organization is inserted, renamed or deleted), so repeated searches in `make bench`
# measure that cache. This times each term's FIRST request on a fresh server, one at a time:
# the cost a term pays before it is cached. Usage: SCALE=1m bash bench/cold-search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${SCALE:-100k}"
db="bench/out/seed-$SCALE.db"
[[ -f $db ]] || { echo "no $db: run make bench SCALE=$SCALE first" >&2; exit 1; }
bin=target/release/invois
work=$(mktemp -d)
cp "$db" "$work/cold.db"
key=$($bin keys create --name cold --scopes read:organizations --json --db "$work/cold.db" | python3 -c 'import sys,json;print(json.load(sys.stdin)["key"])')
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
INVOIS_LOG__LEVEL=warn $bin serve --bind "127.0.0.1:$port" --db "$work/cold.db" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# Warm the OS page cache and the key, not the search cache.
curl -sf -H "X-Invois-Key: $key" "http://127.0.0.1:$port/api/integrations/organizations?per_page=1" >/dev/null
echo "| term | first request ms | second request ms | total |"
echo "|---|---:|---:|---:|"
for term in trading sdn global bakery "golden bakery" "pacific trading" "acme foods" café müller ōsaka straße ac x; do
  q=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$term")
  url="http://127.0.0.1:$port/api/integrations/organizations?per_page=10&query=$q"
  t1=$(curl -s -o "$work/r.json" -w '%{time_total}' -H "X-Invois-Key: $key" "$url")
  t2=$(curl -s -o /dev/null -w '%{time_total}' -H "X-Invois-Key: $key" "$url")
  total=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["meta"]["total"])' "$work/r.json")
  python3 -c 'import sys;print(f"| `{sys.argv[1]}` | {float(sys.argv[2])*1000:.1f} | {float(sys.argv[3])*1000:.1f} | {int(sys.argv[4]):,} |")' "$term" "$t1" "$t2" "$total"
done
