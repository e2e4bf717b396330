"""What a real MCP client does with server-everything, as checks any URL must pass.

The same checks run against server-everything directly (they prove the harness and pin what
the server does) and through the aggregator (which must not change what a client sees). Each
opens its own client session with the real Python client (`mcp.Client`), declaring the
capabilities the check needs: server-everything registers its sampling, elicitation and roots
tools only for a client that declared them at `initialize`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from mcp import types
from mcp.client.context import ClientRequestContext
from mcp.client.session import IncomingMessage

from everything.wire_tap import WireTap
from mcp_testkit.testing import connect

ECHO, SUM = "echo", "get-sum"
SAMPLING = "trigger-sampling-request"
ELICITATION = "trigger-elicitation-request"
SUBSCRIBER_UPDATES = "toggle-subscriber-updates"
LONG_RUNNING = "trigger-long-running-operation"
LEGACY = "legacy"

LLM_ANSWER = "The answer, from the test's own LLM, is 42."
ELICITED: dict[str, str | int | float | bool | list[str] | None] = {
    "name": "Ada Lovelace",
    "check": True,
    "email": "ada@example.org",
    "integer": 7,
}

CLIENT_CANCEL_REASON = "caller cancelled"  # what mcp.Client says when its caller gives up

# Bounds on waits, generous for a loaded 2-core machine; nothing asserts how long a step took.
WAIT = 30.0


def texts(content: Sequence[Any]) -> str:
    """The text blocks of a tool result, joined by newlines."""
    return "\n".join(block.text for block in content if isinstance(block, types.TextContent))


async def _tool_names(client: Any) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def tools_listed_and_called(url: str, mode: str) -> None:
    """echo and get-sum are listed and answer, in protocol generation `mode`."""
    async with connect(url, None, mode) as client:
        names = await _tool_names(client)
        assert {ECHO, SUM, LONG_RUNNING, SUBSCRIBER_UPDATES} <= names, sorted(names)
        echoed = await client.call_tool(ECHO, {"message": f"hello over {mode}"})
        assert not echoed.is_error, echoed
        assert texts(echoed.content) == f"Echo: hello over {mode}"
        total = await client.call_tool(SUM, {"a": 2, "b": 40})
        assert not total.is_error, total
        assert texts(total.content) == "The sum of 2 and 40 is 42."


async def capability_tools_unlisted(url: str, mode: str) -> None:
    """A client that declared neither sampling nor elicitation is not offered the tools that
    need them (it could not call them: the server did not register them for its session)."""
    async with connect(url, None, mode) as client:
        names = await _tool_names(client)
    assert ECHO in names, sorted(names)
    assert not {SAMPLING, ELICITATION} & names, sorted(names)


async def sampling_answered(url: str) -> None:
    """trigger-sampling-request asks the client's LLM (a real `sampling_callback`), whose
    answer comes back in the tool's result."""
    asked: list[types.CreateMessageRequestParams] = []

    async def sample(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        asked.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=LLM_ANSWER),
            model="mcp-platform-test-llm",
            stop_reason="endTurn",
        )

    async with connect(url, None, LEGACY, sampling_callback=sample) as client:
        assert SAMPLING in await _tool_names(client)
        with anyio.fail_after(WAIT):
            result = await client.call_tool(SAMPLING, {"prompt": "What is 6 times 7?"})
    assert len(asked) == 1, asked
    prompt = asked[0].messages[0].content
    assert isinstance(prompt, types.TextContent), prompt
    assert "What is 6 times 7?" in prompt.text, prompt
    assert not result.is_error, result
    assert LLM_ANSWER in texts(result.content), texts(result.content)


async def elicitation_answered(url: str) -> None:
    """trigger-elicitation-request asks the user (a real `elicitation_callback`), whose
    answers come back in the tool's result."""
    asked: list[types.ElicitRequestParams] = []

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content=ELICITED)

    async with connect(url, None, LEGACY, elicitation_callback=elicit) as client:
        assert ELICITATION in await _tool_names(client)
        with anyio.fail_after(WAIT):
            result = await client.call_tool(ELICITATION, {})
    assert len(asked) == 1, asked
    assert "name" in (getattr(asked[0], "requested_schema", None) or {}).get("properties", {})
    assert not result.is_error, result
    answer = texts(result.content)
    assert "User provided the requested information" in answer, answer
    assert "- Name: Ada Lovelace" in answer, answer
    assert "- Email: ada@example.org" in answer, answer


