"""Builds the users MCP server's ASGI app."""

from __future__ import annotations

from starlette.types import ASGIApp

from mcp_common.database import Database
from mcp_common.domain import build_domain_app
from mcp_users import VERSION, store
from mcp_users.api import build_api
from mcp_users.settings import UsersSettings
from mcp_users.tools import build_tools

INSTRUCTIONS = (
    "Company directory. list_users pages through everyone; get_user_profile returns one person "
    "by user_id, with include_details=true for phone, location, manager and groups."
)


def build_app(settings: UsersSettings) -> ASGIApp:
    return build_domain_app(
        settings,
        domain="users",
        version=VERSION,
        instructions=INSTRUCTIONS,
        tools=build_tools,
        reference_api=build_api,
        database=Database(settings.database_url, store.metadata, store.seed),
    )
