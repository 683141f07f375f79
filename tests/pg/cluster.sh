#!/usr/bin/env bash
# tests/pg/cluster.sh [--if-missing=fail|skip] [--proof FILE] [--] CMD [ARG...]
#
# Runs CMD against a throwaway PostgreSQL cluster, then removes the cluster:
#   1. finds the server binaries: the newest /usr/lib/postgresql/*/bin (Debian's `postgresql`
#      package), else `pg_config --bindir`, else initdb on PATH;
#   2. initdb into a fresh temp dir (trust auth, superuser `postgres`, UTF8, C.UTF-8 locale when present, else C) — as the
#      `postgres` OS user via runuser when run as root (PostgreSQL refuses to run as root),
#      otherwise as the current user;
#   3. starts it with pg_ctl on 127.0.0.1 and a free port, unix sockets and the server log
#      (server.log) in the temp dir, durability off (fsync, synchronous_commit,
#      full_page_writes) since the data is thrown away, max_connections=300;
#   4. exports TEST_INVOIS_PG=postgres://postgres@127.0.0.1:PORT/postgres and runs CMD (in a
#      process group of its own, so that an interrupt ends all of it, test binaries included).
#      Not INVOIS_…: the invois binary refuses any INVOIS_* variable that is not a setting
#      (INVOIS_<SECTION>__<KEY>), and the tests run it with their environment;
#   5. ALWAYS stops the cluster and removes the temp dir (EXIT/INT/TERM), and exits with CMD's
#      status (130/143 when interrupted).
# If CMD fails, the server log is copied to ${TMPDIR:-/tmp}/invois-pg-server.log first.
#
# No server binaries: prints one line (how to install them) and exits 3; with
# --if-missing=skip it prints "PostgreSQL run skipped: …" and exits 0 instead — unless CI=true,
# where a missing PostgreSQL run is always a failure.
#
# --proof FILE: how CI proves that the PostgreSQL run happened. FILE is removed first and
# TEST_INVOIS_PG_PROOF=FILE is exported; the test
# engines::the_postgres_run_happened_when_ci_asks_for_it (tests/api/engines.rs) writes it only
# after checking that a server started by spawn_app really stored its data in this cluster. If
# CMD succeeds but FILE was not written (the engine was not used, or the test was filtered
# out), the script fails. CMD's own status covers "every test passed".
#
# Try it: tests/pg/cluster.sh sh -c 'psql "$TEST_INVOIS_PG" -c "select version()"'
set -euo pipefail

if_missing=fail
proof=
while [ $# -gt 0 ]; do
  case "$1" in
    --if-missing=fail | --if-missing=skip) if_missing=${1#--if-missing=}; shift ;;
    --proof) proof=${2:?--proof needs a file}; shift 2 ;;
    --) shift; break ;;
    -*) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "usage: tests/pg/cluster.sh [--if-missing=fail|skip] [--proof FILE] [--] CMD [ARG...]" >&2
  exit 2
fi

bindir=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
if [ -z "$bindir" ] && command -v pg_config >/dev/null; then
  d=$(pg_config --bindir 2>/dev/null || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; fi
fi
if [ -z "$bindir" ] && command -v initdb >/dev/null; then
  d=$(dirname "$(readlink -f "$(command -v initdb)")")
  if [ -x "$d/pg_ctl" ]; then bindir=$d; fi
fi
if [ -z "$bindir" ]; then
  why="no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin, pg_config --bindir or PATH; install them with: apt install postgresql"
  if [ "$if_missing" = skip ] && [ "${CI:-}" != true ]; then
    echo "PostgreSQL run skipped: $why"
    exit 0
  fi
  if [ "${CI:-}" = true ]; then
    echo "PostgreSQL run impossible, and CI=true requires it: $why" >&2
  else
    echo "PostgreSQL run impossible: $why" >&2
  fi
  exit 3
fi

if [ "$(id -u)" -eq 0 ]; then
  as_pg=(runuser -u postgres --)
else
  as_pg=()
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/invois-pg.XXXXXX")
child=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$child" ] && kill -0 -- "-$child" 2>/dev/null; then
    kill -TERM -- "-$child" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 -- "-$child" 2>/dev/null || break
      sleep 0.3
    done
    kill -KILL -- "-$child" 2>/dev/null || true
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    local pid
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -rf -- "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${#as_pg[@]}" -gt 0 ]; then chown postgres: "$dir"; fi
# C.UTF-8 where the system has it: a UTF-8 LC_CTYPE lets pg_trgm index non-ASCII letters
# (sql/postgres/README.md); the columns' collation is "C" either way.
locale=C
if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale=C.UTF-8; fi
if ! "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" --auth=trust -U postgres --encoding=UTF8 \
  --locale="$locale" --no-sync >"$dir/initdb.log" 2>&1; then
  echo "cluster.sh: initdb failed:" >&2
  tail -n 20 "$dir/initdb.log" >&2
  exit 1
fi

# A port nobody listens on; if another process takes it before the server binds it, try again.
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=
for _attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  port_is_free "$port" || continue
  if "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
    "-p $port -h 127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null 2>&1; then
    started=1
    break
  fi
  grep -q "could not bind\|already in use" "$dir/server.log" 2>/dev/null || break
done
if [ -z "$started" ] || ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30; then
  echo "cluster.sh: the PostgreSQL server did not start; the end of its log:" >&2
  tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
  exit 1
fi

export TEST_INVOIS_PG="postgres://postgres@127.0.0.1:$port/postgres"
if [ -n "$proof" ]; then
  mkdir -p "$(dirname "$proof")"
  proof=$(cd "$(dirname "$proof")" && pwd)/$(basename "$proof")
  rm -f -- "$proof"
  export TEST_INVOIS_PG_PROOF="$proof"
fi
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $TEST_INVOIS_PG (throwaway cluster in $dir)"

# In a session of its own so that INT/TERM here can end CMD and everything it started; the
# `wait` returns at once when a trapped signal arrives (a foreground command would not).
setsid "$@" &
child=$!
set +e
wait "$child"
status=$?
set -e
child=

if [ "$status" -ne 0 ]; then
  cp -- "$dir/server.log" "${TMPDIR:-/tmp}/invois-pg-server.log" 2>/dev/null &&
    echo "cluster.sh: CMD failed ($status); server log copied to ${TMPDIR:-/tmp}/invois-pg-server.log" >&2
  exit "$status"
fi
if [ -n "$proof" ] && [ ! -s "$proof" ]; then
  echo "cluster.sh: CMD passed but nothing proved it ran on PostgreSQL ($proof was not written by engines::the_postgres_run_happened_when_ci_asks_for_it)" >&2
  exit 1
fi
exit 0
