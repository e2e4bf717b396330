"""Typed service settings read from the environment.

Every service has one `Settings` class (a subclass of `ServiceSettings`) built once at start
and passed down. Each field has a default that works on a laptop with no cloud, and each maps
to one environment variable (`<PREFIX>_<FIELD>`), which is what the Helm charts set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["json", "text"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ServiceSettings(BaseSettings):
    """Settings every service shares. Subclasses set `model_config`'s `env_prefix`."""

    model_config = SettingsConfigDict(env_prefix="MCP_", extra="ignore", frozen=True)

    service_name: str = Field(
        default="mcp-service", description="Name in logs, traces and metrics."
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(
        default=8100, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces). "
        "Unset: spans are still made (trace ids in logs) but exported nowhere.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1:*", "localhost:*", "[::1]:*"],
        description="Host headers the MCP endpoint accepts (DNS-rebinding protection).",
    )
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        description="Origin headers the MCP endpoint accepts (DNS-rebinding protection).",
    )
