"""The request guard as an ASGI app in front of a small Starlette app: every refusal it answers,
and what it hands the app when it lets a request through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Scope

from mcp_common.auth import (
    AuthError,
    EntraConfig,
    Forbidden,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
    Principal,
    TokenVerifier,
    bearer_token,
)
from mcp_common.guard import (
    EntraAuthentication,
    HostPolicy,
    NoAuthentication,
    RequestGuard,
    challenge,
)
from mcp_common.limits import RateLimiter
from mcp_testkit.fake_entra import fake_entra
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

HOSTS = HostPolicy(
    allowed_hosts=("127.0.0.1:*", "service.internal"),
    allowed_origins=("http://localhost:*", "https://portal.example"),
)
ALICE = Principal(subject="alice", tenant_id="t", object_id="a", app_id="app")
BOB = Principal(subject="bob", tenant_id="t", object_id="b", app_id="app")
METADATA = "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"


class Tokens:
    """An `Authenticator` over a fixed table of bearer tokens; `closed` once shut down."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals
        self.closed = False

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise MissingToken("this endpoint needs a bearer token")
        if token == "keys-down":
            raise KeysUnavailable("the signing keys are unavailable; try again shortly")
        if token not in self.principals:
            raise InvalidToken("the token's signature does not verify")
        return self.principals[token]

    async def aclose(self) -> None:
        self.closed = True


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    # Where routes find the caller: Starlette's request.state (the scope's "state").
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return JSONResponse({"body": body.decode(), "subject": None})
    return JSONResponse(
        {"body": body.decode(), "subject": principal.subject, "app": principal.app_id}
    )


INNER = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])


def _client(guard: RequestGuard, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=guard, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


def _guard(**options: Any) -> RequestGuard:
    authenticator = options.pop("authenticator", Tokens({"alice": ALICE, "bob": BOB}))
    return RequestGuard(INNER, authenticator=authenticator, hosts=HOSTS, **options)


async def test_public_paths_need_no_token_and_answer_any_host() -> None:
    async with _client(_guard()) as http:
        for path in ("/health/live", "/metrics", "/.well-known/oauth-protected-resource/mcp"):
            response = await http.get(path, headers={"Host": "10.244.1.17:8080"})
            assert response.status_code == 200, path
            assert response.json()["subject"] is None, "nobody was authenticated"
        private = await http.get("/metrics/extra")
    assert private.status_code == 401, "only the exact public paths pass"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "127.0.0.1:9999"}, 200),
        ({"Host": "service.internal"}, 200),
        ({"Host": "service.internal:8000"}, 421),
        ({"Host": "evil.example"}, 421),
        ({"Origin": "http://localhost:3000"}, 200),
        ({"Origin": "https://portal.example"}, 200),
        ({"Origin": "http://localhost.evil.example"}, 403),
        ({"Origin": "null"}, 403),
    ],
)
async def test_host_and_origin_allow_lists(headers: dict[str, str], status: int) -> None:
    async with _client(_guard()) as http:
        response = await http.get("/api", headers={**headers, "Authorization": "Bearer alice"})
    assert response.status_code == status
    if status == 421:
        assert response.json()["error"] == "invalid_host"
        assert "ALLOWED_HOSTS" in response.json()["error_description"]
    if status == 403:
        assert response.json()["error"] == "invalid_origin"
        assert "ALLOWED_ORIGINS" in response.json()["error_description"]


async def test_a_token_in_the_query_string_is_refused_even_with_a_valid_header() -> None:
    async with _client(_guard()) as http:
        headers = {"Authorization": "Bearer alice"}
        first = await http.get("/api?access_token=alice", headers=headers)
        later = await http.get("/api?page=2&access_token=alice", headers=headers)
        lookalike = await http.get("/api?my_access_token=x", headers=headers)
    for refused in (first, later):
        assert refused.status_code == 401
        assert "Authorization header" in refused.json()["error_description"]
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert lookalike.status_code == 200


async def test_refusals_carry_the_challenge_naming_the_resource_metadata() -> None:
    guard = _guard(resource_metadata=lambda scope: METADATA)
    async with _client(guard) as http:
        missing = await http.post("/mcp", content=b"{}")
        invalid = await http.post("/mcp", headers={"Authorization": "Bearer forged"})
        other_scheme = await http.post("/mcp", headers={"Authorization": "Basic YTpi"})
        keys_down = await http.post("/mcp", headers={"Authorization": "Bearer keys-down"})
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized"
    assert missing.headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA}"'
    for refused in (invalid, other_scheme):
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert refused.headers["www-authenticate"] == (
            f'Bearer error="invalid_token", resource_metadata="{METADATA}"'
        )
    assert keys_down.status_code == 503, "the request cannot be judged: not the caller's fault"
    assert keys_down.json()["error"] == "temporarily_unavailable"
    assert "www-authenticate" not in keys_down.headers


