"""The ticket tracker as the tools see it, over REST or in-process.

`RestTracker` calls a tracker's REST API (the contract in `api.py`), as on AKS.
`EmbeddedTracker` is the reference implementation's service layer over its own database: the
embedded REST API serves it, and the tools call it directly when no `api_url` is configured
(no HTTP hop inside one process). Both answer the same bodies and fail the same way.

Who may see what is the tracker's decision, made for a `Viewer`: a person sees only the
tickets they opened unless they hold the `Tickets.ReadAll` role; an application calling as
itself sees every ticket. Over REST the tracker learns the viewer from the token (the end
user's own, exchanged on-behalf-of, or the domain's); in-process the tools pass the end user
the call is for. A ticket a person opens records them as its reporter.
"""

from __future__ import annotations

from typing import Any, Protocol

from mcp_common.database import Database
from mcp_common.errors import Conflict, InvalidArgument
from mcp_common.rest import RestClient
from mcp_tickets import store
from mcp_tickets.models import Status, Ticket, TicketDraft, TicketPage, Viewer


class Tracker(Protocol):
    async def create_ticket(
        self, draft: TicketDraft, idempotency_key: str | None, viewer: Viewer
    ) -> Ticket:
        """Raises: Conflict (the key was used for another body), or another ToolFailure."""
        ...

    async def list_tickets(
        self, status: Status | None, skip: int, limit: int, viewer: Viewer, mine: bool
    ) -> TicketPage:
        """Raises: InvalidArgument (`mine` for an application), or another ToolFailure."""
        ...


class RestTracker:
    """A tracker behind its REST API; it knows the viewer from the request's token."""

    def __init__(self, api: RestClient) -> None:
        self._api = api

    async def create_ticket(
        self, draft: TicketDraft, idempotency_key: str | None, viewer: Viewer
    ) -> Ticket:
        # A keyed create is safe to resend (the API replays it); an unkeyed one is sent once.
        body = await self._api.request(
            "POST",
            "/tickets",
            json=draft.model_dump(mode="json"),
            headers={"Idempotency-Key": idempotency_key} if idempotency_key else None,
            idempotent=idempotency_key is not None,
        )
        return Ticket.model_validate(body)

    async def list_tickets(
        self, status: Status | None, skip: int, limit: int, viewer: Viewer, mine: bool
    ) -> TicketPage:
        params: dict[str, Any] = {"skip": skip, "limit": limit}
        if status is not None:
            params["status"] = status
        if mine:
            params["reporter"] = "me"
        body = await self._api.get("/tickets", params=params)
        return TicketPage.model_validate(body)


class EmbeddedTracker:
    """The reference tracker over `database` (opened by the app's lifespan)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create_ticket(
        self, draft: TicketDraft, idempotency_key: str | None, viewer: Viewer
    ) -> Ticket:
        ticket, _ = await self.create_or_replay(draft, idempotency_key, viewer)
        return ticket

    async def create_or_replay(
        self, draft: TicketDraft, idempotency_key: str | None, viewer: Viewer
    ) -> tuple[Ticket, bool]:
        """The ticket, and True when it was created now (False: a replay of the key's ticket).

        Raises:
            Conflict: the key was used before for a different body.
        """
        try:
            ticket, created = await store.create_ticket(
                self._database.engine, draft, idempotency_key, viewer.reporter
            )
        except store.IdempotencyConflict as exc:
            raise Conflict(str(exc)) from exc
        if not created and not viewer.read_all:
            mine = ticket.reporter is not None and ticket.reporter.object_id == viewer.object_id
            if not mine:
                # A replay must not show one person's ticket to another.
                raise Conflict(
                    f"idempotency key {idempotency_key!r} was already used by someone else; "
                    "use a new key for a new ticket"
                )
        return ticket, created

    async def list_tickets(
        self, status: Status | None, skip: int, limit: int, viewer: Viewer, mine: bool
    ) -> TicketPage:
        try:
            reporter = viewer.visible_reporter(mine)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        async with self._database.read() as connection:
            return await store.list_tickets(connection, status, skip, limit, reporter)
