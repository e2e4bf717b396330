"""An MCP session with the aggregator, and the translation of what can go wrong.

`connect` opens the official SDK's `Client` over Streamable HTTP with the Authorization
header, in the protocol generation the settings ask for. Every request waits at most
DISCOVERY_TIMEOUT (connecting, discovery, tools/list) or CALL_TIMEOUT (one tools/call).
Failures leave as `mcp_client.errors` with one-line messages: the SDK reports a refused
connection as an exception group from its transport task and a 401 as a generic JSON-RPC
error, so the HTTP status of every answer is observed here to say what really happened.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import REQUEST_TIMEOUT, CallToolResult, DiscoverResult, Tool
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_client.challenge import HttpObserver, unauthorized
from mcp_client.errors import (
    ClientError,
    ContractViolation,
    RequestRefused,
    ServerTimeout,
    ServerUnreachable,
)
from mcp_client.settings import ClientSettings

logger = logging.getLogger(__name__)

_MAX_PAGES = 100


class Connection:
    """An open session: list the tools, call one."""

    def __init__(
        self, client: Client, settings: ClientSettings, observer: HttpObserver, *, sent_token: bool
    ) -> None:
        self._client = client
        self._settings = settings
        self._observer = observer
        self._sent_token = sent_token

    @property
    def protocol_version(self) -> str:
        return self._client.protocol_version

    async def list_tools(self) -> list[Tool]:
        """Every tool the server lists, all pages.

        Raises:
            ClientError: see `connect`.
        """
        tools: list[Tool] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            self._observer.refusal = None
            try:
                page = await self._client.list_tools(cursor=cursor)
            except MCPError as exc:
                raise self._failure(exc) from exc
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                return tools
        raise ContractViolation(f"tools/list did not end after {_MAX_PAGES} pages")

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """The tool's result; a tool error is a result with `is_error`, not an exception.

        Raises:
            RequestRefused: the server refused the request (unknown tool, invalid params).
            ContractViolation: the result does not match the tool's output schema.
            ServerTimeout: no answer within CALL_TIMEOUT.
            Unauthorized: HTTP 401 or 403.
        """
        self._observer.refusal = None
        try:
            return await self._client.call_tool(
                name, arguments, read_timeout_seconds=self._settings.call_timeout
            )
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise ServerTimeout(
                    f"{name} did not answer within {self._settings.call_timeout:g} s "
                    "(CALL_TIMEOUT)"
                ) from exc
            raise self._failure(exc) from exc
        except RuntimeError as exc:
            # The SDK checks structured content against the listed output schema.
            raise ContractViolation(f"{name}: {exc}") from exc

    def _failure(self, exc: MCPError) -> ClientError:
        translated = _translate(exc, self._settings, self._observer, sent_token=self._sent_token)
        return translated or RequestRefused(exc.message, exc.code)


@contextlib.asynccontextmanager
async def connect(settings: ClientSettings, token: str | None) -> AsyncIterator[Connection]:
    """An open session with `settings.server_url`, sending `token` as a bearer token.

    Raises:
        ServerUnreachable: no connection (refused, unknown host, TLS).
        ServerTimeout: no answer within DISCOVERY_TIMEOUT.
        Unauthorized: HTTP 401 or 403.
        RequestRefused: any other JSON-RPC error answer.
    """
    verify = ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else True
    observer = HttpObserver(verify, settings.discovery_timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # Waiting for answers is bounded per request by the session (read_timeout_seconds).
    timeout = httpx2.Timeout(settings.discovery_timeout, read=None)
    http = httpx2.AsyncClient(
        headers=headers,
        timeout=timeout,
        verify=verify,
        event_hooks={"response": [observer.on_response]},
    )
    try:
        async with http:
            mode, discovered = await _negotiate(http, settings)
            async with Client(
                streamable_http_client(settings.server_url, http_client=http),
                mode=mode,
                prior_discover=discovered,
                read_timeout_seconds=settings.discovery_timeout,
            ) as client:
                yield Connection(client, settings, observer, sent_token=token is not None)
    except (MCPError, httpx2.HTTPError, TimeoutError, BaseExceptionGroup) as exc:
        translated = _translate(exc, settings, observer, sent_token=token is not None)
        if translated is None:
            raise
        raise translated from exc


async def _negotiate(
    http: httpx2.AsyncClient, settings: ClientSettings
) -> tuple[str, DiscoverResult | None]:
    """The mode to open the session in: the configured one, or for `auto` what the server speaks.

    The SDK's own `auto` probe waits a fixed 10 s for `server/discover`; probing in a short
    session of its own bounds the whole negotiation by DISCOVERY_TIMEOUT.
    """
    if settings.protocol != "auto":
        return settings.protocol, None
    with anyio.fail_after(settings.discovery_timeout):
        async with Client(
            streamable_http_client(settings.server_url, http_client=http),
            mode="auto",
            read_timeout_seconds=settings.discovery_timeout,
        ) as probe:
            version = probe.protocol_version
            discovered = probe.session.discover_result
    logger.debug("%s speaks protocol %s", settings.server_url, version)
    if version in MODERN_PROTOCOL_VERSIONS:
        return version, discovered
    return "legacy", None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _translate(
    exc: BaseException, settings: ClientSettings, observer: HttpObserver, *, sent_token: bool
) -> ClientError | None:
    """The user-facing error for `exc`, or None when it is not a connection failure."""
    url = settings.server_url
    refusal = observer.refusal
    if refusal is not None and refusal.status in (401, 403):
        return unauthorized(url, refusal, sent_token=sent_token)
    for leaf in _leaves(exc):
        if isinstance(leaf, ClientError):
            return leaf
        if isinstance(leaf, TimeoutError):
            return ServerTimeout(
                f"the MCP server at {url} did not answer within "
                f"{settings.discovery_timeout:g} s (DISCOVERY_TIMEOUT)"
            )
        if isinstance(leaf, httpx2.TimeoutException):
            return ServerTimeout(
                f"the MCP server at {url} did not accept a connection within "
                f"{settings.discovery_timeout:g} s (DISCOVERY_TIMEOUT)"
            )
        if isinstance(leaf, httpx2.HTTPError):
            cause = _root_cause(leaf)
            return ServerUnreachable(
                f"cannot reach the MCP server at {url}: {cause} "
                "(is it running? set MCP_SERVER_URL or --url)"
            )
        if isinstance(leaf, MCPError):
            if leaf.code == REQUEST_TIMEOUT:
                return ServerTimeout(
                    f"the MCP server at {url} did not answer within "
                    f"{settings.discovery_timeout:g} s (DISCOVERY_TIMEOUT)"
                )
            status = f" (HTTP {refusal.status})" if refusal is not None else ""
            if refusal is not None and refusal.status == 404:
                status = " (HTTP 404: is the URL the MCP endpoint, usually ending in /mcp?)"
            return RequestRefused(
                f"the MCP server at {url} refused the request: {leaf.message}{status}", leaf.code
            )
    return None


def _root_cause(exc: BaseException) -> str:
    """The most specific reason in the chain: `connection refused`, not `all attempts failed`."""
    reason = str(exc) or type(exc).__name__
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and seen.strerror:
            reason = seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__
    return reason
