"""The reference REST API of the ticket tracker.

Its OpenAPI document (`/openapi.json`) is the contract a real tracker implements for the tickets
MCP server; the server talks to whichever is configured only through this contract.

Who is asking is the request's token (the guard's principal): a person (a delegated token,
e.g. the tickets MCP server's on-behalf-of token for them) is recorded as the reporter of
what they open, and sees only the tickets they opened unless they hold `Tickets.ReadAll`;
`GET /tickets?reporter=me` lists only their own. An application's own token sees every
ticket and opens tickets with no reporter.

`POST /tickets` honours an `Idempotency-Key` header: the first request with a key creates the
ticket (201), a repeat with the same body returns that ticket (200), and a repeat with a
different body is refused (409).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request, Response

from mcp_common.database import Database
from mcp_common.errors import Conflict, InvalidArgument
from mcp_common.guard import principal_of
from mcp_tickets import VERSION
from mcp_tickets.models import (
    APPLICATION,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY,
    MAX_PAGE,
    Status,
    Ticket,
    TicketDraft,
    TicketPage,
    Viewer,
)
from mcp_tickets.tracker import EmbeddedTracker


def viewer_of(request: Request) -> Viewer:
    """A delegated token's person, else the application calling as itself."""
    principal = principal_of(request.scope)
    if not principal.authenticated or not principal.scopes:
        return APPLICATION
    return Viewer.person(principal.object_id or principal.subject, principal.name, principal.roles)


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
        request: Request,
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
            ticket, created = await tracker.create_or_replay(
                draft, idempotency_key, viewer_of(request)
            )
        except Conflict as exc:
            raise HTTPException(409, detail=exc.message) from exc
        if not created:
            response.status_code = 200
        return ticket

    @api.get("/tickets", response_model=TicketPage)
    async def list_tickets(
        request: Request,
        status: Annotated[Status | None, Query()] = None,
        reporter: Annotated[
            Literal["me"] | None,
            Query(description="me: only the caller's own tickets (a person's token)"),
        ] = None,
        skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
    ) -> TicketPage:
        try:
            return await tracker.list_tickets(
                status, skip, limit, viewer_of(request), reporter == "me"
            )
        except InvalidArgument as exc:
            raise HTTPException(400, detail=exc.message) from exc

    return api
