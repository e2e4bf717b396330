"""The upstream registry, read from an Envoy v3 bootstrap file.

Why Envoy's format: platform teams already describe upstreams as Envoy clusters (a mesh, an
egress proxy), and one file can drive both: `envoy -c upstreams.yaml` proxies to the same
clusters the aggregator routes to. The aggregator reads `static_resources.clusters`:

    - name: tickets                       # the upstream's name in errors, metrics, readiness
      connect_timeout: 2s                 # Envoy duration
      type: STRICT_DNS                    # or STATIC; the aggregator resolves through the OS
      load_assignment:
        cluster_name: tickets
        endpoints:
        - lb_endpoints:
          - endpoint: {address: {socket_address: {address: tickets.mcp, port_value: 8102}}}
      metadata:
        filter_metadata:
          mcp.aggregator:                 # everything MCP-specific; Envoy ignores it
            path: /mcp                    # default /mcp
            tool_prefix: ""               # prepended to tool and prompt names; default none
            call_timeout: 300s            # a whole tools/call, long tools included; default 300s
            list_timeout: 5s              # tools/list and health probes; default 5s
            retries: 1                    # for read-only/idempotent tools only; default 1
            scope: api://mcp-tickets/.default  # the aggregator calls with its own Entra token
                                          # for this scope (workload identity); default none
            sessions: per-client          # for a session-based upstream: an upstream session
                                          # per client session (default), or one `shared` by
                                          # all clients of a replica; stateless ones need none

A cluster with `transport_socket` (TLS) is reached over https. Only the first endpoint is used:
in Kubernetes it is the Service, which balances over the pods.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mcp_aggregator.errors import ConfigError

T = TypeVar("T")

METADATA_KEY = "mcp.aggregator"
_UPSTREAM_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class UpstreamConfig:
    name: str
    url: str
    connect_timeout: float = 2.0
    call_timeout: float = 300.0
    list_timeout: float = 5.0
    tool_prefix: str = ""
    retries: int = 1
    scope: str | None = None
    sessions: str = "per-client"


SESSION_MODES = ("per-client", "shared")


def unknown_keys(mapping: dict[Any, Any], allowed: Collection[str]) -> list[str]:
    """The keys of `mapping` that are not `allowed`, as text (YAML keys may be numbers or
    booleans: `1:` and `on:` must be reported like any other, not break the sort)."""
    return sorted(str(key) for key in mapping if key not in allowed)


def _duration(value: Any, where: str) -> float:
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{where}: {value!r} is not an Envoy duration like '2s' or '0.5s'")
    return float(match.group(1))


def _cluster(raw: Any, index: int) -> UpstreamConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"clusters[{index}]: expected a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not _UPSTREAM_NAME.match(name):
        raise ConfigError(
            f"clusters[{index}].name: {name!r} is not a valid upstream name "
            "(lowercase letters, digits, '-' and '_', at most 63)"
        )
    where = f"cluster {name!r}"
    try:
        endpoint = raw["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        socket = endpoint["address"]["socket_address"]
        host, port = str(socket["address"]), int(socket["port_value"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: needs load_assignment.endpoints[0].lb_endpoints[0].endpoint"
            ".address.socket_address with address and port_value"
        ) from exc
    meta = raw.get("metadata", {}).get("filter_metadata", {}).get(METADATA_KEY, {}) or {}
    if not isinstance(meta, dict):
        raise ConfigError(f"{where}: metadata.filter_metadata.{METADATA_KEY} must be a mapping")
    known = {"path", "tool_prefix", "call_timeout", "list_timeout", "retries", "scope", "sessions"}
    unknown = unknown_keys(meta, known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown {METADATA_KEY} keys {unknown}; allowed: {sorted(known)}"
        )
    path = str(meta.get("path", "/mcp"))
    if not path.startswith("/"):
        raise ConfigError(f"{where}: path {path!r} must start with '/'")
    prefix = meta.get("tool_prefix", "") or ""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigError(
            f"{where}: tool_prefix {prefix!r} may hold only letters, digits, '_', '-' and '.' (at most 64)"
        )
    retries = meta.get("retries", 1)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 5:
        raise ConfigError(f"{where}: retries {retries!r} must be a whole number from 0 to 5")
    scope = meta.get("scope")
    if scope is not None and (not isinstance(scope, str) or not scope.strip() or " " in scope):
        raise ConfigError(
            f"{where}: scope {scope!r} must be one Entra scope, e.g. api://<app-id>/.default"
        )
    sessions = meta.get("sessions", "per-client")
    if sessions not in SESSION_MODES:
        raise ConfigError(
            f"{where}: sessions {sessions!r} must be one of {', '.join(SESSION_MODES)} "
            "(per-client: an upstream session per client session; shared: one per replica)"
        )
    scheme = "https" if raw.get("transport_socket") else "http"
    url_host = f"[{host}]" if ":" in host else host
    return UpstreamConfig(
        name=name,
        url=f"{scheme}://{url_host}:{port}{path}",
        connect_timeout=_duration(raw.get("connect_timeout", "2s"), f"{where}: connect_timeout"),
        call_timeout=_duration(meta.get("call_timeout", "300s"), f"{where}: call_timeout"),
        list_timeout=_duration(meta.get("list_timeout", "5s"), f"{where}: list_timeout"),
        tool_prefix=prefix,
        retries=retries,
        scope=scope,
        sessions=sessions,
    )


def parse_upstreams(document: Any) -> list[UpstreamConfig]:
    """The upstreams of an Envoy bootstrap document (already parsed from YAML or JSON).

    Raises:
        ConfigError: naming the first problem found.
    """
    try:
        clusters = document["static_resources"]["clusters"]
    except (KeyError, TypeError) as exc:
        raise ConfigError("expected static_resources.clusters (an Envoy v3 bootstrap)") from exc
    if not isinstance(clusters, list) or not clusters:
        raise ConfigError("static_resources.clusters must be a non-empty list")
    upstreams = [_cluster(raw, index) for index, raw in enumerate(clusters)]
    seen: set[str] = set()
    for upstream in upstreams:
        if upstream.name in seen:
            raise ConfigError(f"cluster {upstream.name!r} is defined twice")
        seen.add(upstream.name)
    return upstreams


def envoy_cluster(name: str, address: str, port: int, **mcp: Any) -> dict[str, Any]:
    """One registry entry in the form this module reads (and Envoy runs): a STATIC cluster
    with one endpoint, and `mcp` as its `mcp.aggregator` metadata (path defaults to /mcp)."""
    endpoint = {"address": {"socket_address": {"address": address, "port_value": port}}}
    return {
        "name": name,
        "connect_timeout": "1s",
        "type": "STATIC",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
        "metadata": {"filter_metadata": {METADATA_KEY: {"path": "/mcp", **mcp}}},
    }


def envoy_bootstrap(clusters: list[dict[str, Any]]) -> dict[str, Any]:
    """A registry document holding `clusters`."""
    return {"static_resources": {"clusters": clusters}}


def load_yaml_file(path: Path, parse: Callable[[Any], T]) -> T:
    """`parse` of the YAML document in `path` (the registry, the policy, the pins).

    Raises:
        ConfigError: the file is missing, not YAML, or invalid (the message says where).
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start} is not)") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return parse(document)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_upstreams(path: Path) -> list[UpstreamConfig]:
    """Read and validate the registry file.

    Raises:
        ConfigError: the file is missing, not YAML, or invalid (the message says where).
    """
    return load_yaml_file(path, parse_upstreams)


PACKAGED_REGISTRY = "upstreams.local.yaml"


def packaged_upstreams() -> list[UpstreamConfig]:
    """The registry shipped in the package: the local stack's three domain servers (read only
    while the aggregator listens on loopback; see `app.build_app`)."""
    text = resources.files("mcp_aggregator").joinpath(PACKAGED_REGISTRY).read_text()
    return parse_upstreams(yaml.safe_load(text))
