"""`whistle` as a person runs it: the command line in a subprocess, run to its end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Done = subprocess.CompletedProcess[str]


def whistle(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Done:
    """`whistle ARGS` in `cwd` (at most a minute), its exit code and output captured. The
    environment is this one without its WHISTLE_ settings, then `env` on top: a test sees
    only the settings it gives, whatever the developer's shell holds."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def whistle_in(cwd: Path, env: Mapping[str, str] | None = None) -> Callable[..., Done]:
    """`whistle` bound to one folder and one set of settings, for a test of several commands."""

    def run(*args: str) -> Done:
        return whistle(cwd, *args, env=env)

    return run