async def subscription_notified(url: str) -> None:
    """`resources/subscribe` to a listed resource, then toggle-subscriber-updates: a
    `notifications/resources/updated` for that resource reaches the client (GET stream)."""
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if getattr(message, "method", None) == "notifications/resources/updated":
            updated.append(str(message.params.uri))  # type: ignore[union-attr]
            arrived.set()

    async with connect(url, None, LEGACY, message_handler=on_message) as client:
        listed = [str(resource.uri) for resource in (await client.list_resources()).resources]
        documents = [uri for uri in listed if uri.startswith("demo://resource/static/document/")]
        assert documents, listed
        await client.subscribe_resource(documents[0])
        started = await client.call_tool(SUBSCRIBER_UPDATES, {})
        assert texts(started.content).startswith("Started simulated resource"), started
        with anyio.fail_after(WAIT):  # the server sends one at once, then one every 5 s
            await arrived.wait()
        stopped = await client.call_tool(SUBSCRIBER_UPDATES, {})
        assert texts(stopped.content).startswith("Stopped simulated resource"), stopped
    assert set(updated) == {documents[0]}, updated


def _upstream_call(tap: WireTap, duration: int) -> dict[str, Any]:
    calls = [
        call
        for call in tap.requests("tools/call")
        if call["params"].get("name") == LONG_RUNNING
        and call["params"].get("arguments", {}).get("duration") == duration
    ]
    assert len(calls) <= 1, calls
    return calls[0] if calls else {}


async def long_call_cancelled(
    url: str, tap: WireTap, before_cancel: Callable[[], None] | None = None
) -> None:
    """Two concurrent long calls; the client cancels one (`notifications/cancelled`).

    `before_cancel` runs once both calls are running, just before the cancellation (the
    replica test moves the client to another aggregator replica there).

    `tap` records what server-everything itself received and sent: the cancellation must
    reach it naming the cancelled call's id (as the server knows it), the other call's result
    arrives, and the cancelled call's result is never sent (the TypeScript SDK drops the result
    of a cancelled request). The uncancelled call runs longer, so had the cancellation not
    reached the server, the cancelled call's result would have come first.
    """
    cancelled_seconds, kept_seconds = 5, 8
    outcome: dict[str, types.CallToolResult] = {}
    async with connect(url, None, LEGACY) as client:
        cancel_scope = anyio.CancelScope()

        async def cancelled_call() -> None:
            with cancel_scope:
                arguments = {"duration": cancelled_seconds, "steps": cancelled_seconds}
                outcome["cancelled"] = await client.call_tool(LONG_RUNNING, arguments)

        async def kept_call() -> None:
            arguments = {"duration": kept_seconds, "steps": kept_seconds}
            outcome["kept"] = await client.call_tool(LONG_RUNNING, arguments)

        with anyio.fail_after(WAIT + kept_seconds):
            async with anyio.create_task_group() as group:
                group.start_soon(cancelled_call)
                group.start_soon(kept_call)
                await tap.wait_for(
                    lambda: bool(_upstream_call(tap, cancelled_seconds))
                    and bool(_upstream_call(tap, kept_seconds)),
                    timeout=WAIT,
                )
                if before_cancel is not None:
                    before_cancel()
                cancel_scope.cancel()  # the client sends notifications/cancelled
        cancelled_id = _upstream_call(tap, cancelled_seconds)["id"]
        kept_id = _upstream_call(tap, kept_seconds)["id"]
        with anyio.fail_after(WAIT):
            await tap.wait_for(lambda: bool(tap.responses_to(kept_id)), timeout=WAIT)
        # The client's session is still usable after the cancellation.
        echoed = await client.call_tool(ECHO, {"message": "still here"})
        assert texts(echoed.content) == "Echo: still here"

    assert "cancelled" not in outcome, outcome
    assert texts(outcome["kept"].content) == (
        f"Long running operation completed. Duration: {kept_seconds} seconds, "
        f"Steps: {kept_seconds}."
    ), outcome["kept"]
    # The client's own notification (its reason) reached the server, naming the call.
    reasons = [
        note.get("params", {}).get("reason")
        for note in tap.requests("notifications/cancelled")
        if note.get("params", {}).get("requestId") == cancelled_id
    ]
    assert CLIENT_CANCEL_REASON in reasons, tap.requests("notifications/cancelled")
    assert tap.responses_to(cancelled_id) == [], tap.responses_to(cancelled_id)
    assert len(tap.responses_to(kept_id)) == 1


def upstream_session(text: str, verb: str) -> str:
    """The server's session id in toggle-subscriber-updates' answer
    (`Started simulated ... for session X at ...` or `Stopped simulated ... for session X`)."""
    match = re.match(rf"^{verb} simulated resource .* for session (?P<session>[0-9a-f-]+)\b", text)
    assert match is not None, text
    return match.group("session")
