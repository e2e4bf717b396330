"""Telling the aggregator's own clients that the merged lists changed, in both generations.

Changes are debounced: a burst of upstream changes (a rolling deploy, a config reload) becomes
one notification per kind after `debounce` seconds of quiet.

- 2026-07-28 clients listen with `subscriptions/listen`; events go through the SDK's
  subscription bus to their streams.
- 2025-11-25 clients hold a GET stream (see `front.McpFront`, stateless sessions); each gets
  `notifications/<kind>/list_changed` as an SSE event. Idle streams get an SSE comment every
  15 s so proxies keep them open. A stream whose client reads too slowly to take its events
  (64 queued) is ended, not left open without them: the client reconnects and re-lists, instead
  of believing it is still told of changes.

Each replica notifies its own listeners; every replica watches the same upstreams, so all of
them see (and announce) the same changes without sharing state.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    SubscriptionBus,
    ToolsListChanged,
)
from starlette.types import Receive, Scope, Send

from mcp_aggregator.catalog import Catalog
from mcp_aggregator.streaming import Ending, relay
from mcp_aggregator.wire import sse_event
from mcp_common.asgi import end_body, start_event_stream

logger = logging.getLogger(__name__)

Put = Callable[[bytes], Awaitable[None]]
"""Puts one SSE event into a client's GET stream."""
Feed = Callable[[Put], Awaitable[None]]
"""Runs beside a GET stream, putting events of its own into it (see `LegacyNotifier.stream`)."""

KEEPALIVE_SECONDS = 15.0
_EVENTS: dict[str, ServerEvent] = {
    "tools": ToolsListChanged(),
    "prompts": PromptsListChanged(),
    "resources": ResourcesListChanged(),
}


def changed_kinds(old: Catalog, new: Catalog) -> set[str]:
    kinds = set()
    if old.tool_signature() != new.tool_signature():
        kinds.add("tools")
    if old.prompts != new.prompts:
        kinds.add("prompts")
    if old.resources != new.resources or old.resource_templates != new.resource_templates:
        kinds.add("resources")
    return kinds


class LegacyNotifier:
    """The GET streams of 2025-11-25 clients on this replica."""

    def __init__(self) -> None:
        self._streams: set[MemoryObjectSendStream[bytes]] = set()

    @property
    def listeners(self) -> int:
        return len(self._streams)

    def publish(self, kind: str) -> None:
        message = {"jsonrpc": "2.0", "method": f"notifications/{kind}/list_changed"}
        event = sse_event(message)
        for stream in list(self._streams):
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                logger.info("ending a notification stream whose client does not keep up")
                self._streams.discard(stream)
                stream.close()  # its relay sees the end and closes the response
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._streams.discard(stream)

    async def stream(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        feeds: Sequence[Feed] = (),
    ) -> None:
        """Serve one GET stream until the client goes away.

        Each of `feeds` runs beside it and puts SSE events of its own into the stream (what
        the client's upstream sessions send, see `upstream_streams.UpstreamStreams.feeds`).
        """
        sender, receiver = anyio.create_memory_object_stream[bytes](max_buffer_size=64)
        self._streams.add(sender)

        async def events() -> AsyncIterator[bytes]:
            while True:
                event = b": keep-alive\n\n"
                try:
                    with anyio.move_on_after(KEEPALIVE_SECONDS):
                        event = await receiver.receive()
                except anyio.EndOfStream:
                    return  # ended by `publish`: the client does not keep up
                yield event

        async def run_feed(feed: Feed) -> None:
            try:
                await feed(sender.send)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the stream was ended (a slow client): the feed ends with it

        try:
            await start_event_stream(send)
            relayed = await relay(
                send, receive, events(), beside=[functools.partial(run_feed, f) for f in feeds]
            )
            if relayed.ending is Ending.COMPLETE:
                await end_body(send)
        except OSError:
            pass  # the client closed the connection mid-write
        finally:
            self._streams.discard(sender)
            sender.close()
            receiver.close()


class ChangeFeed:
    """Collects catalog changes and announces them, debounced, to both kinds of client."""

    def __init__(self, bus: SubscriptionBus, legacy: LegacyNotifier, debounce: float) -> None:
        self._bus = bus
        self._legacy = legacy
        self._debounce = debounce
        self._pending: set[str] = set()
        self._changed = anyio.Event()

    def on_catalog_change(self, old: Catalog, new: Catalog) -> None:
        kinds = changed_kinds(old, new)
        if kinds:
            self._pending |= kinds
            self._changed.set()

    async def run(self) -> None:
        while True:
            await self._changed.wait()
            # Quiet period: restart the wait while changes keep coming.
            while True:
                self._changed = anyio.Event()
                with anyio.move_on_after(self._debounce) as quiet:
                    await self._changed.wait()
                if quiet.cancelled_caught:
                    break
            kinds, self._pending = sorted(self._pending), set()
            for kind in kinds:
                logger.info("announcing %s list change", kind)
                await self._bus.publish(_EVENTS[kind])
                self._legacy.publish(kind)
