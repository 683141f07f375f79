#!/usr/bin/env python3
"""Entry point of the browser tests: makes sure their venv exists, then runs the test in it.

    python3 tests/browser/run_browser.py --base http://127.0.0.1:8080 \
        --email ops@example.com --password-file FILE [--screenshots docs/screenshots] ...

Every argument is passed on to console_test.py (see its --help). Standard library only, so
that it runs on the system's python3 before anything is installed.

The venv lives in target/pyvenv-browser, built once from tests/browser/requirements.txt by the
same code (and with the same lock, marker and bounded waits) as the OpenAPI checks' venv
(tests/python/run_checks.py, target/pyvenv); it is a venv of its own so that changing one
requirements file does not rebuild the other.

The browser is Debian's chromium (`--chromium PATH`, default /usr/bin/chromium).

Exit codes: what console_test.py returned (0 every step passed, 1 a step failed, 2 usage), or
3 when the machine cannot provide the tools (no chromium, no venv module, PyPI unreachable):
the caller decides whether that is a failure (CI) or a skip (a laptop without chromium).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.dont_write_bytecode = True  # no __pycache__ in the work tree

import run_checks  # (after sys.path: the OpenAPI checks' venv builder)

VENV = ROOT / "target" / "pyvenv-browser"
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def chromium_path(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--chromium" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--chromium="):
            return a.split("=", 1)[1]
    return DEFAULT_CHROMIUM


def main() -> int:
    argv = sys.argv[1:]
    chromium = chromium_path(argv)
    if not os.access(chromium, os.X_OK):
        print(
            f"run_browser: TOOLS UNAVAILABLE: no browser at {chromium}; install Debian's "
            "chromium (apt install chromium)",
            file=sys.stderr,
            flush=True,
        )
        return run_checks.UNAVAILABLE
    try:
        venv = run_checks.ensure_venv(VENV, HERE / "requirements.txt")
    except run_checks.Unavailable as e:
        print(f"run_browser: TOOLS UNAVAILABLE: {e}", file=sys.stderr, flush=True)
        return run_checks.UNAVAILABLE
    cmd = [str(run_checks.venv_python(venv)), str(HERE / "console_test.py"), *argv]
    # No __pycache__ beside the scripts in the work tree.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(cmd, cwd=HERE, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
