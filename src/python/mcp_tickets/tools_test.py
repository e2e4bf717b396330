"""The tools against the real API behind a gateway that loses a response: who may retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_common.database import Database
from mcp_common.errors import UpstreamError
from mcp_common.rest import RestClient
from mcp_tickets import store
from mcp_tickets.api import build_api
from mcp_tickets.models import CreateTicketInput, ListTicketsInput
from mcp_tickets.tools import build_tools
from mcp_tickets.tracker import RestTracker

pytestmark = pytest.mark.anyio

FIELDS: dict[str, Any] = {
    "title": "Projector has no signal",
    "description": "HDMI in room 4.2 shows nothing.",
    "priority": "medium",
}


def lose_first_post_response(app: ASGIApp) -> ASGIApp:
    """The first POST reaches the API (the ticket is made) but its caller gets a 503."""
    lost = False

    async def gateway(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal lost
        if scope["type"] == "http" and scope["method"] == "POST" and not lost:
            lost = True

            async def drop(message: Message) -> None:
                return None

            await app(scope, receive, drop)
            await PlainTextResponse("upstream timed out", status_code=503)(scope, receive, send)
            return
        await app(scope, receive, send)

    return gateway


@pytest.fixture
async def tools(database_url: str) -> AsyncIterator[dict[str, Any]]:
    database = Database(database_url, store.metadata, store.seed)
    async with database.lifespan():
        transport = httpx.ASGITransport(app=lose_first_post_response(build_api(database)))
        rest = RestClient("tickets", "http://tickets", transport=transport, backoff_seconds=0.0)
        try:
            yield {spec.name: spec.handler for spec in build_tools(RestTracker(rest))}
        finally:
            await rest.aclose()


async def test_a_keyed_create_is_retried_and_makes_one_ticket(tools: dict[str, Any]) -> None:
    ticket = await tools["create_ticket"](CreateTicketInput(**FIELDS, idempotency_key="lost-1"))
    page = await tools["list_tickets"](ListTicketsInput(limit=100))
    assert page.total == 9
    assert page.items[0] == ticket


async def test_an_unkeyed_create_is_not_resent(tools: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError, match="HTTP 503"):
        await tools["create_ticket"](CreateTicketInput(**FIELDS))
    page = await tools["list_tickets"](ListTicketsInput(status="open", limit=100))
    # The lost attempt did open the ticket; resending it blindly would have opened a second.
    assert page.total == 4
    assert [ticket.title for ticket in page.items].count(FIELDS["title"]) == 1
