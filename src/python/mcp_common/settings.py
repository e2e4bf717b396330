"""Typed service settings read from the environment.

Every service has one `Settings` class (a subclass of `ServiceSettings`) built once at start
and passed down. Each field has a default that works on a laptop with no cloud, and each maps
to one environment variable (`<PREFIX>_<FIELD>`), which is what the Helm charts set.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_common.auth import EntraConfig
from mcp_common.identity import CredentialKind

logger = logging.getLogger(__name__)


class SettingsError(Exception):
    """Settings that cannot work together; the message names the variables to set."""


def env_name(settings: BaseSettings, field_name: str) -> str:
    """The environment variable of `field_name` in `settings`, e.g. MCP_USERS_API_URL."""
    return f"{settings.model_config.get('env_prefix', '')}{field_name}".upper()


LogFormat = Literal["json", "text"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
AuthMode = Literal["entra", "none"]


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    auth: AuthMode = Field(
        default="none",
        description="entra: every request but health and metrics needs an Entra ID bearer token. "
        "none: no authentication, allowed only when `host` is a loopback address.",
    )
    tenant_id: str | None = Field(default=None, description="Entra ID tenant (directory) id.")
    audiences: list[str] = Field(
        default_factory=list,
        description="Accepted token audiences: the API's client id and/or App ID URI.",
    )
    authority_host: str = Field(
        default="https://login.microsoftonline.com",
        description="Entra ID authority (sovereign clouds and tests point it elsewhere).",
    )
    tls_ca_bundle: str | None = Field(
        default=None,
        description="CA bundle for the authority (keys, tokens); unset: the system's.",
    )
    credential: CredentialKind = Field(
        default="none",
        description="How this service gets its own outbound tokens: workload_identity (AKS), "
        "service_principal or azure_cli (a developer against real Azure), none.",
    )
    on_behalf_of: bool = Field(
        default=False,
        description="Call the next hop as the end user when the caller is a person (a delegated "
        "token): exchange its token with Entra's on-behalf-of grant, authenticated by the "
        "workload identity (needs auth=entra and credential=workload_identity). App-only "
        "callers keep this service's own token. See mcp_common/delegation.py.",
    )

    rate_limit_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Requests per second each caller (principal; client address when anonymous) "
        "may make to this replica on average; beyond, 429 with Retry-After. Unset: no limit.",
    )
    rate_limit_burst: int = Field(
        default=50, ge=1, le=100_000, description="Requests a caller may make at once."
    )

    @model_validator(mode="after")
    def _check_auth(self) -> ServiceSettings:
        if self.auth == "entra":
            missing = [n for n in ("tenant_id", "audiences") if not getattr(self, n)]
            if missing:
                raise ValueError(
                    f"auth=entra needs {' and '.join(missing)} (the Entra tenant id and the API's "
                    "client id or App ID URI as audiences)"
                )
        elif not is_loopback(self.host):
            raise ValueError(
                f"auth=none is allowed only on a loopback host, and host is {self.host!r}: "
                "anyone who reaches this address could call every tool. Set auth=entra "
                "(with tenant_id and audiences), or listen on 127.0.0.1"
            )
        if self.on_behalf_of and (self.auth != "entra" or self.credential != "workload_identity"):
            raise ValueError(
                "on_behalf_of=true needs auth=entra (a user's token to exchange) and "
                f"credential=workload_identity (to authenticate the exchange); they are "
                f"auth={self.auth!r} and credential={self.credential!r}"
            )
        return self

    def entra(self) -> EntraConfig:
        """The token verifier's configuration (auth=entra)."""
        if self.tenant_id is None:
            raise ValueError("auth=entra needs tenant_id")
        return EntraConfig(
            tenant_id=self.tenant_id,
            audiences=tuple(self.audiences),
            authority_host=self.authority_host,
            ca_bundle=self.tls_ca_bundle,
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
    allowed_callers: list[str] = Field(
        default_factory=list,
        description="Client ids of the applications that may call this server (auth=entra): "
        "the aggregator's. Anyone else gets 403, even with a valid token.",
    )
    api_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    api_retries: int = Field(default=2, ge=0, le=5, description="Retries of calls safe to repeat.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/mcp.sqlite3",
        description="Store of the embedded reference API (sqlite+aiosqlite:// or postgresql+asyncpg://).",
    )

    @model_validator(mode="after")
    def _check_callers(self) -> DomainSettings:
        if self.auth == "entra" and not self.allowed_callers:
            raise ValueError(
                "auth=entra needs allowed_callers: the client ids of the applications that may "
                "call this server (the aggregator's workload identity)"
            )
        return self
