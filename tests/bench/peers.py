"""The benchmark's peer servers of the domain tools, each run as its own process.

    python -m bench.peers floor   --port PORT --contract FILE   # the SDK floor: mcp's MCPServer
    python -m bench.peers fastmcp --port PORT --contract FILE   # FastMCP, the same tools
    python -m bench.peers fastmcp --port PORT --contract FILE --api-url http://127.0.0.1:PORT/api
                                                  # FastMCP calling the users REST API (httpx)

They publish the domain servers' tools (`list_users`, `get_user_profile`, `list_tickets`,
`query_data`) with the same arguments and the same `outputSchema`, and answer with the same
structured content, so a call costs the client and the protocol layer the same work. `FILE`
(see `Contract`) holds, per tool, the description, the `outputSchema` and the answer the
domain server gave to the benchmark's call, captured by the benchmark when the domain servers
have started; the peers answer every call with it (fixed rows), or, with `--api-url`, the users
tools call the users REST API.

Why the schema, not only the answer: the SDK client validates `structuredContent` against the
published `outputSchema`. A peer publishing `dict[str, Any]` (a schema that checks nothing)
makes its clients cheaper than the domain servers' by 15% of the client's CPU, and calls/s at
c=32 then compares clients, not servers. The peers still do no more than the SDK does with a
`dict` result: the schema is published as the SDK documents for hand-built metadata
(`FuncMetadata.output_schema`, advertised, and validated by the client), not rebuilt as models.

Every server here runs the way the platform's own servers run: Streamable HTTP at `/mcp`,
stateless, answers as SSE, under uvicorn with httptools and uvloop. What is left, and
measured against them, is the work the platform's servers add per call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

PEER_TOOLS = ("list_users", "get_user_profile", "list_tickets", "query_data")
"""The tools a peer serves (when the contract has them), each defined below by hand."""


@dataclass(frozen=True)
class Published:
    """One tool as a domain server publishes it, and its answer to the benchmark's call."""

    description: str
    output_schema: dict[str, Any]
    answer: dict[str, Any]


Contract = Mapping[str, Published]
"""Tool name -> what the domain server publishes and answered; as JSON, one object per name
with keys `description`, `outputSchema`, `answer`."""


def read_contract(path: Path) -> dict[str, Published]:
    raw = json.loads(path.read_text())
    return {
        name: Published(entry["description"], entry["outputSchema"], entry["answer"])
        for name, entry in raw.items()
    }


def write_contract(path: Path, contract: Contract) -> None:
    body = {
        name: {"description": p.description, "outputSchema": p.output_schema, "answer": p.answer}
        for name, p in contract.items()
    }
    path.write_text(json.dumps(body, indent=2) + "\n")


Handler = Callable[..., Awaitable[dict[str, Any]]]


def _handlers(contract: Contract, http: httpx.AsyncClient | None) -> dict[str, Handler]:
    """The tools' coroutines, with the domain servers' parameters: each answers what the
    contract captured, or (users tools, with `http`) what the users REST API answers."""

    def fixed(name: str) -> dict[str, Any]:
        return contract[name].answer

    async def list_users(skip: int = 0, limit: int = 10) -> dict[str, Any]:
        if http is None:
            return fixed("list_users")
        response = await http.get("/users", params={"skip": skip, "limit": limit})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def get_user_profile(user_id: str, include_details: bool = False) -> dict[str, Any]:
        if http is None:
            return fixed("get_user_profile")
        params = {"include_details": str(include_details).lower()}
        response = await http.get(f"/users/{user_id}", params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def list_tickets(
        status: str | None = None, skip: int = 0, limit: int = 10
    ) -> dict[str, Any]:
        return fixed("list_tickets")

    async def query_data(
        dataset: str, filters: dict[str, Any] | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return fixed("query_data")

    handlers: dict[str, Handler] = {
        "list_users": list_users,
        "get_user_profile": get_user_profile,
        "list_tickets": list_tickets,
        "query_data": query_data,
    }
    return {name: handlers[name] for name in PEER_TOOLS if name in contract}


def floor_app(
    contract: Contract, http: httpx.AsyncClient | None = None, stateless: bool = True
) -> Any:
    """The SDK's own high-level server (`MCPServer`), nothing added."""
    from mcp.server.mcpserver import MCPServer

    # WARNING: at INFO the SDK logs a line for every stateless request, which is not the floor.
    server = MCPServer("floor", log_level="WARNING")
    for name, handler in _handlers(contract, http).items():
        server.add_tool(handler, name=name, description=contract[name].description)
        # Published as given, the SDK's way for hand-built metadata ("advertised but not
        # validated here"); MCPServer has no public argument for it (FastMCP has one).
        tool = server._tool_manager.get_tool(name)
        assert tool is not None
        tool.fn_metadata.output_schema = contract[name].output_schema
    return server.streamable_http_app(stateless_http=stateless, json_response=False)


def fastmcp_app(contract: Contract, http: httpx.AsyncClient | None = None) -> Any:
    from fastmcp import FastMCP

    server = FastMCP("fastmcp-peer")
    for name, handler in _handlers(contract, http).items():
        server.tool(
            handler,
            name=name,
            description=contract[name].description,
            output_schema=contract[name].output_schema,
        )
    return server.http_app(path="/mcp", stateless_http=True, json_response=False)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers")
    parser.add_argument("kind", choices=["floor", "fastmcp"])
    parser.add_argument("--port", type=int, required=True, help="port to serve on (127.0.0.1)")
    parser.add_argument(
        "--contract", type=Path, required=True, help="the tools to publish (see Contract)"
    )
    parser.add_argument("--api-url", help="users tools: call this REST API, not fixed answers")
    parser.add_argument(
        "--stateful",
        action="store_true",
        help="floor only: keep 2025-11-25 sessions (to measure what stateless costs)",
    )
    args = parser.parse_args(argv)
    contract = read_contract(args.contract)
    http = httpx.AsyncClient(base_url=args.api_url or "http://unused", timeout=10.0)
    remote = http if args.api_url else None
    if args.kind == "floor":
        inner = floor_app(contract, remote, stateless=not args.stateful)
    else:
        inner = fastmcp_app(contract, remote)

    @contextlib.asynccontextmanager
    async def closing() -> AsyncIterator[None]:
        async with http:
            yield

    app = _with_lifespan(inner, closing)

    async def with_readiness(scope: Any, receive: Any, send: Any) -> None:
        # The benchmark waits for this, as for the platform's servers.
        if scope["type"] == "http" and scope["path"] == "/health/ready":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ready"})
            return
        await app(scope, receive, send)

    uvicorn.run(
        with_readiness,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def _with_lifespan(
    app: Any, extra: Callable[[], contextlib.AbstractAsyncContextManager[None]]
) -> Any:
    """`app` (a Starlette app whose lifespan runs the SDK's session manager) plus `extra`."""
    inner_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(starlette_app: Any) -> AsyncIterator[None]:
        async with extra(), inner_lifespan(starlette_app):
            yield

    app.router.lifespan_context = lifespan
    return app


if __name__ == "__main__":
    main(sys.argv[1:])
