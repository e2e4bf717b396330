"""The reference REST API of the ticket tracker.

Its OpenAPI document (`/openapi.json`) is the contract a real tracker implements for the tickets
MCP server; the server talks to whichever is configured only through this contract.

`POST /tickets` honours an `Idempotency-Key` header: the first request with a key creates the
ticket (201), a repeat with the same body returns that ticket (200), and a repeat with a
different body is refused (409).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query, Response

from mcp_common.database import Database
from mcp_common.errors import Conflict
from mcp_tickets import VERSION
from mcp_tickets.models import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY,
    MAX_PAGE,
    Status,
    Ticket,
    TicketDraft,
    TicketPage,
)
from mcp_tickets.tracker import EmbeddedTracker


def build_api(database: Database) -> FastAPI:
    """The tracker API over `database` (opened by the caller's lifespan)."""
    api = FastAPI(title="Ticket tracker API", version=VERSION)
    tracker = EmbeddedTracker(database)

    @api.get("/health")
    async def health() -> dict[str, str]:
        await database.check()
        return {"status": "ok"}

    @api.post(
        "/tickets",
        response_model=Ticket,
        status_code=201,
        responses={
            200: {"model": Ticket, "description": "Replay: the ticket this Idempotency-Key made"},
            409: {"description": "The Idempotency-Key was used before with a different body"},
        },
    )
    async def create_ticket(
        draft: TicketDraft,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=MAX_IDEMPOTENCY_KEY,
                pattern=IDEMPOTENCY_KEY_PATTERN,
                description="Makes retries safe: the same key and body return the same ticket.",
            ),
        ] = None,
    ) -> Ticket:
        try:
            ticket, created = await tracker.create_or_replay(draft, idempotency_key)
        except Conflict as exc:
            raise HTTPException(409, detail=exc.message) from exc
        if not created:
            response.status_code = 200
        return ticket

    @api.get("/tickets", response_model=TicketPage)
    async def list_tickets(
        status: Annotated[Status | None, Query()] = None,
        skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
    ) -> TicketPage:
        return await tracker.list_tickets(status, skip, limit)

    return api
