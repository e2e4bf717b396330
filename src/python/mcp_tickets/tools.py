"""The tickets tools, over a tracker (its REST API, or the embedded one in-process)."""

from __future__ import annotations

from mcp_common.caller import end_user
from mcp_common.tools import ToolSpec
from mcp_tickets.models import (
    APPLICATION,
    MAX_PAGE,
    CreateTicketInput,
    ListTicketsInput,
    Ticket,
    TicketDraft,
    TicketPage,
    Viewer,
)
from mcp_tickets.tracker import Tracker


def viewer() -> Viewer:
    """The person the call is for (`mcp_common.caller.end_user`), else the application."""
    user = end_user()
    if user is None or not user.delegated:
        return APPLICATION
    return Viewer.person(user.object_id, user.name, user.roles)


def build_tools(
    tracker: Tracker,
) -> list[ToolSpec[CreateTicketInput, Ticket] | ToolSpec[ListTicketsInput, TicketPage]]:
    async def create_ticket(args: CreateTicketInput) -> Ticket:
        draft = TicketDraft.model_validate(args.model_dump(exclude={"idempotency_key"}))
        return await tracker.create_ticket(draft, args.idempotency_key, viewer())

    async def list_tickets(args: ListTicketsInput) -> TicketPage:
        return await tracker.list_tickets(
            args.status, args.skip, args.limit, viewer(), args.reporter == "me"
        )

    return [
        ToolSpec(
            name="create_ticket",
            title="Create ticket",
            description=(
                "Open a new support ticket with a title, a description and a priority (low, "
                "medium, high or critical); it starts with status open. Returns the ticket with "
                "its ticket_id (e.g. T-000123) and created_at. Pass an idempotency_key (e.g. a "
                "UUID you generate) and reuse it if you retry after an error or timeout: the "
                "retry returns the same ticket instead of opening a duplicate. Reusing a key "
                "with a different title, description or priority fails with conflict."
            ),
            input_model=CreateTicketInput,
            output_model=Ticket,
            handler=create_ticket,
            read_only=False,
            destructive=False,
            # Honest hint: without a key, calling twice opens two tickets.
            idempotent=False,
            open_world=False,
        ),
        ToolSpec(
            name="list_tickets",
            title="List tickets",
            description=(
                "List support tickets, newest first, one page at a time; set status to open, "
                "in_progress, resolved or closed to see only those (omit or null for all), and "
                "reporter to me to see only tickets you opened (without the Tickets.ReadAll role "
                "you only ever see your own). "
                f"Returns the page (limit 1 to {MAX_PAGE}, default 10), the total matching the "
                "filter and has_more; pass skip=skip+limit to get the next page."
            ),
            input_model=ListTicketsInput,
            output_model=TicketPage,
            handler=list_tickets,
            read_only=True,
            idempotent=True,
        ),
    ]
