"""A test-only MCP server with the fixtures the MCP conformance suite's server scenarios call.

`@modelcontextprotocol/conformance` (npm) tests a server by calling tools, prompts and
resources of agreed names (`test_simple_text`, `test://static-text`, ...); the names, arguments
and results below follow the scenario descriptions of version 0.1.16 (`list --server`).

By default it is served like every server of this platform: stateless Streamable HTTP. What
needs a session therefore cannot work, by design, and the suite reports it:
- server-to-client requests (sampling, elicitation): the tools try, and return a tool error
  naming the missing back-channel;
- `resources/subscribe`: not implemented, because a stateless server has no stream to deliver
  `notifications/resources/updated` on, and accepting a subscription that can never fire
  would mislead a client;
- `logging/setLevel` is accepted, but a level cannot outlive its request: log messages that
  ride a tool call's own response stream are sent at every level (the handshake-era default).

`build_app(sessions=True)` serves it the way most third-party servers are served: stateful
Streamable HTTP, a session per `initialize` (`Mcp-Session-Id`). Then sampling and elicitation
reach the client on the tool call's stream, `resources/subscribe` and `unsubscribe` are
implemented, and the extra tool `test_update_resource` changes a resource: every session
subscribed to it gets `notifications/resources/updated` on its GET stream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import struct
import warnings
import wave
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from starlette.applications import Starlette

Context = ServerRequestContext[Any, Any]
ToolHandler = Callable[[Context, dict[str, Any]], Awaitable[types.CallToolResult]]

TEMPLATE = "test://template/{id}/data"
JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
COMPLETIONS = ("paris", "park", "party", "test", "testing", "tested")


def _png_1x1_red() -> str:
    """A valid 1x1 red PNG, base64: an image any client can decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    png = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()


def _wav_silence() -> str:
    """10 ms of 8 kHz mono silence as a WAV file, base64."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    return base64.b64encode(buffer.getvalue()).decode()


PNG = _png_1x1_red()
WAV = _wav_silence()


@contextlib.contextmanager
def _deprecated_ok() -> Iterator[None]:
    """Silence MCPDeprecationWarning: logging and sampling are gone at 2026-07-28 but part of
    2025-11-25, which the suite tests. Wrap only the call (the SDK warns when it is called),
    never an await: warning filters are process-wide."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        yield


def _text(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


def _no_args() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


# -- tools ------------------------------------------------------------------------------------


async def _simple_text(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    return _text("This is a simple text response for testing.")


async def _image(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.ImageContent(type="image", data=PNG, mime_type="image/png")]
    )


async def _audio(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]
    )


async def _embedded_resource(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    resource = types.TextResourceContents(
        uri="test://embedded-resource",
        mime_type="text/plain",
        text="This is an embedded resource content.",
    )
    return types.CallToolResult(
        content=[types.EmbeddedResource(type="resource", resource=resource)]
    )


async def _mixed(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    resource = types.TextResourceContents(
        uri="test://mixed-content-resource",
        mime_type="application/json",
        text=json.dumps({"test": "data", "value": 123}),
    )
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="Multiple content types test:"),
            types.ImageContent(type="image", data=PNG, mime_type="image/png"),
            types.EmbeddedResource(type="resource", resource=resource),
        ]
    )


