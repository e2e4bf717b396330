"""Reading a request's whole body before the app sees it, so an early disconnect is quiet.

A client that goes away while still sending its request (a cancelled call, a load balancer's
timeout, a load test's clients stopping) is ordinary traffic. Unhandled, Starlette's
`Request.body()` raises `ClientDisconnect` deep inside the handler: the MCP SDK's Streamable
HTTP transport logs it as an ERROR with a traceback ("Error handling POST request") and a
FastAPI route ends in uvicorn's "Exception in ASGI application", which buries real errors.

`WholeBodyFirst` sits in front of the app, reads the body as it arrives, and on a disconnect
before its end logs one DEBUG line and stops: no handler runs for a request that was never
complete. A complete body is handed to the app as one message; later `receive()` calls (an
SSE response watching for the client to leave) go to the server as before. The handlers read
the whole body anyway, so buffering it here costs no extra memory.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class WholeBodyFirst:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                logger.debug(
                    "client disconnected before sending all of %s %s; nothing was run",
                    scope["method"],
                    scope["path"],
                )
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._app(scope, replay, send)
