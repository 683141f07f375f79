#!/usr/bin/env python3
"""Entry point of the OpenAPI checks: makes sure the venv exists, then runs a script in it.

    python3 tests/python/run_checks.py check_openapi.py --base-url http://127.0.0.1:8080 --api-key KEY
    python3 tests/python/run_checks.py selftest.py

The first argument names a script of this folder; the others are passed on to it (see its
--help). Standard library only, so that it runs on the system's python3 before anything is
installed.

The venv lives in target/pyvenv (INVOIS_PYVENV overrides) and is built once: its marker file
holds a hash of requirements.txt and of the Python version, and a run whose hash matches reuses
the venv as it is. Concurrent runs (two test binaries, two worktrees sharing a target/) take an
exclusive lock file beside the venv, so one builds while the others wait. Every wait is
bounded: the lock (INVOIS_PYVENV_LOCK_TIMEOUT, default 900 s) and pip (600 s).

Exit codes: what the script returned (0 all checks passed, 1 a check failed, 2 usage),
or 3 when the environment cannot provide the tools (no venv module, PyPI unreachable, ...):
the caller decides whether that is a failure (CI) or a skip (a laptop without PyPI).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
MARKER = "invois-requirements.sha256"
PIP_TIMEOUT_S = 600
UNAVAILABLE = 3


class Unavailable(Exception):
    """The machine cannot provide the tools; the message says what is missing."""


def venv_dir() -> Path:
    return Path(os.environ.get("INVOIS_PYVENV", ROOT / "target" / "pyvenv"))


def wanted_hash(requirements: Path = REQUIREMENTS) -> str:
    h = hashlib.sha256()
    h.update(requirements.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def is_ready(venv: Path, digest: str) -> bool:
    marker = venv / MARKER
    return marker.is_file() and marker.read_text().strip() == digest and venv_python(venv).exists()


def lock(path: Path, timeout_s: float):
    """An exclusive lock on `path`, waited for at most `timeout_s` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "w")
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() > deadline:
                fh.close()
                raise Unavailable(
                    f"waited {timeout_s:.0f} s for {path}: another run holds it while it builds "
                    "the venv; let that run finish (or end it) and retry"
                ) from None
            if not announced:
                print(f"run_checks: waiting for {path} ...", file=sys.stderr, flush=True)
                announced = True
            time.sleep(0.5)


def build(venv: Path, digest: str, requirements: Path = REQUIREMENTS) -> None:
    print(
        f"run_checks: building {venv} (once; later runs reuse it) ...", file=sys.stderr, flush=True
    )
    started = time.monotonic()
    # The marker goes first and is written last: an interrupted build is never taken as ready.
    shutil.rmtree(venv, ignore_errors=True)
    try:
        import ensurepip  # noqa: F401
        import venv as venv_module  # noqa: F401  (only to fail early with a clear message)
    except ImportError as e:
        raise Unavailable(
            f"python3 has no venv/ensurepip module ({e}); install python3-venv"
        ) from e
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)],
            check=True,
            timeout=PIP_TIMEOUT_S,
            stdout=subprocess.DEVNULL,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"`python3 -m venv {venv}` failed ({e}); install python3-venv") from e
    pip = [
        str(venv_python(venv)),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--timeout",
        "60",
        "-r",
        str(requirements),
    ]
    try:
        subprocess.run(pip, check=True, timeout=PIP_TIMEOUT_S)
    except subprocess.CalledProcessError as e:
        raise Unavailable(
            f"pip could not install {requirements} (exit {e.returncode}; output above); "
            "is PyPI reachable?"
        ) from e
    except subprocess.TimeoutExpired as e:
        raise Unavailable(f"pip install took over {PIP_TIMEOUT_S} s; is PyPI reachable?") from e
    (venv / MARKER).write_text(digest + "\n")
    print(
        f"run_checks: venv ready in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True
    )


def ensure_venv(venv: Path | None = None, requirements: Path = REQUIREMENTS) -> Path:
    """The venv at `venv` (default: venv_dir()) with `requirements` installed, built if needed.
    tests/browser/run_browser.py calls it for its own venv and requirements."""
    venv = venv or venv_dir()
    digest = wanted_hash(requirements)
    timeout_s = float(os.environ.get("INVOIS_PYVENV_LOCK_TIMEOUT", "900"))
    held = lock(venv.parent / (venv.name + ".lock"), timeout_s)
    try:
        if not is_ready(venv, digest):
            build(venv, digest, requirements)
    finally:
        held.close()
    return venv


SCRIPTS = ("check_openapi.py", "selftest.py")


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in SCRIPTS:
        print(f"usage: run_checks.py {{{'|'.join(SCRIPTS)}}} [ARGS...]", file=sys.stderr)
        return 2
    try:
        venv = ensure_venv()
    except Unavailable as e:
        print(f"run_checks: TOOLS UNAVAILABLE: {e}", file=sys.stderr, flush=True)
        return UNAVAILABLE
    cmd = [str(venv_python(venv)), str(HERE / sys.argv[1]), *sys.argv[2:]]
    # The working directory is the script's own folder, never the generated package's: a
    # generated `types.py` on the path would shadow the standard library's.
    # No __pycache__ beside the scripts in the work tree.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(cmd, cwd=HERE, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
