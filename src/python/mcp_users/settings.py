"""Settings of the users server (environment prefix `MCP_USERS_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mcp_common.settings import DomainSettings


class UsersSettings(DomainSettings):
    model_config = SettingsConfigDict(env_prefix="MCP_USERS_", extra="ignore", frozen=True)

    service_name: str = "mcp-users"
    port: int = Field(default=8101, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/users.sqlite3"
