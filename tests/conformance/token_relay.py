"""A relay that adds a bearer token, for a client that cannot send one (the conformance suite).

The official conformance CLI has no option for an Authorization header, so to run it against
the aggregator with authentication on, this relay on 127.0.0.1 forwards every request to the
aggregator with `Authorization: Bearer <token>` added, and streams the answer back unchanged
(SSE included). It stands in for the token-holding part of a real MCP client, nothing else.
"""

from __future__ import annotations

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class TokenRelay:
    def __init__(self, target: str, token: str) -> None:
        self._target = target.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["authorization"] = f"Bearer {self._token}"
        upstream = self._http.build_request(
            request.method,
            f"{self._target}{request.url.path}",
            params=request.query_params,
            headers=headers,
            content=await request.body(),
        )
        response = await self._http.send(upstream, stream=True)
        answer = StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP},
            background=BackgroundTask(response.aclose),
        )
        await answer(scope, receive, send)
