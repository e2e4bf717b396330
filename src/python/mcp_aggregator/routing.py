"""Routing: which upstream serves a routed request, or the error that says why none can.

A routed request (`tools/call`, `prompts/get`, `resources/read`, `resources/subscribe` and
`unsubscribe`, `completion/complete`) names its target by name, URI or `ref`. `Router.resolve`
finds the owner in the merged catalog and returns a `Target`, or raises the error the client
gets: a malformed request (`InvalidParams`), a name nobody serves (`UnknownTarget`, listing the
tools the caller may see), a quarantined tool, a tool whose upstream is down (named, with how
long), or a tool the client's session cannot use. `check_subscribable` refuses, once the caller
is authorized, a subscription whose updates could not reach the client.

Lookups by URI: an exact listed resource first, then the first resource template it matches
(`catalog.template_matches`); a completion's `ref/resource` names a template exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mcp_aggregator.catalog import Catalog, Route, template_matches
from mcp_aggregator.errors import (
    InvalidParams,
    NotSupported,
    ToolQuarantined,
    UnknownTarget,
    UpstreamUnavailable,
)
from mcp_aggregator.policy import Kind, PolicyHolder
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.upstream import Upstream
from mcp_common.auth import Principal

ROUTED_METHODS = frozenset(
    {
        "tools/call",
        "prompts/get",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "completion/complete",
    }
)
_RESOURCE_METHODS = ("resources/read", "resources/subscribe", "resources/unsubscribe")


@dataclass(frozen=True)
class Target:
    """Where a routed request goes."""

    kind: Kind
    """The policy kind that decides who may use it."""
    key: str
    """The name (or URI) clients see, which the policy and the metrics name."""
    route: Route
    upstream: Upstream


class Router:
    """Resolves routed requests against the registry's current catalog."""

    def __init__(self, registry: UpstreamRegistry, policy: PolicyHolder) -> None:
        self._registry = registry
        self._policy = policy

    def resolve(
        self,
        method: str,
        params: dict[str, Any],
        principal: Principal,
        client: ClientSession | None = None,
    ) -> Target:
        """The target of a routed request from `principal` in `client`'s session.

        Raises:
            InvalidParams: params malformed, or a tool this client cannot use.
            UnknownTarget: nothing of that name (or URI) is served.
            ToolQuarantined: the tool's definition does not match its pin.
            UpstreamUnavailable: the tool's upstream is down.
        """
        if method == "completion/complete":
            return self._completion(params)
        catalog = self._registry.catalog
        if method in _RESOURCE_METHODS:
            uri = params.get("uri")
            if not isinstance(uri, str):
                raise InvalidParams(f"{method} needs params.uri (a string)")
            return self._target("resources", uri, route_resource(catalog, uri), "resource")
        name = params.get("name")
        if not isinstance(name, str):
            raise InvalidParams(f"{method} needs params.name (a string)")
        if method == "prompts/get":
            return self._target("prompts", name, catalog.prompt_routes.get(name), "prompt")
        target = self._tool(name, principal)
        declared = client.capabilities if client else frozenset()
        missing = target.route.needs - declared
        if missing:
            raise InvalidParams(
                f"tool {name!r} needs a client that answers "
                f"{' and '.join(sorted(missing))} requests (a 2025-11-25 "
                "session whose initialize declared them)"
            )
        return target

    def refused_labels(self, method: str, params: Any, principal: Principal) -> tuple[str, str]:
        """(name, upstream) labels of a request refused before it was forwarded: the tool and
        its owner when the registry knows them, else empty; an unknown name is the client's
        choice, unbounded as a label."""
        name = params.get("name") if isinstance(params, dict) else None
        if method != "tools/call" or not isinstance(name, str):
            return "", ""
        try:
            target = self._tool(name, principal)
        except ToolQuarantined:
            route = self._registry.catalog.tool_routes.get(name)
            return name, route.upstream if route is not None else ""
        except UpstreamUnavailable as exc:
            return name, exc.upstream
        except UnknownTarget:
            return "", ""
        return name, target.upstream.name

    def _target(self, kind: Kind, key: str, route: Route | None, what: str) -> Target:
        upstream = None if route is None else self._registry.upstreams.get(route.upstream)
        if route is None or upstream is None:
            raise UnknownTarget(f"unknown {what} {key!r}")
        return Target(kind, key, route, upstream)

    def _tool(self, name: str, principal: Principal) -> Target:
        registry = self._registry
        if registry.pins.mode == "enforce" and name in registry.mismatches:
            raise ToolQuarantined(f"quarantined: {registry.mismatches[name].describe()}")
        route = registry.catalog.tool_routes.get(name)
        if route is not None:
            upstream = registry.upstreams.get(route.upstream)
            if upstream is not None:
                return Target("tools", name, route, upstream)
        down = registry.unavailable_owner(name)
        if down is not None:
            reason = f" ({down.last_error})" if down.last_error else ""
            down_for = time.monotonic() - (down.failing_since or time.monotonic())
            raise UpstreamUnavailable(
                f"tool {name!r} belongs to upstream {down.name!r}, which is unavailable"
                f"{reason} for {down_for:.0f}s; its tools return when it recovers",
                upstream=down.name,
            )
        policy = self._policy.current
        visible = [t for t in registry.catalog.tool_routes if policy.allows(principal, "tools", t)]
        raise UnknownTarget(f"unknown tool {name!r}; known: {', '.join(sorted(visible)) or 'none'}")

    def _completion(self, params: dict[str, Any]) -> Target:
        """A completion goes to the owner of the prompt or resource template its `ref` names.

        Only the owner knows the values an argument can take; the aggregator's SDK server
        cannot complete anything (before this was routed, clients got "method not found").
        """
        ref: dict[str, Any] = params["ref"] if isinstance(params.get("ref"), dict) else {}
        kind = ref.get("type")
        catalog = self._registry.catalog
        if kind == "ref/prompt" and isinstance(ref.get("name"), str):
            name: str = ref["name"]
            return self._target("prompts", name, catalog.prompt_routes.get(name), "prompt")
        if kind == "ref/resource" and isinstance(ref.get("uri"), str):
            uri: str = ref["uri"]
            route = route_completion(catalog, uri)
            return self._target("resources", uri, route, "resource template")
        raise InvalidParams(
            "completion/complete needs params.ref: {type: 'ref/prompt', name: <prompt>} "
            "or {type: 'ref/resource', uri: <resource template>}"
        )


