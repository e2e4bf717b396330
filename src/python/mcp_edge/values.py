"""The edge's values, by the names a Helm chart would use (`tenantId`, `audiences`, ...).

`EdgeValues.from_mapping` documents each and refuses unknown or malformed ones, naming them.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Per Envoy: bursts of 200 requests, 100 a second sustained.
DEFAULT_RATE_LIMIT: dict[str, Any] = {"maxTokens": 200, "tokensPerFill": 100, "fillInterval": "1s"}
# Per client address, within that: bursts of 50, 20 a second; buckets for 10000 addresses at once.
DEFAULT_CLIENT_RATE_LIMIT: dict[str, Any] = {
    "maxTokens": 50,
    "tokensPerFill": 20,
    "fillInterval": "1s",
    "maxClients": 10000,
}
_SECONDS = re.compile(r"^[0-9]+(\.[0-9]+)?s$")


class EdgeValuesError(ValueError):
    """The edge values are invalid; the message names the value and what is allowed."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class EdgeValues:
    tenant_id: str
    audiences: tuple[str, ...]
    resource_url: str
    aggregator: tuple[Endpoint, ...]
    authority_host: str = "https://login.microsoftonline.com"
    v1_issuer_host: str = "https://sts.windows.net"
    authority_ca_file: str = "/etc/ssl/certs/ca-certificates.crt"
    jwks_cache_duration: str = "600s"
    listen_address: str = "0.0.0.0"  # the edge is the public listener
    port: int = 8443
    certificate_file: str = "/etc/envoy/tls/tls.crt"
    private_key_file: str = "/etc/envoy/tls/tls.key"
    certificate_sds_file: str = "/etc/envoy/bootstrap/certificate-sds.yaml"
    health_port: int = 8081
    admin_port: int = 9901
    access_log_path: str = "/dev/stdout"
    stream_idle_timeout: str = "3600s"
    request_headers_timeout: str = "10s"
    health_check_interval: str = "5s"
    max_connections: int = 4096
    rate_limit: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMIT))
    client_rate_limit: dict[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_CLIENT_RATE_LIMIT)
    )

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> EdgeValues:
        """Values by their chart names:

        - `tenantId`, `audiences` (the aggregator API's client id and/or App ID URI),
          `resourceUrl` (the public MCP URL, e.g. https://mcp.example.com/mcp): required;
        - `aggregator.endpoints`: `host:port` strings (a headless Service name resolves to
          every ready pod; IP addresses are used as they are);
        - `authorityHost`, `v1IssuerHost`, `authorityCaFile`, `jwksCacheDuration`;
        - `port`, `listenAddress`, `tls.certificateFile`, `tls.privateKeyFile`,
          `tls.sdsConfigFile` (where Envoy reads the certificate's SDS document,
          `mcp_edge.envoy.render_certificate_sds`: the certificate is reloaded when the
          files change, as when Kubernetes updates the mounted Secret);
        - `healthPort` (plain HTTP `/ready` for kubelet probes), `adminPort` (127.0.0.1 only);
        - `accessLogPath`, `streamIdleTimeout`, `requestHeadersTimeout`,
          `healthCheckInterval`, `maxConnections`;
        - `rateLimit`: `maxTokens`, `tokensPerFill`, `fillInterval` (the token bucket of all
          requests to one Envoy);
        - `clientRateLimit`: the same, plus `maxClients`: a bucket per client address (the
          downstream peer), of which Envoy keeps the `maxClients` most recent.

        Raises:
            EdgeValuesError: a required value is missing or one is malformed.
        """
        known = {
            "tenantId", "audiences", "resourceUrl", "aggregator", "authorityHost",
            "v1IssuerHost", "authorityCaFile", "jwksCacheDuration", "port", "listenAddress",
            "tls", "healthPort", "adminPort", "accessLogPath", "streamIdleTimeout",
            "requestHeadersTimeout", "healthCheckInterval", "maxConnections", "rateLimit",
            "clientRateLimit",
        }  # fmt: skip
        unknown = sorted(set(values) - known)
        if unknown:
            raise EdgeValuesError(f"unknown edge values {unknown}; known: {sorted(known)}")
        for name in ("tenantId", "audiences", "resourceUrl", "aggregator"):
            if not values.get(name):
                raise EdgeValuesError(f"edge value {name!r} is required")
        audiences = values["audiences"]
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise EdgeValuesError("audiences must be a list of strings (client id, App ID URI)")
        endpoints = tuple(_endpoint(raw) for raw in values["aggregator"].get("endpoints", []))
        if not endpoints:
            raise EdgeValuesError("aggregator.endpoints must list at least one host:port")
        resource = urlsplit(str(values["resourceUrl"]))
        if resource.scheme != "https" or not resource.netloc:
            raise EdgeValuesError(f"resourceUrl {values['resourceUrl']!r} must be an https URL")
        rate_limit = _rate_limit("rateLimit", values.get("rateLimit") or {}, DEFAULT_RATE_LIMIT)
        client_rate_limit = _rate_limit(
            "clientRateLimit", values.get("clientRateLimit") or {}, DEFAULT_CLIENT_RATE_LIMIT
        )
        tls = values.get("tls", {})
        optional = {
            "authority_host": values.get("authorityHost"),
            "v1_issuer_host": values.get("v1IssuerHost"),
            "authority_ca_file": values.get("authorityCaFile"),
            "jwks_cache_duration": values.get("jwksCacheDuration"),
            "listen_address": values.get("listenAddress"),
            "port": values.get("port"),
            "certificate_file": tls.get("certificateFile"),
            "private_key_file": tls.get("privateKeyFile"),
            "certificate_sds_file": tls.get("sdsConfigFile"),
            "health_port": values.get("healthPort"),
            "admin_port": values.get("adminPort"),
            "access_log_path": values.get("accessLogPath"),
            "stream_idle_timeout": values.get("streamIdleTimeout"),
            "request_headers_timeout": values.get("requestHeadersTimeout"),
            "health_check_interval": values.get("healthCheckInterval"),
            "max_connections": values.get("maxConnections"),
        }
        return cls(
            tenant_id=str(values["tenantId"]),
            audiences=tuple(audiences),
            resource_url=str(values["resourceUrl"]),
            aggregator=endpoints,
            rate_limit=rate_limit,
            client_rate_limit=client_rate_limit,
            **{name: value for name, value in optional.items() if value is not None},
        )

    @property
    def issuers(self) -> tuple[str, str]:
        """v2 and v1, as the aggregator accepts them (`mcp_common.auth`)."""
        authority = self.authority_host.rstrip("/")
        return (
            f"{authority}/{self.tenant_id}/v2.0",
            f"{self.v1_issuer_host.rstrip('/')}/{self.tenant_id}/",
        )

    @property
    def jwks_uri(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}/discovery/v2.0/keys"

    @property
    def resource_metadata_url(self) -> str:
        """RFC 9728: the metadata of https://host/mcp is https://host/.well-known/oauth-protected-resource/mcp."""
        parts = urlsplit(self.resource_url)
        return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{parts.path}"


