#!/usr/bin/env python3
"""Entry point of the webhook receiver: makes sure its venv exists, then runs receiver.py in it.

    python3 tests/webhooks/run_receiver.py

Standard library only, so that it runs on the system's python3 before anything is installed.
The venv lives in target/pyvenv-webhooks, built once from tests/webhooks/requirements.txt by
the same code (lock, marker, bounded waits) as the OpenAPI checks' venv
(tests/python/run_checks.py); a venv of its own so that changing one requirements file does not
rebuild the others.

Exit codes: what receiver.py returned (0 after its stdin closed), or 3 when the machine cannot
provide the library (no venv module, PyPI unreachable): the caller decides whether that is a
failure (CI) or a skip.
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

VENV = ROOT / "target" / "pyvenv-webhooks"


def main() -> int:
    try:
        venv = run_checks.ensure_venv(VENV, HERE / "requirements.txt")
    except run_checks.Unavailable as e:
        print(f"run_receiver: TOOLS UNAVAILABLE: {e}", file=sys.stderr, flush=True)
        return run_checks.UNAVAILABLE
    cmd = [str(run_checks.venv_python(venv)), str(HERE / "receiver.py"), *sys.argv[1:]]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, cwd=HERE, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
