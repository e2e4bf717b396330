"""Typed service settings read from the environment.

Every service has one `Settings` class (a subclass of `ServiceSettings`) built once at start
and passed down. Each field has a default that works on a laptop with no cloud, and each maps
to one environment variable (`<PREFIX>_<FIELD>`), which is what the Helm charts set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_common.identity import CredentialKind


class SettingsError(Exception):
    """Settings that cannot work together; the message names the variables to set."""


def env_name(settings: BaseSettings, field_name: str) -> str:
    """The environment variable of `field_name` in `settings`, e.g. MCP_USERS_API_URL."""
    return f"{settings.model_config.get('env_prefix', '')}{field_name}".upper()


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


class DomainSettings(ServiceSettings):
    """Settings of a domain MCP server: where its system of record is and how to reach it."""

    api_url: str | None = Field(
        default=None,
        description="Base URL of the system of record's REST API. Required unless `demo`.",
    )
    demo: bool = Field(
        default=False,
        description="Serve seeded demo data: the domain's embedded reference API runs "
        "in-process over `database_url`, seeded on first start (the local stack sets it). "
        "Never set with `api_url`.",
    )
    api_scope: str | None = Field(
        default=None,
        description="Azure AD scope of the API's tokens, e.g. api://<app-id>/.default.",
    )
    credential: CredentialKind = Field(
        default="none",
        description="How to get tokens: workload_identity (AKS), service_principal or azure_cli "
        "(a developer against real Azure), none (local backend).",
    )
    tls_ca_bundle: str | None = Field(
        default=None, description="CA bundle for the token endpoint; unset: the system's."
    )
    api_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    api_retries: int = Field(default=2, ge=0, le=5, description="Retries of calls safe to repeat.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/mcp.sqlite3",
        description="Store of the embedded reference API (sqlite+aiosqlite:// or postgresql+asyncpg://).",
    )