def _rate_limit(key: str, raw: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - set(defaults):
        raise EdgeValuesError(f"{key} takes {sorted(defaults)}, got {raw!r}")
    bucket = {**defaults, **raw}
    for name in sorted(set(bucket) - {"fillInterval"}):
        if not isinstance(bucket[name], int) or isinstance(bucket[name], bool) or bucket[name] < 1:
            raise EdgeValuesError(f"{key}.{name} must be a whole number of at least 1")
    interval = str(bucket["fillInterval"])
    if not _SECONDS.match(interval) or float(interval[:-1]) < 0.05:
        raise EdgeValuesError(
            f"{key}.fillInterval {interval!r} must be seconds like 1s or 0.5s, at least 0.05s"
        )
    return bucket


def retry_after(*fill_intervals: str) -> str:
    """Whole seconds until every bucket has filled once (`Retry-After` of a limited answer:
    Envoy does not say which of its buckets was empty, so the longest interval)."""
    return str(max(math.ceil(float(i.removesuffix("s"))) for i in fill_intervals))


def _endpoint(raw: Any) -> Endpoint:
    host, sep, port = str(raw).rpartition(":")
    if not sep or not host or not port.isdigit():
        raise EdgeValuesError(f"aggregator endpoint {raw!r} must be host:port")
    return Endpoint(host.strip("[]"), int(port))


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
