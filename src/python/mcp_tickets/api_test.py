"""The reference REST API served for real: status codes of idempotent creation and validation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from mcp_common.database import Database
from mcp_testkit.testing import serve
from mcp_tickets import store
from mcp_tickets.api import build_api

pytestmark = pytest.mark.anyio

BODY = {
    "title": "Keyboard missing keys",
    "description": "The Q and W keys fell off.",
    "priority": "low",
}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    database = Database(database_url, store.metadata, store.seed)
    async with database.lifespan():
        async with serve(build_api(database)) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                yield http


async def test_a_keyed_create_is_201_then_200_then_409_for_another_body(
    api: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": "order-2025-03-12:kbd"}
    created = await api.post("/tickets", json=BODY, headers=key)
    replayed = await api.post("/tickets", json=BODY, headers=key)
    refused = await api.post("/tickets", json={**BODY, "priority": "high"}, headers=key)
    listed = await api.get("/tickets", params={"limit": 1})
    assert created.status_code == 201
    assert created.json()["status"] == "open"
    assert replayed.status_code == 200
    assert replayed.json() == created.json()
    assert refused.status_code == 409
    assert "order-2025-03-12:kbd" in refused.json()["detail"]
    assert listed.json()["total"] == 9


async def test_unkeyed_creates_each_make_a_ticket(api: httpx.AsyncClient) -> None:
    first = await api.post("/tickets", json=BODY)
    second = await api.post("/tickets", json=BODY)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["ticket_id"] != second.json()["ticket_id"]


async def test_concurrent_keyed_posts_make_one_ticket(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "burst-1"}
    responses = await asyncio.gather(
        *(api.post("/tickets", json=BODY, headers=key) for _ in range(10))
    )
    assert sorted(response.status_code for response in responses) == [200] * 9 + [201]
    assert len({response.json()["ticket_id"] for response in responses}) == 1
    assert (await api.get("/tickets")).json()["total"] == 9


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({**BODY, "title": " "}, {}, "title"),
        ({**BODY, "priority": "urgent"}, {}, "priority"),
        ({**BODY, "assignee": "u-0001"}, {}, "assignee"),
        (BODY, {"Idempotency-Key": "no spaces allowed"}, "Idempotency-Key"),
        (BODY, {"Idempotency-Key": "k" * 129}, "Idempotency-Key"),
    ],
)
async def test_invalid_creates_are_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, str], headers: dict[str, str], field: str
) -> None:
    response = await api.post("/tickets", json=body, headers=headers)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])
    assert (await api.get("/tickets")).json()["total"] == 8


async def test_list_rejects_an_unknown_status(api: httpx.AsyncClient) -> None:
    response = await api.get("/tickets", params={"status": "pending"})
    assert response.status_code == 422
