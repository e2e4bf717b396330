"""Settings of the tickets server (environment prefix `MCP_TICKETS_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mcp_common.settings import DomainSettings


class TicketsSettings(DomainSettings):
    model_config = SettingsConfigDict(env_prefix="MCP_TICKETS_", extra="ignore", frozen=True)

    service_name: str = "mcp-tickets"
    port: int = Field(default=8102, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/tickets.sqlite3"