async def test_entra_authentication_lets_only_the_allowed_applications_through(
    tmp_path: Path,
) -> None:
    async with fake_entra(tmp_path) as entra:
        config = EntraConfig(
            tenant_id=entra.tenant_id,
            audiences=("api://mcp-tickets",),
            authority_host=entra.authority,
            ca_bundle=entra.ca_bundle,
        )
        authentication = EntraAuthentication(TokenVerifier(config), allowed_apps=["aggregator"])
        async with _client(_guard(authenticator=authentication)) as http:
            allowed = entra.token("api://mcp-tickets", app_id="aggregator")
            direct = entra.token("api://mcp-tickets", app_id="someone-else")
            through = await http.get("/api", headers={"Authorization": f"Bearer {allowed}"})
            refused = await http.get("/api", headers={"Authorization": f"Bearer {direct}"})
            missing = await http.get("/api")
        await authentication.aclose()
    assert through.status_code == 200
    assert through.json()["app"] == "aggregator"
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert "'someone-else' may not call this service directly" in refused.text
    assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    assert missing.status_code == 401
    assert "Entra ID bearer token" in missing.json()["error_description"]


async def test_each_caller_has_its_own_rate_limit_and_429_says_when_to_retry() -> None:
    guard = _guard(rate_limiter=RateLimiter(rate=0.01, burst=2))
    async with _client(guard) as http:
        alice = [await http.get("/api", headers={"Authorization": "Bearer alice"}) for _ in "abc"]
        bob = await http.get("/api", headers={"Authorization": "Bearer bob"})
    assert [response.status_code for response in alice] == [200, 200, 429]
    limited = alice[2]
    assert limited.json()["error"] == "rate_limited"
    assert "at most 0.01 requests per second (bursts of 2)" in limited.json()["error_description"]
    assert int(limited.headers["retry-after"]) >= 1
    assert bob.status_code == 200, "another principal's bucket is its own"


async def test_anonymous_callers_are_limited_by_their_address() -> None:
    guard = _guard(authenticator=NoAuthentication(), rate_limiter=RateLimiter(rate=0.01, burst=1))
    async with _client(guard, "10.0.0.1") as first, _client(guard, "10.0.0.2") as second:
        statuses = [(await first.get("/api")).status_code for _ in range(2)]
        other = await second.get("/api")
    assert statuses == [200, 429]
    assert other.status_code == 200
    assert other.json()["subject"] == "anonymous"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _asgi(app: Any, scope: Scope, incoming: list[Message]) -> list[Message]:
    """Call `app` with `incoming` as what the client sends; what it sent back."""
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)  # an IndexError if the app reads more than the client sent

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"headers": [(b"host", b"127.0.0.1:8000")], **scope}, receive, send)
    return sent


async def test_bodies_over_the_limit_are_413_whether_declared_or_streamed() -> None:
    guard = _guard(max_body=10, authenticator=NoAuthentication())
    post = {"type": "http", "method": "POST", "path": "/api", "query_string": b""}
    length = [(b"host", b"127.0.0.1:8000"), (b"content-length", b"11")]
    declared = await _asgi(guard, {**post, "headers": length}, [])  # refused before reading
    async with _client(guard) as http:
        streamed = await http.post("/api", content=_chunks(b"123456", b"789012"))
        at_limit = await http.post("/api", content=_chunks(b"12345", b"67890"))
    assert declared[0]["status"] == 413
    assert streamed.status_code == 413
    assert streamed.json()["error_description"] == "the request body is over the limit of 10 bytes"
    assert at_limit.status_code == 200
    assert at_limit.json()["body"] == "1234567890", "the body reaches the app whole"


async def test_a_client_gone_mid_body_runs_nothing_and_gets_no_answer() -> None:
    reached: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        reached.append(scope)

    guard = RequestGuard(app, authenticator=NoAuthentication(), hosts=HOSTS)
    post = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b""}
    gone: list[Message] = [
        {"type": "http.request", "body": b"half", "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert await _asgi(guard, post, gone) == []
    assert reached == []


async def test_websockets_are_closed_as_a_policy_violation() -> None:
    connect: list[Message] = [{"type": "websocket.connect"}]
    sent = await _asgi(_guard(), {"type": "websocket", "path": "/mcp"}, connect)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_over_real_http_and_at_shutdown_the_authenticator_is_closed() -> None:
    tokens = Tokens({"alice": ALICE})
    async with serve(_guard(authenticator=tokens)) as url, httpx.AsyncClient() as http:
        response = await http.post(
            f"{url}/api", content=b"hello", headers={"Authorization": "Bearer alice"}
        )
        assert not tokens.closed
    assert response.json() == {"body": "hello", "subject": "alice", "app": "app"}
    assert tokens.closed


@pytest.mark.parametrize(
    ("error", "metadata", "scope", "expected"),
    [
        (None, None, "", "Bearer"),
        (MissingToken("x"), METADATA, "", f'Bearer resource_metadata="{METADATA}"'),
        (InvalidToken("x"), None, "", 'Bearer error="invalid_token"'),
        (
            Forbidden("x"),
            METADATA,
            "tickets.write",
            f'Bearer error="insufficient_scope", scope="tickets.write", resource_metadata="{METADATA}"',
        ),
        (KeysUnavailable("x"), None, "", "Bearer"),
    ],
)
def test_challenge_values(
    error: AuthError | None, metadata: str | None, scope: str, expected: str
) -> None:
    assert challenge(error, metadata, scope) == expected
