from __future__ import annotations

from mcp import types

from mcp_aggregator.catalog import (
    UpstreamListing,
    merge,
    resource_label,
    template_matches,
)
from mcp_aggregator.routing import route_resource


def _tool(name: str, read_only: bool = False) -> types.Tool:
    return types.Tool(
        name=name,
        input_schema={"type": "object"},
        annotations=types.ToolAnnotations(read_only_hint=read_only),
    )


def test_names_are_kept_prefixed_and_sorted_whatever_the_upstream_order() -> None:
    first = merge(
        {
            "zeta": UpstreamListing(prefix="", tools=(_tool("b"), _tool("a"))),
            "alpha": UpstreamListing(prefix="al.", tools=(_tool("c", read_only=True),)),
        }
    )
    second = merge(
        {
            "alpha": UpstreamListing(prefix="al.", tools=(_tool("c", read_only=True),)),
            "zeta": UpstreamListing(prefix="", tools=(_tool("a"), _tool("b"))),
        }
    )
    assert [tool.name for tool in first.tools] == ["a", "al.c", "b"]
    assert [tool.name for tool in second.tools] == ["a", "al.c", "b"]
    route = first.tool_routes["al.c"]
    assert (route.upstream, route.upstream_name, route.read_only) == ("alpha", "c", True)


def test_a_collision_routes_neither_owner_and_names_both() -> None:
    catalog = merge(
        {
            "users": UpstreamListing(prefix="", tools=(_tool("lookup"), _tool("u"))),
            "tickets": UpstreamListing(prefix="", tools=(_tool("lookup"),)),
        }
    )
    assert "lookup" not in catalog.tool_routes
    assert [tool.name for tool in catalog.tools] == ["u"]
    [collision] = catalog.collisions
    assert collision.describe() == (
        "tool 'lookup' is exposed by both 'tickets' and 'users'; give one a tool_prefix"
    )


def test_names_that_break_the_mcp_rule_are_reported_not_exposed() -> None:
    catalog = merge({"x": UpstreamListing(prefix="my prefix ", tools=(_tool("t"),))})
    assert catalog.tools == ()
    assert catalog.invalid_names == ("x: tool 'my prefix t' is not a valid MCP tool name",)


def test_resources_route_by_uri_and_template() -> None:
    resource = types.Resource(uri="file:///readme.md", name="readme")
    template = types.ResourceTemplate(uri_template="db://{table}/rows", name="rows")
    catalog = merge(
        {
            "docs": UpstreamListing(prefix="", resources=(resource,)),
            "data": UpstreamListing(prefix="", resource_templates=(template,)),
        }
    )
    exact = route_resource(catalog, "file:///readme.md")
    templated = route_resource(catalog, "db://sales/rows")
    assert exact is not None
    assert exact.upstream == "docs"
    assert templated is not None
    assert (templated.upstream, templated.upstream_name) == ("data", "db://sales/rows")
    assert route_resource(catalog, "db://sales/columns") is None
    assert template_matches("a://{x}/{y}", "a://1/2")
    assert not template_matches("a://{x}", "a://1/2")


def test_a_resource_template_claimed_twice_routes_neither_and_names_both() -> None:
    rows = types.ResourceTemplate(uri_template="db://{table}/rows", name="rows")
    same_shape = types.ResourceTemplate(uri_template="db://{name}/rows", name="rows")
    other = types.ResourceTemplate(uri_template="db://{table}/columns", name="columns")
    catalog = merge(
        {
            "data": UpstreamListing(prefix="", resource_templates=(rows, other)),
            "warehouse": UpstreamListing(prefix="", resource_templates=(same_shape,)),
        }
    )
    assert route_resource(catalog, "db://sales/rows") is None, "a read could reach either"
    assert [str(t.uri_template) for t in catalog.resource_templates] == ["db://{table}/columns"]
    [collision] = catalog.collisions
    assert collision.describe() == (
        "resource template 'db://{table}/rows' is exposed by both 'data' and 'warehouse'; "
        "serve it from one"
    )


def test_resource_labels_are_the_listed_uri_or_template_never_the_clients_uri() -> None:
    resource = types.Resource(uri="file:///readme.md", name="readme")
    template = types.ResourceTemplate(uri_template="db://{table}/rows", name="rows")
    catalog = merge(
        {
            "docs": UpstreamListing(prefix="", resources=(resource,)),
            "data": UpstreamListing(prefix="", resource_templates=(template,)),
        }
    )
    assert resource_label(catalog, "file:///readme.md") == "file:///readme.md"
    assert resource_label(catalog, "db://sales/rows") == "db://{table}/rows"
    assert resource_label(catalog, "db://{table}/rows") == "db://{table}/rows"
    assert resource_label(catalog, "db://x/y/z") == "(unlisted)"
