"""Settings of the data server (environment prefix `MCP_DATA_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mcp_common.settings import DomainSettings


class DataSettings(DomainSettings):
    model_config = SettingsConfigDict(env_prefix="MCP_DATA_", extra="ignore", frozen=True)

    service_name: str = "mcp-data"
    port: int = Field(default=8103, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/data.sqlite3"
    datasets_file: str | None = Field(
        default=None,
        description="YAML file declaring the datasets (see mcp_data/datasets.yaml for the "
        "shape). Unset: the demo catalog shipped in the package.",
    )
