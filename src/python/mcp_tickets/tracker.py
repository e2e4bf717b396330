"""The ticket tracker as the tools see it, over REST or in-process.

`RestTracker` calls a tracker's REST API (the contract in `api.py`), as on AKS.
`EmbeddedTracker` is the reference implementation's service layer over its own database: the
embedded REST API serves it, and the tools call it directly when no `api_url` is configured
(no HTTP hop inside one process). Both answer the same bodies and fail the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

from mcp_common.database import Database
from mcp_common.errors import Conflict
from mcp_common.rest import RestClient
from mcp_tickets import store
from mcp_tickets.models import Status, Ticket, TicketDraft, TicketPage


class Tracker(Protocol):
    async def create_ticket(self, draft: TicketDraft, idempotency_key: str | None) -> Ticket:
        """Raises: Conflict (the key was used for another body), or another ToolFailure."""
        ...

    async def list_tickets(self, status: Status | None, skip: int, limit: int) -> TicketPage: ...


class RestTracker:
    """A tracker behind its REST API."""

    def __init__(self, api: RestClient) -> None:
        self._api = api

    async def create_ticket(self, draft: TicketDraft, idempotency_key: str | None) -> Ticket:
        # A keyed create is safe to resend (the API replays it); an unkeyed one is sent once.
        body = await self._api.request(
            "POST",
            "/tickets",
            json=draft.model_dump(mode="json"),
            headers={"Idempotency-Key": idempotency_key} if idempotency_key else None,
            idempotent=idempotency_key is not None,
        )
        return Ticket.model_validate(body)

    async def list_tickets(self, status: Status | None, skip: int, limit: int) -> TicketPage:
        params: dict[str, Any] = {"skip": skip, "limit": limit}
        if status is not None:
            params["status"] = status
        body = await self._api.get("/tickets", params=params)
        return TicketPage.model_validate(body)


class EmbeddedTracker:
    """The reference tracker over `database` (opened by the app's lifespan)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create_ticket(self, draft: TicketDraft, idempotency_key: str | None) -> Ticket:
        ticket, _ = await self.create_or_replay(draft, idempotency_key)
        return ticket

    async def create_or_replay(
        self, draft: TicketDraft, idempotency_key: str | None
    ) -> tuple[Ticket, bool]:
        """The ticket, and True when it was created now (False: a replay of the key's ticket).

        Raises:
            Conflict: the key was used before for a different body.
        """
        try:
            return await store.create_ticket(self._database.engine, draft, idempotency_key)
        except store.IdempotencyConflict as exc:
            raise Conflict(str(exc)) from exc

    async def list_tickets(self, status: Status | None, skip: int, limit: int) -> TicketPage:
        async with self._database.read() as connection:
            return await store.list_tickets(connection, status, skip, limit)
