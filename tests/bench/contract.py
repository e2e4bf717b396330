"""What the peers publish: the domain servers' own tools, read from them when they have started.

`capture` asks each domain server for its tools (`tools/list`) and for its answer to the call
the benchmark makes; the peers (`bench.peers`) then publish those descriptions and output
schemas and answer with those results. `check_published` proves, once the peers serve, that
each publishes every tool's `outputSchema` as its domain server does: a peer whose schema
differed would make its clients do less work, and calls/s would compare clients. FastMCP
publishes any schema with its local `$ref`s inlined (its own way, whatever the tool), so the
schemas are compared with every `#/$defs/...` reference resolved.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.load import ToolCall
from bench.peers import Published


@contextlib.asynccontextmanager
async def _connected(url: str) -> AsyncIterator[Client]:
    """The SDK client at `url`, in 2026-07-28 (every server here speaks it)."""
    async with (
        httpx2.AsyncClient() as http,
        Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as client,
    ):
        yield client


async def _tools(client: Client) -> dict[str, tuple[str, dict[str, object] | None]]:
    listing = await client.list_tools()
    return {tool.name: (tool.description or "", tool.output_schema) for tool in listing.tools}


async def capture(calls: Mapping[str, Sequence[ToolCall]]) -> dict[str, Published]:
    """For every server URL in `calls`, each of its tools named there: the description and
    `outputSchema` it publishes and its `structuredContent` answer to that call.

    Raises:
        ContractError: a tool is missing, has no output schema, or the call failed.
    """
    contract: dict[str, Published] = {}
    for url, wanted in calls.items():
        async with _connected(url) as client:
            published = await _tools(client)
            for call in wanted:
                if call.name not in published:
                    raise ContractError(f"{url} does not publish {call.name}")
                description, schema = published[call.name]
                if schema is None:
                    raise ContractError(f"{url} publishes {call.name} without an outputSchema")
                result = await client.call_tool(call.name, dict(call.arguments))
                if result.is_error or result.structured_content is None:
                    raise ContractError(f"{url}: {call.name} {dict(call.arguments)} failed")
                contract[call.name] = Published(description, schema, result.structured_content)
    return contract


async def check_published(url: str, contract: Mapping[str, Published]) -> None:
    """Raises ContractError unless the server at `url` publishes every tool of `contract`
    with the same `outputSchema`."""
    async with _connected(url) as client:
        published = await _tools(client)
    for name, expected in contract.items():
        if name not in published:
            raise ContractError(f"{url} does not publish {name}")
        if dereferenced(published[name][1]) != dereferenced(expected.output_schema):
            raise ContractError(f"{url} publishes {name} with another outputSchema")


def dereferenced(schema: Any, definitions: Mapping[str, Any] | None = None) -> Any:
    """`schema` with each local `{"$ref": "#/$defs/<name>"}` replaced by that definition and
    `$defs` dropped (the schemas here are not recursive)."""
    if isinstance(schema, list):
        return [dereferenced(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if definitions is None:
        definitions = schema.get("$defs", {})
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and len(schema) == 1:
        return dereferenced(definitions[ref.removeprefix("#/$defs/")], definitions)
    return {k: dereferenced(v, definitions) for k, v in schema.items() if k != "$defs"}


class ContractError(Exception):
    """A peer cannot publish the domain servers' tools as they do; the message says why."""
