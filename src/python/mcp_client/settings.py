"""Settings of the client, read from the environment (no prefix: the names users type).

| variable          | meaning                                                             |
| ----------------- | ------------------------------------------------------------------- |
| MCP_SERVER_URL    | the aggregator's MCP endpoint (default http://127.0.0.1:8000/mcp)  |
| DISCOVERY_TIMEOUT | seconds to wait for each connect / discovery / tools/list answer    |
| CALL_TIMEOUT      | seconds to wait for one tools/call answer                           |
| MCP_PROTOCOL      | auto (probe, fall back), legacy (2025-11-25 handshake), 2026-07-28  |
| MCP_BEARER_TOKEN  | a bearer token to send as is (wins over MCP_CREDENTIAL)             |
| MCP_CREDENTIAL    | none, workload_identity, service_principal or azure_cli             |
| MCP_TOKEN_SCOPE   | the scope to ask Azure AD for, e.g. api://<app-id>/.default         |
| MCP_CA_BUNDLE     | CA bundle for the MCP server and the token endpoint (else system's) |
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_common.identity import CredentialKind

ProtocolMode = Literal["auto", "legacy", "2026-07-28"]
PROTOCOL_MODES: tuple[ProtocolMode, ...] = ("auto", "legacy", "2026-07-28")
DEFAULT_SERVER_URL = "http://127.0.0.1:8000/mcp"


class ClientSettings(BaseSettings):
    """Where the aggregator is, how long to wait for it, and how to authenticate."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    server_url: str = Field(
        default=DEFAULT_SERVER_URL,
        validation_alias="MCP_SERVER_URL",
        description="The MCP endpoint (the aggregator's /mcp).",
    )
    discovery_timeout: float = Field(
        default=10.0,
        gt=0,
        le=600,
        validation_alias="DISCOVERY_TIMEOUT",
        description="Seconds to wait for each answer while connecting and listing tools.",
    )
    call_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        validation_alias="CALL_TIMEOUT",
        description="Seconds to wait for one tool call's answer.",
    )
    protocol: ProtocolMode = Field(
        default="auto",
        validation_alias="MCP_PROTOCOL",
        description="auto: probe 2026-07-28 and fall back to the 2025-11-25 handshake.",
    )
    bearer_token: SecretStr | None = Field(
        default=None,
        validation_alias="MCP_BEARER_TOKEN",
        description="A token sent as `Authorization: Bearer ...`; wins over `credential`.",
    )
    credential: CredentialKind = Field(
        default="none",
        validation_alias="MCP_CREDENTIAL",
        description="Where to get a token from Azure AD when no MCP_BEARER_TOKEN is set.",
    )
    token_scope: str | None = Field(
        default=None,
        validation_alias="MCP_TOKEN_SCOPE",
        description="Azure AD scope of the MCP API, e.g. api://<app-id>/.default.",
    )
    ca_bundle: str | None = Field(
        default=None,
        validation_alias="MCP_CA_BUNDLE",
        description="CA bundle (PEM) for https MCP servers and the token endpoint.",
    )