async def _with_logging(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    # related_request_id puts the messages on this call's own response stream: the only
    # stream a stateless server has.
    for index, message in enumerate(
        ("Tool execution started", "Tool processing data", "Tool execution completed")
    ):
        if index:
            await asyncio.sleep(0.05)
        with _deprecated_ok():
            sending = ctx.session.send_log_message(
                "info", message, logger="conformance-fixture", related_request_id=ctx.request_id
            )
        await sending
    return _text("Tool with logging executed successfully")


async def _error(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    return _text("This tool intentionally returns an error for testing", error=True)


async def _with_progress(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    # report_progress is a no-op when the request carried no progressToken.
    for index, progress in enumerate((0.0, 50.0, 100.0)):
        if index:
            await asyncio.sleep(0.05)
        await ctx.session.report_progress(progress, 100.0)
    return _text("Tool with progress executed successfully")


async def _sampling(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    prompt = str(args.get("prompt", ""))
    message = types.SamplingMessage(
        role="user", content=types.TextContent(type="text", text=prompt)
    )
    with _deprecated_ok():
        asking = ctx.session.create_message(
            [message], max_tokens=100, related_request_id=ctx.request_id
        )
    try:
        result = await asking
    except MCPError as exc:
        return _text(f"sampling failed: {exc}", error=True)
    content = result.content
    text = content.text if isinstance(content, types.TextContent) else str(content)
    return _text(f"LLM response: {text}")


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> types.CallToolResult:
    try:
        result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
    except MCPError as exc:
        return _text(f"elicitation failed: {exc}", error=True)
    return _text(
        f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"
    )


async def _elicitation(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    return await _elicit(ctx, str(args.get("message", "")), schema)


async def _elicitation_defaults(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verified", "default": True},
        },
    }
    return await _elicit(ctx, "Test client default value handling", schema)


async def _elicitation_enums(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    titled = [{"const": f"value{i}", "title": t} for i, t in enumerate(("First", "Second"), 1)]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "oneOf": titled},
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {"type": "array", "items": {"anyOf": titled}},
        },
    }
    return await _elicit(ctx, "Test enum schema variants", schema)


async def _json_schema_tool(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    return _text(f"received {json.dumps(args, sort_keys=True)}")


async def _reconnection(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    # Closing the stream mid-call needs an event store to resume from; a stateless server
    # has none, so the result comes on the POST stream.
    return _text("Reconnection test completed successfully")


TOOLS: dict[str, tuple[str, dict[str, Any], ToolHandler]] = {
    "test_simple_text": ("Returns simple text content", _no_args(), _simple_text),
    "test_image_content": ("Returns a 1x1 PNG image", _no_args(), _image),
    "test_audio_content": ("Returns a short WAV clip", _no_args(), _audio),
    "test_embedded_resource": ("Returns an embedded text resource", _no_args(), _embedded_resource),
    "test_multiple_content_types": ("Returns text, image and resource", _no_args(), _mixed),
    "test_tool_with_logging": ("Sends three info log messages", _no_args(), _with_logging),
    "test_error_handling": ("Always returns a tool error", _no_args(), _error),
    "test_tool_with_progress": ("Reports progress 0, 50, 100 of 100", _no_args(), _with_progress),
    "test_sampling": (
        "Asks the client's LLM to answer a prompt",
        {
            "type": "object",
            "properties": {"prompt": {"type": "string", "description": "Prompt for the LLM"}},
            "required": ["prompt"],
        },
        _sampling,
    ),
    "test_elicitation": (
        "Asks the user for a username and email",
        {
            "type": "object",
            "properties": {"message": {"type": "string", "description": "Message to show"}},
            "required": ["message"],
        },
        _elicitation,
    ),
    "test_elicitation_sep1034_defaults": (
        "Elicits a form whose fields have defaults",
        _no_args(),
        _elicitation_defaults,
    ),
    "test_elicitation_sep1330_enums": (
        "Elicits a form with every enum variant",
        _no_args(),
        _elicitation_enums,
    ),
    "json_schema_2020_12_tool": (
        "Tool with JSON Schema 2020-12 features",
        {
            "$schema": JSON_SCHEMA_2020_12,
            "type": "object",
            "$defs": {
                "address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
        _json_schema_tool,
    ),
    "test_reconnection": ("Answers on the POST stream", _no_args(), _reconnection),
}


# -- resources --------------------------------------------------------------------------------

RESOURCES: dict[
    str, tuple[types.Resource, types.TextResourceContents | types.BlobResourceContents]
] = {
    "test://static-text": (
        types.Resource(
            uri="test://static-text",
            name="static-text",
            description="A static text resource",
            mime_type="text/plain",
        ),
        types.TextResourceContents(
            uri="test://static-text",
            mime_type="text/plain",
            text="This is the content of the static text resource.",
        ),
    ),
    "test://static-binary": (
        types.Resource(
            uri="test://static-binary",
            name="static-binary",
            description="A static binary resource (a PNG)",
            mime_type="image/png",
        ),
        types.BlobResourceContents(uri="test://static-binary", mime_type="image/png", blob=PNG),
    ),
    "test://watched-resource": (
        types.Resource(
            uri="test://watched-resource",
            name="watched-resource",
            description="The resource the subscription scenarios name",
            mime_type="text/plain",
        ),
        types.TextResourceContents(
            uri="test://watched-resource", mime_type="text/plain", text="Watched resource content"
        ),
    ),
}


async def _list_resources(
    ctx: Context, params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=[resource for resource, _ in RESOURCES.values()])


async def _list_templates(
    ctx: Context, params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    template = types.ResourceTemplate(
        uri_template=TEMPLATE,
        name="template-data",
        description="JSON data for an id",
        mime_type="application/json",
    )
    return types.ListResourceTemplatesResult(resource_templates=[template])


def _template_id(uri: str) -> str | None:
    prefix, suffix = TEMPLATE.split("{id}")
    if uri.startswith(prefix) and uri.endswith(suffix):
        value = uri[len(prefix) : len(uri) - len(suffix)]
        if value and "/" not in value:
            return value
    return None


async def _read_resource(
    ctx: Context, params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    entry = RESOURCES.get(params.uri)
    if entry is not None:
        return types.ReadResourceResult(contents=[entry[1]])
    item = _template_id(params.uri)
    if item is None:
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=f"unknown resource {params.uri!r}; known: {sorted(RESOURCES)} and {TEMPLATE}",
        )
    body = {"id": item, "templateTest": True, "data": f"Data for ID: {item}"}
    contents = types.TextResourceContents(
        uri=params.uri, mime_type="application/json", text=json.dumps(body)
    )
    return types.ReadResourceResult(contents=[contents])


# -- prompts ----------------------------------------------------------------------------------

PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with two required arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt embedding a resource",
        arguments=[
            types.PromptArgument(
                name="resourceUri", description="URI of the resource to embed", required=True
            )
        ],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]


def _user(content: Any) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=content)


def _required(args: dict[str, str], *names: str) -> list[str]:
    missing = [name for name in names if name not in args]
    if missing:
        raise MCPError(code=types.INVALID_PARAMS, message=f"missing prompt arguments: {missing}")
    return [args[name] for name in names]


async def _get_prompt(ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    args = params.arguments or {}
    if params.name == "test_simple_prompt":
        messages = [
            _user(types.TextContent(type="text", text="This is a simple prompt for testing."))
        ]
    elif params.name == "test_prompt_with_arguments":
        arg1, arg2 = _required(args, "arg1", "arg2")
        text = f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
        messages = [_user(types.TextContent(type="text", text=text))]
    elif params.name == "test_prompt_with_embedded_resource":
        (uri,) = _required(args, "resourceUri")
        resource = types.TextResourceContents(
            uri=uri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        messages = [
            _user(types.EmbeddedResource(type="resource", resource=resource)),
            _user(
                types.TextContent(type="text", text="Please process the embedded resource above.")
            ),
        ]
    elif params.name == "test_prompt_with_image":
        messages = [
            _user(types.ImageContent(type="image", data=PNG, mime_type="image/png")),
            _user(types.TextContent(type="text", text="Please analyze the image above.")),
        ]
    else:
        known = [prompt.name for prompt in PROMPTS]
        raise MCPError(
            code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}; known: {known}"
        )
    return types.GetPromptResult(messages=messages)


async def _list_prompts(
    ctx: Context, params: types.PaginatedRequestParams | None
) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=PROMPTS)


# -- utilities --------------------------------------------------------------------------------


async def _complete(ctx: Context, params: types.CompleteRequestParams) -> types.CompleteResult:
    ref = params.ref
    if isinstance(ref, types.PromptReference):
        if ref.name != "test_prompt_with_arguments" or params.argument.name not in ("arg1", "arg2"):
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"no completions for prompt {ref.name!r} argument {params.argument.name!r}",
            )
        candidates: tuple[str, ...] = COMPLETIONS
    elif ref.uri == TEMPLATE and params.argument.name == "id":
        candidates = ("1", "123", "456")
    else:
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=f"no completions for {ref.uri!r} argument {params.argument.name!r}",
        )
    values = [value for value in candidates if value.startswith(params.argument.value)]
    return types.CompleteResult(
        completion=types.Completion(values=values, total=len(values), has_more=False)
    )


async def _set_level(ctx: Context, params: types.SetLevelRequestParams) -> types.EmptyResult:
    # Stateless: no later request can see this level (see the module docstring).
    return types.EmptyResult()


# -- subscriptions (session-based mode) --------------------------------------------------------

UPDATE_TOOL = "test_update_resource"


class Subscriptions:
    """Which client sessions subscribed to which resource URIs (session-based mode only: a
    stateless server has no stream to notify on)."""

    def __init__(self) -> None:
        # uri -> client session id -> that session (a handle on its standalone stream).
        self._by_uri: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _session_id(ctx: Context) -> str:
        # ctx.session is built per request; the transport's session id is what stays.
        request = ctx.request
        session_id = request.headers.get("mcp-session-id") if request is not None else None
        if not session_id:
            raise MCPError(code=types.INVALID_REQUEST, message="subscriptions need a session")
        return str(session_id)

    async def subscribe(
        self, ctx: Context, params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        uri = str(params.uri)
        if uri not in RESOURCES:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"cannot subscribe to unknown resource {uri!r}; known: {sorted(RESOURCES)}",
            )
        self._by_uri.setdefault(uri, {})[self._session_id(ctx)] = ctx.session
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: Context, params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self._by_uri.get(str(params.uri), {}).pop(self._session_id(ctx), None)
        return types.EmptyResult()

    async def update(self, ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
        """The `test_update_resource` tool: notify every subscriber of `uri` (not on this
        call's stream: each subscriber's own GET stream)."""
        uri = str(args.get("uri", ""))
        if uri not in RESOURCES:
            return _text(f"unknown resource {uri!r}; known: {sorted(RESOURCES)}", error=True)
        notified = 0
        for session_id, session in list(self._by_uri.get(uri, {}).items()):
            try:
                await session.send_resource_updated(uri)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._by_uri[uri].pop(session_id, None)  # that client went away
                continue
            notified += 1
        return _text(f"updated {uri}; notified {notified} subscriber(s)")


def _update_tool_entry(subscriptions: Subscriptions) -> tuple[str, dict[str, Any], ToolHandler]:
    schema = {
        "type": "object",
        "properties": {"uri": {"type": "string", "description": "The resource that changed"}},
        "required": ["uri"],
    }
    return ("Changes a resource: its subscribers are notified", schema, subscriptions.update)


def build_server(*, sessions: bool = False) -> Server[Any]:
    """The conformance fixture server (low-level SDK server, handlers above); with `sessions`,
    resource subscriptions and the `test_update_resource` tool too."""
    tools = dict(TOOLS)
    subscribing: dict[str, Any] = {}
    if sessions:
        subscriptions = Subscriptions()
        tools[UPDATE_TOOL] = _update_tool_entry(subscriptions)
        subscribing = {
            "on_subscribe_resource": subscriptions.subscribe,
            "on_unsubscribe_resource": subscriptions.unsubscribe,
        }

    async def list_tools(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(name=name, description=description, input_schema=schema)
                for name, (description, schema, _) in tools.items()
            ]
        )

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        entry = tools.get(params.name)
        if entry is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown tool {params.name!r}; known: {sorted(tools)}",
            )
        return await entry[2](ctx, params.arguments or {})

    with _deprecated_ok():  # on_set_logging_level, resources/subscribe
        return Server(
            "mcp-conformance-fixture",
            version="1.0.0",
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=_list_resources,
            on_list_resource_templates=_list_templates,
            on_read_resource=_read_resource,
            on_list_prompts=_list_prompts,
            on_get_prompt=_get_prompt,
            on_completion=_complete,
            on_set_logging_level=_set_level,
            **subscribing,
        )


def build_app(*, sessions: bool = False) -> Starlette:
    """The fixture as an ASGI app at `/mcp`, localhost only: stateless Streamable HTTP, or with
    `sessions` stateful (a session per `initialize`)."""
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    return build_server(sessions=sessions).streamable_http_app(
        streamable_http_path="/mcp", stateless_http=not sessions, transport_security=security
    )
