"""Settings of the aggregator (environment prefix `MCP_AGGREGATOR_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mcp_common.settings import ServiceSettings


class AggregatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MCP_AGGREGATOR_", extra="ignore", frozen=True)

    service_name: str = "mcp-aggregator"
    port: int = Field(default=8000, ge=0, le=65535)
    upstreams_file: str | None = Field(
        default=None,
        description="Envoy v3 bootstrap file listing the upstream clusters; re-read when it "
        "changes. Unset: the packaged local registry (domain servers on 127.0.0.1:8101-8103), "
        "allowed only while `host` is a loopback address.",
    )
    readiness_policy: Literal["any", "all"] = Field(
        default="any", description="Ready when any upstream is available, or only when all are."
    )
    unavailable_after_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Grace period before a failing upstream's tools are withdrawn.",
    )
    probe_interval_seconds: float = Field(
        default=5.0, gt=0, description="Liveness ping of healthy upstreams."
    )
    refresh_interval_seconds: float = Field(
        default=60.0, gt=0, description="Full re-list of every upstream."
    )
    debounce_seconds: float = Field(
        default=0.5, ge=0, description="Quiet time before announcing list changes."
    )
    reload_interval_seconds: float = Field(
        default=2.0, gt=0, description="How often the registry and policy files are checked."
    )
    resource_url: str | None = Field(
        default=None,
        description="The public MCP URL clients use (the RFC 9728 `resource`), e.g. "
        "https://mcp.example.com/mcp. Unset: the request's scheme and Host, with /mcp.",
    )
    policy_file: str | None = Field(
        default=None,
        description="Per-tool authorization policy (YAML; see mcp_aggregator/policy.py), re-read "
        "when it changes. Unset with auth=entra: any valid token may call every tool.",
    )
    pins_file: str | None = Field(
        default=None,
        description="Tool-definition pins (YAML; see mcp_aggregator/pins.py: modes off, warn, "
        "enforce), re-read when it changes. Unset: no pinning.",
    )
    max_streams: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Open notification streams (legacy GET streams and subscriptions/listen) "
        "this replica holds at most; beyond, 429.",
    )
    max_streams_per_principal: int = Field(
        default=8, ge=1, le=10_000, description="Open notification streams per caller."
    )
    scopes_supported: list[str] | None = Field(
        default=None,
        description="Scopes named in the protected-resource metadata, as a client asks Entra for "
        "them (api://<app>/mcp.access). Unset: the policy's scopes under the App ID URI audience.",
    )
    session_keys_file: str | None = Field(
        default=None,
        description="Keys sealing client session ids and server-to-client request ids for "
        "session-based upstreams: one base64url 32-byte key per line, the first seals, all "
        "open (rotation: add the new key first, drop the old after a day). Every replica needs "
        "the same file. Unset: a random key per process (one replica only).",
    )
