"""The legacy notification streams: a client too slow to take its events is ended, not left deaf."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.types import Message

from mcp_aggregator.notifications import LegacyNotifier

pytestmark = pytest.mark.anyio

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/mcp", "headers": []}


async def test_a_stream_that_falls_behind_is_closed_so_its_client_reconnects() -> None:
    notifier = LegacyNotifier()
    reading = anyio.Event()
    sent: list[Message] = []
    ended = anyio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            await reading.wait()  # the client does not read: the server's writes block
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            ended.set()

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with anyio.create_task_group() as group:
        group.start_soon(notifier.stream, SCOPE, receive, send)
        with anyio.fail_after(10):
            while notifier.listeners == 0:
                await anyio.sleep(0.01)
        for _ in range(100):
            notifier.publish("tools")
            await anyio.sleep(0)
        assert notifier.listeners == 0, "the stream that cannot keep up is dropped"
        reading.set()  # the client catches up with what was queued
        with anyio.fail_after(10):
            await ended.wait()  # ...and then the stream ends instead of only keeping alive
        group.cancel_scope.cancel()
    events = [m for m in sent if b"list_changed" in m.get("body", b"")]
    assert 60 <= len(events) <= 66, "what was queued is delivered before the end"
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_stream_that_keeps_up_gets_every_event() -> None:
    notifier = LegacyNotifier()
    sent: list[bytes] = []

    async def send(message: Message) -> None:
        sent.append(message.get("body", b""))

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with anyio.create_task_group() as group:
        group.start_soon(notifier.stream, SCOPE, receive, send)
        with anyio.fail_after(10):
            while notifier.listeners == 0:
                await anyio.sleep(0.01)
            for kind in ("tools", "prompts", "resources") * 30:
                notifier.publish(kind)
                await anyio.sleep(0.001)
            while sum(b"list_changed" in body for body in sent) < 90:
                await anyio.sleep(0.01)
        assert notifier.listeners == 1
        group.cancel_scope.cancel()
