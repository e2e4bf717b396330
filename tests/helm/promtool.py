"""The real promtool (Debian's `prometheus`), for the alert and dashboard tests. Required,
not optional: without it those tests fail, saying how to install it."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not on PATH: install Debian's prometheus package "
            "(apt-get install -y prometheus); the alert tests need the real one"
        )
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, check=False)
