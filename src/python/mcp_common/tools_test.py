from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import types
from pydantic import BaseModel, ConfigDict, Field

from mcp_common.auth import PRINCIPAL_META_KEY, Principal
from mcp_common.errors import ERROR_META_KEY, NotFound, ReportedError
from mcp_common.tools import ToolCatalog, ToolSpec
from mcp_testkit.testing import tool_error

pytestmark = pytest.mark.anyio


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=10, ge=1, le=100)
    verbose: bool = False


class Page(BaseModel):
    count: int


def _catalog(handler: Any) -> ToolCatalog:
    return ToolCatalog(
        [ToolSpec("page", "Page", "A page.", Args, Page, handler, read_only=True, idempotent=True)]
    )


async def _call(catalog: ToolCatalog, arguments: dict[str, Any]) -> types.CallToolResult:
    return await catalog.call_tool(
        None, types.CallToolRequestParams(name="page", arguments=arguments)
    )


async def _count(args: Args) -> Page:
    return Page(count=args.limit)


async def test_results_carry_structured_content_matching_the_output_model() -> None:
    result = await _call(_catalog(_count), {"limit": 3})
    assert not result.is_error
    assert result.structured_content == {"count": 3}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"limit": "5"}, "limit: Input should be a valid integer"),
        ({"limit": True}, "limit: Input should be a valid integer"),
        ({"verbose": 1}, "verbose: Input should be a valid boolean"),
        ({"limit": 500}, "limit: Input should be less than or equal to 100"),
        ({"page": 2}, "page: unknown argument"),
    ],
)
async def test_arguments_are_held_to_the_published_schema(
    arguments: dict[str, Any], expected: str
) -> None:
    result = await _call(_catalog(_count), arguments)
    error = tool_error(result)
    assert error.code == "invalid_argument"
    assert expected in error.message


async def test_a_domain_failure_keeps_its_code_and_words() -> None:
    async def missing(args: Args) -> Page:
        raise NotFound("no page 7")

    result = await _call(_catalog(missing), {})
    assert tool_error(result) == ReportedError("not_found", "no page 7")
    # What every client shows: the tool's own words, led by the code.
    assert result.content == [types.TextContent(type="text", text="not_found: no page 7")]


async def test_an_upstream_body_that_breaks_the_contract_is_an_upstream_error() -> None:
    async def wrong_shape(args: Args) -> Page:
        return Page.model_validate({"items": []})

    result = await _call(_catalog(wrong_shape), {})
    assert tool_error(result).code == "upstream_error"


async def test_a_bug_is_an_internal_error_that_reveals_nothing() -> None:
    async def buggy(args: Args) -> Page:
        raise KeyError("secret-internal-detail")

    result = await _call(_catalog(buggy), {})
    error = tool_error(result)
    assert error.code == "internal_error"
    assert "secret-internal-detail" not in error.message


async def test_an_unknown_tool_names_the_known_ones() -> None:
    result = await ToolCatalog([]).call_tool(None, types.CallToolRequestParams(name="nope"))
    assert tool_error(result) == ReportedError("invalid_argument", "unknown tool 'nope'; known: ")


def _authenticated(principal: Principal) -> Any:
    """An MCP request context as the SDK hands it, of a request the guard authenticated."""
    return SimpleNamespace(request=SimpleNamespace(scope={"state": {"principal": principal}}))


async def test_every_call_of_an_authenticated_caller_is_one_audit_line_refusals_included(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = _catalog(_count)
    app = _authenticated(Principal(subject="ci", object_id="oid-ci", app_id="ci-app"))
    meta = {PRINCIPAL_META_KEY: {"oid": "oid-alice", "tid": "t", "app_id": "vscode"}}
    with caplog.at_level(logging.INFO, logger="mcp_common.audit"):
        await catalog.call_tool(app, types.CallToolRequestParams(name="page", arguments={}))
        await catalog.call_tool(
            app,
            types.CallToolRequestParams.model_validate(
                {"name": "page", "arguments": {"limit": "3"}, "_meta": meta}
            ),
        )
        await catalog.call_tool(app, types.CallToolRequestParams(name="nope"))
        await _call(catalog, {"limit": 3})  # auth=none: nobody to name, no line
    lines = [r for r in caplog.records if r.name == "mcp_common.audit"]
    assert [
        (r.tool, r.outcome, r.user_oid, r.caller_app) for r in lines  # type: ignore[attr-defined]
    ] == [
        ("page", "ok", "", "ci-app"),
        ("page", "invalid_argument", "oid-alice", "ci-app"),
        ("nope", "invalid_argument", "", "ci-app"),
    ]


async def test_an_error_result_on_the_wire_has_no_structured_content_and_a_coded_meta() -> None:
    """Clients that check structuredContent against outputSchema even when isError is set (the
    TypeScript SDK's) must see the tool's message, not a schema mismatch."""

    async def missing(args: Args) -> Page:
        raise NotFound("no page 7", details={"page": 7})

    wire = (await _call(_catalog(missing), {})).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert "structuredContent" not in wire
    assert wire["isError"] is True
    assert wire["content"] == [{"type": "text", "text": "not_found: no page 7"}]
    assert wire["_meta"] == {ERROR_META_KEY: {"code": "not_found", "details": {"page": 7}}}