def route_resource(catalog: Catalog, uri: str) -> Route | None:
    """The owner of a resource URI: an exact listed URI first, then the first matching template."""
    route = catalog.resource_routes.get(uri)
    if route is not None:
        return route
    for template, template_route in catalog.template_routes:
        if template_matches(template, uri):
            return Route(template_route.upstream, uri, True, True)
    return None


def route_completion(catalog: Catalog, uri: str) -> Route | None:
    """The owner of a `ref/resource` completion: the resource template it names exactly, else
    (a concrete URI) the owner a read of that URI goes to."""
    for template, route in catalog.template_routes:
        if template == uri:
            return route
    return route_resource(catalog, uri)


def check_subscribable(upstream: Upstream, uri: str, client: ClientSession | None) -> None:
    """Whether `client` can subscribe to `uri` (checked once the caller is authorized).

    Raises:
        NotSupported: updates of `uri` could not reach this client.
    """
    if upstream.session_mode != "per-client":
        raise NotSupported(
            f"resources/subscribe: {uri!r} belongs to upstream {upstream.name!r}, which "
            f"is {upstream.session_mode}; updates reach a client only from an upstream session "
            "of its own (a session-based upstream with `sessions: per-client`)"
        )
    if client is None:
        raise NotSupported(
            "resources/subscribe needs a 2025-11-25 session (initialize, then subscribe with "
            "its Mcp-Session-Id); 2026-07-28 clients use subscriptions/listen"
        )
