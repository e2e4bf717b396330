"""Builds the tickets MCP server's ASGI app."""

from __future__ import annotations

from starlette.types import ASGIApp

from mcp_common.database import Database
from mcp_common.domain import build_domain_app
from mcp_tickets import VERSION, store
from mcp_tickets.api import build_api
from mcp_tickets.settings import TicketsSettings
from mcp_tickets.tools import build_tools

INSTRUCTIONS = (
    "Support ticket tracker. create_ticket opens a ticket (title, description, priority); pass an "
    "idempotency_key you make up and reuse it when retrying, so a retry never opens a duplicate. "
    "list_tickets pages through tickets, newest first, optionally only those with one status."
)


def build_app(settings: TicketsSettings) -> ASGIApp:
    return build_domain_app(
        settings,
        domain="tickets",
        version=VERSION,
        instructions=INSTRUCTIONS,
        tools=build_tools,
        reference_api=build_api,
        database=Database(settings.database_url, store.metadata, store.seed),
    )
