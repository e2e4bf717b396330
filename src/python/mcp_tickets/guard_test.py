"""The tickets server's embedded /api behind the same guard as /mcp: DNS rebinding, body size.

A page on another site, resolved to 127.0.0.1 (DNS rebinding), sends its own Host and Origin:
before the guard covered every route, it could read /api and create tickets there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mcp_testkit.testing import serve
from mcp_tickets.app import build_app
from mcp_tickets.settings import TicketsSettings

pytestmark = pytest.mark.anyio

BODY = {"title": "Rebound", "description": "from a hostile page", "priority": "low"}


@pytest.fixture
async def tickets(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = TicketsSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/tickets.sqlite3", demo=True
    )
    async with serve(build_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def _count(http: httpx.AsyncClient) -> int:
    total: int = (await http.get("/api/tickets", params={"limit": 1})).json()["total"]
    return total


async def test_a_foreign_host_or_origin_cannot_read_or_write_the_api(
    tickets: httpx.AsyncClient,
) -> None:
    before = await _count(tickets)
    rebound = await tickets.get("/api/tickets", headers={"Host": "evil.example:8102"})
    cross_site = await tickets.post(
        "/api/tickets", json=BODY, headers={"Origin": "http://evil.example"}
    )
    assert rebound.status_code == 421
    assert "ALLOWED_HOSTS" in rebound.json()["error_description"]
    assert cross_site.status_code == 403
    assert "ALLOWED_ORIGINS" in cross_site.json()["error_description"]
    assert await _count(tickets) == before, "nothing was created"
    same_site = await tickets.post(
        "/api/tickets", json=BODY, headers={"Origin": "http://127.0.0.1:3000"}
    )
    assert same_site.status_code == 201


async def test_an_oversized_body_is_413_before_the_api_reads_it(
    tickets: httpx.AsyncClient,
) -> None:
    before = await _count(tickets)
    huge = {**BODY, "description": "x" * (5 * 1024 * 1024)}
    response = await tickets.post("/api/tickets", json=huge)
    assert response.status_code == 413
    assert "over the limit" in response.json()["error_description"]
    assert await _count(tickets) == before


async def test_health_answers_any_host_for_the_kubelet(tickets: httpx.AsyncClient) -> None:
    live = await tickets.get("/health/live", headers={"Host": "10.244.1.17:8102"})
    assert live.status_code == 200
