"""Small ASGI helpers for code that answers at the ASGI level (the request guard, the
aggregator's front): reading headers, answering JSON, replaying a body already read, and
opening and ending a server-sent-event stream.

They live apart from `guard` so that code which only needs to write an answer does not import
the authentication gate, and so that every event stream a service opens carries the same
headers (`no-transform` and `x-accel-buffering: no` keep proxies from buffering it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import Message, Receive, Scope, Send

EVENT_STREAM_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
)


def header_value(scope: Scope, name: bytes) -> str | None:
    """The value of request header `name` (lower-case bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_body(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with `body` whole, its type and length declared."""
    start = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*start, *headers]})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, body: object, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with `body` as JSON."""
    await send_body(send, status, b"application/json", json.dumps(body).encode(), headers)


async def start_event_stream(
    send: Send, status: int = 200, content_type: bytes = b"text/event-stream"
) -> None:
    """Start a `text/event-stream` answer; `send_chunk` and `end_body` carry on."""
    headers = [(b"content-type", content_type), *EVENT_STREAM_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_chunk(send: Send, body: bytes) -> None:
    """One more part of a streamed answer body."""
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def end_body(send: Send) -> None:
    """End a streamed answer body."""
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def until_disconnect(receive: Receive) -> None:
    """Return when the client goes away (what else it sends on a streamed answer is ignored)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, then whatever the client sends (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def read_replayed_body(receive: Receive) -> bytes:
    """The body behind the guard: `replay` hands it over whole, in its first message."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
