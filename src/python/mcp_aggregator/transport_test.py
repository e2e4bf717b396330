"""Every transport failure aiohttp can raise becomes one of the aggregator's errors, the same
way wherever it happens, and no error shows the exception's own words to the caller."""

from __future__ import annotations

import socket

import aiohttp
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from mcp_aggregator.errors import (
    ListingTooLarge,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcp_aggregator.transport import (
    TRANSPORT_ERRORS,
    Phase,
    describe_error,
    log_detail,
    nothing_sent,
    translated,
    upstream_failure,
)

SECRET = "http://10.0.0.7:8101/internal?token=abc"


def _subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    pending = [root]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


def _aiohttp_exceptions() -> list[type[BaseException]]:
    """Every exception class aiohttp's client defines (walked, so a new one is not missed)."""
    classes = {aiohttp.ClientError} | _subclasses(aiohttp.ClientError)
    return sorted(
        (c for c in classes if c.__module__.startswith("aiohttp")), key=lambda c: c.__qualname__
    )


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance without running the constructor (each wants other arguments), carrying
    words that must never reach a caller."""
    exc = cls.__new__(cls)
    exc.args = (SECRET,)
    return exc


def test_the_walk_finds_aiohttp_s_exceptions() -> None:
    names = {cls.__name__ for cls in _aiohttp_exceptions()}
    # The ones the data path meets every day; if the walk found none of them, it walked nothing.
    assert {"ClientConnectorError", "ServerDisconnectedError", "ClientPayloadError"} <= names
    assert len(names) > 15


@pytest.mark.parametrize("cls", _aiohttp_exceptions(), ids=lambda c: c.__qualname__)
def test_every_aiohttp_exception_is_caught_and_mapped_in_both_phases(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, TRANSPORT_ERRORS)
    timeout = issubclass(cls, TimeoutError)
    for phase in Phase:
        with pytest.raises((UpstreamUnavailable, UpstreamBroken)) as caught:
            with translated("tickets", 30, phase):
                raise _instance(cls)
        error = caught.value
        if timeout:
            assert isinstance(error, UpstreamTimeout)
        elif phase is Phase.SEND:
            assert type(error) is UpstreamUnavailable
        else:
            assert type(error) is UpstreamBroken
        assert "'tickets'" in str(error)
        assert SECRET not in str(error), "the exception's words stay in the log"
        assert isinstance(error.__cause__, cls)


@pytest.mark.parametrize(
    "exc",
    [ConnectionResetError(SECRET), BrokenPipeError(SECRET), socket.gaierror(SECRET)],
    ids=lambda e: type(e).__name__,
)
def test_os_errors_are_transport_failures(exc: OSError) -> None:
    assert isinstance(upstream_failure(exc, "data", 5, Phase.SEND), UpstreamUnavailable)
    assert type(upstream_failure(exc, "data", 5, Phase.READ)) is UpstreamBroken


def test_timeouts_say_which_limit_passed() -> None:
    sending = upstream_failure(TimeoutError(), "users", 2.5, Phase.SEND)
    reading = upstream_failure(TimeoutError(), "users", 30, Phase.READ)
    assert str(sending) == "upstream 'users' did not answer within 2.5s"
    assert str(reading) == "upstream 'users' did not finish within 30s"
    assert sending.outcome == reading.outcome == "timeout"


def test_our_own_errors_pass_through_untranslated() -> None:
    with pytest.raises(UpstreamBroken, match="not a JSON-RPC message"):
        with translated("users", 5, Phase.READ):
            raise UpstreamBroken(
                "upstream 'users' answered with something that is not a JSON-RPC message"
            )


def test_only_a_refused_connection_counts_as_nothing_sent() -> None:
    key = aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
    assert nothing_sent(key)
    assert not nothing_sent(_instance(aiohttp.ServerDisconnectedError))
    assert not nothing_sent(TimeoutError())


def test_descriptions_name_a_kind_of_failure_never_the_text() -> None:
    refused = _instance(aiohttp.ClientConnectorError)
    group = BaseExceptionGroup("two", [TimeoutError(SECRET), ValueError(SECRET)])
    assert describe_error(refused) == "connection refused or unreachable"
    assert describe_error(TimeoutError(SECRET)) == "timed out"
    assert describe_error(group) == "timed out; ValueError"
    assert describe_error(MCPError(-32601, SECRET)) == "MCP error -32601"
    assert describe_error(ListingTooLarge("upstream 'x' listed too much")) == (
        "upstream 'x' listed too much"
    )
    assert SECRET in log_detail(group), "the log keeps the detail"


def test_connection_failures_of_both_http_clients_are_described_alike() -> None:
    # aiohttp's on the data path, httpx2's (the MCP SDK client's) on the control path.
    refused = "connection refused or unreachable"
    assert describe_error(httpx2.ConnectError(f"[Errno 111] at {SECRET}")) == refused
    assert describe_error(_instance(aiohttp.ClientConnectorError)) == refused
