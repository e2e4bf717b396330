"""The benchmark's peer servers of the users tools, each run as its own process.

    python -m bench.peers floor   --port PORT     # the SDK floor: mcp's MCPServer, fixed rows
    python -m bench.peers fastmcp --port PORT     # FastMCP, the same tools, fixed rows
    python -m bench.peers fastmcp --port PORT --api-url http://127.0.0.1:PORT/api
                                                  # FastMCP calling the users REST API (httpx)

They publish the users server's two tools (`list_users`, `get_user_profile`) with the same
arguments and the same answers' shape, so a call costs the same work in the protocol layer.
Every server here runs the way the platform's own servers run: Streamable HTTP at `/mcp`,
stateless, answers as SSE, under uvicorn with httptools and uvloop. What is left, and
measured against them, is the work the platform's servers add per call.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import uvicorn

Row = dict[str, Any]


def fixed_rows(count: int = 42) -> list[Row]:
    """A directory of `count` people, the same values on every run (the floor has no store)."""
    return [
        {
            "user_id": f"u-{index:04d}",
            "display_name": f"Person {index}",
            "email": f"person{index}@example.com",
            "department": "Engineering",
            "title": "Specialist",
        }
        for index in range(1, count + 1)
    ]


ROWS = fixed_rows()


def page(skip: int, limit: int) -> dict[str, Any]:
    items = ROWS[skip : skip + limit]
    return {
        "items": items,
        "total": len(ROWS),
        "skip": skip,
        "limit": limit,
        "has_more": skip + len(items) < len(ROWS),
    }


def profile(user_id: str) -> dict[str, Any]:
    for row in ROWS:
        if row["user_id"] == user_id:
            return {**row, "details": None}
    raise ValueError(f"no user with id {user_id!r}")


Lister = Callable[[int, int], Awaitable[dict[str, Any]]]
Getter = Callable[[str, bool], Awaitable[dict[str, Any]]]


def _fixed() -> tuple[Lister, Getter]:
    async def lister(skip: int, limit: int) -> dict[str, Any]:
        return page(skip, limit)

    async def getter(user_id: str, include_details: bool) -> dict[str, Any]:
        return profile(user_id)

    return lister, getter


def _remote(http: httpx.AsyncClient) -> tuple[Lister, Getter]:
    async def lister(skip: int, limit: int) -> dict[str, Any]:
        response = await http.get("/users", params={"skip": skip, "limit": limit})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def getter(user_id: str, include_details: bool) -> dict[str, Any]:
        params = {"include_details": str(include_details).lower()}
        response = await http.get(f"/users/{user_id}", params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    return lister, getter


def floor_app(lister: Lister, getter: Getter, stateless: bool = True) -> Any:
    """The SDK's own high-level server (`MCPServer`), nothing added."""
    from mcp.server.mcpserver import MCPServer

    # WARNING: at INFO the SDK logs a line for every stateless request, which is not the floor.
    server = MCPServer("floor", log_level="WARNING")

    @server.tool()
    async def list_users(skip: int = 0, limit: int = 10) -> dict[str, Any]:
        """List people in the company directory, one page at a time."""
        return await lister(skip, limit)

    @server.tool()
    async def get_user_profile(user_id: str, include_details: bool = False) -> dict[str, Any]:
        """Look up one person in the company directory by user_id."""
        return await getter(user_id, include_details)

    return server.streamable_http_app(stateless_http=stateless, json_response=False)


def fastmcp_app(lister: Lister, getter: Getter) -> Any:
    from fastmcp import FastMCP

    server = FastMCP("fastmcp-peer")

    @server.tool
    async def list_users(skip: int = 0, limit: int = 10) -> dict[str, Any]:
        """List people in the company directory, one page at a time."""
        return await lister(skip, limit)

    @server.tool
    async def get_user_profile(user_id: str, include_details: bool = False) -> dict[str, Any]:
        """Look up one person in the company directory by user_id."""
        return await getter(user_id, include_details)

    return server.http_app(path="/mcp", stateless_http=True, json_response=False)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers")
    parser.add_argument("kind", choices=["floor", "fastmcp"])
    parser.add_argument("--port", type=int, required=True, help="port to serve on (127.0.0.1)")
    parser.add_argument("--api-url", help="call this users REST API instead of fixed rows")
    parser.add_argument(
        "--stateful",
        action="store_true",
        help="floor only: keep 2025-11-25 sessions (to measure what stateless costs)",
    )
    args = parser.parse_args(argv)
    http = httpx.AsyncClient(base_url=args.api_url or "http://unused", timeout=10.0)
    lister, getter = _remote(http) if args.api_url else _fixed()
    if args.kind == "floor":
        inner = floor_app(lister, getter, stateless=not args.stateful)
    else:
        inner = fastmcp_app(lister, getter)

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
