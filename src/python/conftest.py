"""Pytest configuration shared by every package under src/python."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The services run on asyncio (uvicorn); tests run there too.
    return "asyncio"
