"""Fixtures of the server-everything suite: the anyio backend and a running server-everything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from everything.aggregated import aggregator_in_front
from everything.everything import running_everything


@pytest.fixture
def anyio_backend() -> str:
    # uvicorn (mcp_testkit.testing.serve) runs on asyncio.
    return "asyncio"


@pytest.fixture
async def everything_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh server-everything process (its MCP URL), killed after the test."""
    async with running_everything(tmp_path / "everything") as url:
        yield url


@pytest.fixture
async def aggregated_url(everything_url: str) -> AsyncIterator[str]:
    """The aggregator's MCP URL, with server-everything as its per-client upstream."""
    async with aggregator_in_front(everything_url) as url:
        yield url
