"""Transport failures, translated once: how a failed exchange with an upstream is described
and which of the aggregator's errors it becomes.

Every data-path exchange (the forwarding fast path, the session relay, upstream sessions)
talks HTTP through aiohttp, whose failures are `aiohttp.ClientError`s, `OSError`s (a reset
connection) and `TimeoutError`s (aiohttp's own timeouts are `TimeoutError`s too). Wherever one
happens, it becomes the same error, decided by one thing: whether an answer had begun.

    phase    failure                        error                  the caller reads
    SEND     a timeout                      UpstreamTimeout        did not answer within Ns
    SEND     any other                      UpstreamUnavailable    could not be reached: <kind>
    READ     a timeout                      UpstreamTimeout        did not finish within Ns
    READ     any other                      UpstreamBroken         broke off its answer

The messages name the upstream and a kind of failure (`describe_error`), never the
exception's text, which can hold an internal URL or what the upstream said; that goes to the
log only (`log_detail`). `transport_test` checks that every exception class aiohttp defines
is caught by `TRANSPORT_ERRORS` and mapped.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator

import aiohttp
import httpx2
from mcp.shared.exceptions import MCPError

from mcp_aggregator.errors import (
    ListingTooLarge,
    UpstreamBroken,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)

TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
"""What an aiohttp exchange raises when the transport fails (as opposed to our own errors)."""


class Phase(enum.Enum):
    SEND = "send"
    """Until the upstream's answer begins: the request may not have reached it."""
    READ = "read"
    """While its answer is read: the upstream took the request."""


def upstream_failure(
    exc: BaseException, upstream: str, timeout: float, phase: Phase
) -> UpstreamFailure:
    """The aggregator's error for a transport failure talking to `upstream` (see the table in
    the module docstring); `timeout` is the limit that applied, for the message."""
    if isinstance(exc, TimeoutError):
        verb = "answer" if phase is Phase.SEND else "finish"
        return UpstreamTimeout(f"upstream {upstream!r} did not {verb} within {timeout:g}s")
    if phase is Phase.SEND:
        return UpstreamUnavailable(
            f"upstream {upstream!r} could not be reached: {describe_error(exc)}"
        )
    return UpstreamBroken(f"upstream {upstream!r} broke off its answer before it was complete")


@contextlib.contextmanager
def translated(upstream: str, timeout: float, phase: Phase) -> Iterator[None]:
    """Raise the aggregator's error for any transport failure inside the block.

    Raises:
        UpstreamFailure: see `upstream_failure`.
    """
    try:
        yield
    except TRANSPORT_ERRORS as exc:
        raise upstream_failure(exc, upstream, timeout, phase) from exc


def nothing_sent(exc: BaseException) -> bool:
    """Whether the failure happened before any byte reached the upstream (the connection was
    refused or could not be made): then any request, safe or not, may be sent again."""
    return isinstance(exc, aiohttp.ClientConnectorError)


def describe_error(exc: BaseException) -> str:
    """A short description of why an upstream could not be reached, fit for callers and the
    unauthenticated readiness endpoint: a kind of failure, never the exception's text (which
    can hold the upstream's URL or what it answered; `log_detail` is for the log)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    # aiohttp's on the data path; httpx2's (the MCP SDK client's) on the control path.
    if isinstance(exc, aiohttp.ClientConnectorError | httpx2.ConnectError):
        return "connection refused or unreachable"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(inner) for inner in exc.exceptions[:3])
    if isinstance(exc, ListingTooLarge):
        return str(exc)  # our own words
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}"
    return type(exc).__name__


def log_detail(exc: BaseException) -> str:
    """The exception's own words, for the log only."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(log_detail(inner) for inner in exc.exceptions[:3])
    return f"{type(exc).__name__}: {exc}"[:500]
