"""One namespace from many upstreams: naming, collisions, deterministic order.

Rules (see docs/aggregator.md):
- A tool or prompt keeps its upstream's name unless the upstream has a `tool_prefix`, which is
  prepended as given (`users_` + `get_user_profile`). Nothing is ever renamed silently.
- Every exposed name must satisfy the MCP tool-name rule: 1 to 128 of A-Z a-z 0-9 _ - . ;
  an upstream tool whose exposed name breaks it is left out and reported as invalid.
- Two upstreams exposing the same name is a collision: the name is routed to neither (a call
  could reach the wrong system), readiness fails, and the message names both owners.
- Resources keep their URIs (they are already global); two owners of one URI collide too, and
  so do two owners of one resource template (the same template up to its variables' names:
  `db://{table}` and `db://{name}` claim the same URIs).
- Lists are sorted by exposed name (resources by URI), so every replica answers the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from mcp import types

from mcp_common.tools import TOOL_NAME

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Route:
    """Where an exposed name goes: the owning upstream and the name it knows."""

    upstream: str
    upstream_name: str
    read_only: bool = False
    idempotent: bool = False
    needs: frozenset[str] = frozenset()
    """Client capabilities the upstream offers this tool only to (`sampling`, ...)."""


@dataclass(frozen=True)
class Collision:
    kind: str  # "tool", "prompt", "resource" or "resource template"
    name: str
    owners: tuple[str, ...]

    def describe(self) -> str:
        owners = " and ".join(repr(owner) for owner in self.owners)
        # A prefix renames tools and prompts; URIs are global and only their owners can change.
        remedy = (
            "give one a tool_prefix" if self.kind in ("tool", "prompt") else "serve it from one"
        )
        return f"{self.kind} {self.name!r} is exposed by both {owners}; {remedy}"


@dataclass(frozen=True)
class UpstreamListing:
    """What one upstream published, with its prefix."""

    prefix: str
    tools: tuple[types.Tool, ...] = ()
    prompts: tuple[types.Prompt, ...] = ()
    resources: tuple[types.Resource, ...] = ()
    resource_templates: tuple[types.ResourceTemplate, ...] = ()
    tool_needs: tuple[tuple[str, frozenset[str]], ...] = ()
    """(upstream tool name, the client capabilities it is offered only with)."""


@dataclass(frozen=True)
class Catalog:
    """The merged namespace at one moment."""

    tools: tuple[types.Tool, ...] = ()
    prompts: tuple[types.Prompt, ...] = ()
    resources: tuple[types.Resource, ...] = ()
    resource_templates: tuple[types.ResourceTemplate, ...] = ()
    tool_routes: Mapping[str, Route] = field(default_factory=dict)
    prompt_routes: Mapping[str, Route] = field(default_factory=dict)
    resource_routes: Mapping[str, Route] = field(default_factory=dict)
    template_routes: tuple[tuple[str, Route], ...] = ()
    collisions: tuple[Collision, ...] = ()
    invalid_names: tuple[str, ...] = ()

    def tool_signature(self) -> tuple[str, ...]:
        """Changes whenever the tool list a client sees changes (names and definitions)."""
        return tuple(tool.model_dump_json(by_alias=True) for tool in self.tools)


def _hints(tool: types.Tool) -> tuple[bool, bool]:
    annotations = tool.annotations
    if annotations is None:
        return False, False
    return bool(annotations.read_only_hint), bool(annotations.idempotent_hint)


def _single_owners(
    kind: str, owners: Mapping[str, list[tuple[str, ItemT]]], collisions: list[Collision]
) -> list[tuple[str, str, ItemT]]:
    """(name, upstream, item) for each name exactly one upstream exposes, in name order; a
    name with several owners is routed to none of them and recorded in `collisions`."""
    unique = []
    for name in sorted(owners):
        claimants = owners[name]
        if len(claimants) > 1:
            collisions.append(Collision(kind, name, tuple(owner for owner, _ in claimants)))
            continue
        upstream, item = claimants[0]
        unique.append((name, upstream, item))
    return unique


def merge(listings: Mapping[str, UpstreamListing]) -> Catalog:
    """Merge the listings of every available upstream (keyed by upstream name)."""
    tool_owners: dict[str, list[tuple[str, types.Tool]]] = {}
    prompt_owners: dict[str, list[tuple[str, types.Prompt]]] = {}
    resource_owners: dict[str, list[tuple[str, types.Resource]]] = {}
    template_owners: dict[str, list[tuple[str, types.ResourceTemplate]]] = {}
    invalid: list[str] = []
    for upstream in sorted(listings):
        listing = listings[upstream]
        for tool in listing.tools:
            exposed = listing.prefix + tool.name
            if not TOOL_NAME.fullmatch(exposed):
                invalid.append(f"{upstream}: tool {exposed!r} is not a valid MCP tool name")
                continue
            tool_owners.setdefault(exposed, []).append((upstream, tool))
        for prompt in listing.prompts:
            prompt_owners.setdefault(listing.prefix + prompt.name, []).append((upstream, prompt))
        for resource in listing.resources:
            resource_owners.setdefault(str(resource.uri), []).append((upstream, resource))
        for template in listing.resource_templates:
            key = template_shape(str(template.uri_template))
            template_owners.setdefault(key, []).append((upstream, template))

    collisions: list[Collision] = []
    tools, tool_routes = [], {}
    needs = {
        (name, tool): caps
        for name, listing in listings.items()
        for tool, caps in listing.tool_needs
    }
    for exposed, upstream, tool in _single_owners("tool", tool_owners, collisions):
        read_only, idempotent = _hints(tool)
        tools.append(tool.model_copy(update={"name": exposed}))
        tool_routes[exposed] = Route(
            upstream,
            tool.name,
            read_only,
            idempotent,
            needs.get((upstream, tool.name), frozenset()),
        )
    prompts, prompt_routes = [], {}
    for exposed, upstream, prompt in _single_owners("prompt", prompt_owners, collisions):
        prompts.append(prompt.model_copy(update={"name": exposed}))
        prompt_routes[exposed] = Route(upstream, prompt.name, True, True)
    resources, resource_routes = [], {}
    for uri, upstream, resource in _single_owners("resource", resource_owners, collisions):
        resources.append(resource)
        resource_routes[uri] = Route(upstream, uri, True, True)
    # Named by the first claimant's template as written (shapes only group them).
    by_template = {str(claims[0][1].uri_template): claims for claims in template_owners.values()}
    templates = [
        (upstream, template)
        for _, upstream, template in _single_owners("resource template", by_template, collisions)
    ]
    templates.sort(key=lambda item: str(item[1].uri_template))
    return Catalog(
        tools=tuple(tools),
        prompts=tuple(prompts),
        resources=tuple(resources),
        resource_templates=tuple(template for _, template in templates),
        tool_routes=tool_routes,
        prompt_routes=prompt_routes,
        resource_routes=resource_routes,
        template_routes=tuple(
            (str(template.uri_template), Route(upstream, str(template.uri_template), True, True))
            for upstream, template in templates
        ),
        collisions=tuple(collisions),
        invalid_names=tuple(invalid),
    )


def template_shape(template: str) -> str:
    """`template` with its variables unnamed: the URIs it claims (`db://{}` for `db://{t}`)."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def template_matches(template: str, uri: str) -> bool:
    """Whether `uri` fits an RFC 6570 level-1 template like `file:///{path}`."""
    pattern = "".join(
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]+\})", template)
        if part
    )
    return re.fullmatch(pattern, uri) is not None


def resource_label(catalog: Catalog, uri: str) -> str:
    """A bounded name for a resource request in metrics: the URI when the catalog lists it,
    else the template it matches, else `(unlisted)`; never a URI only the client chose."""
    if uri in catalog.resource_routes:
        return uri
    for template, _ in catalog.template_routes:
        if template == uri or template_matches(template, uri):
            return template
    return "(unlisted)"


def describe_problems(catalog: Catalog) -> Iterable[str]:
    for collision in catalog.collisions:
        yield collision.describe()
    yield from catalog.invalid_names
