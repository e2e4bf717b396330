"""Pytest configuration shared by every package under src/python."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from mcp_testkit.postgres import create_database, find_postgres_bin, postgres_server


@pytest.fixture
def anyio_backend() -> str:
    # The services run on asyncio (uvicorn); tests run there too.
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One real PostgreSQL server per test process (skipped where none is installed, except in CI)."""
    if find_postgres_bin() is None:
        if os.environ.get("MCP_REQUIRE_POSTGRES") == "1":
            pytest.fail("MCP_REQUIRE_POSTGRES=1 but no PostgreSQL server is installed")
        pytest.skip("no PostgreSQL server installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A fresh, empty database: a SQLite file, then a PostgreSQL database (every test runs on both)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3"
    server = request.getfixturevalue("postgres_server_url")
    return create_database(server, f"test_{uuid.uuid4().hex[:12]}")
