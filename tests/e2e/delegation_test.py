"""On-behalf-of end to end: two people and one application through the real aggregator.

Real parts only: the local Entra ID over HTTPS (fake_entra) implements the on-behalf-of grant
at the protocol level, the aggregator and the tickets MCP server exchange tokens with the real
azure-identity `OnBehalfOfCredential` against it (`ON_BEHALF_OF=true`, authenticated by the
workload identity's federated token), and the tickets server calls a real tracker REST API (the
reference one, behind the platform's request guard with its own audience) over HTTP. Clients
are the real MCP client with RS256 tokens the test's issuer signed.

    client --(Alice's token, aud aggregator)--> aggregator --(OBO, aud mcp-tickets)-->
    tickets MCP --(OBO, aud tickets-api)--> tracker REST API

(This process hosts every service, so they share one workload identity, the fake's client id;
each hop still checks its own audience.)
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_aggregator.app import build_app as build_aggregator
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.auth import EntraConfig, TokenVerifier
from mcp_common.database import Database
from mcp_common.guard import EntraAuthentication, HostPolicy, RequestGuard
from mcp_common.logs import JsonFormatter
from mcp_common.telemetry import build_tracer_provider, install_tracer_provider
from mcp_testkit.fake_entra import FakeEntra, fake_entra
from mcp_testkit.testing import PROTOCOL_MODES, connect, serve, tool_error
from mcp_tickets import store
from mcp_tickets.api import build_api
from mcp_tickets.app import build_app as build_tickets
from mcp_tickets.settings import TicketsSettings

pytestmark = pytest.mark.anyio

# Own process (a test file per process): trace ids in the logs need a real tracer provider.
_provider = build_tracer_provider("delegation-test")
_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
install_tracer_provider(_provider)

AGGREGATOR_API = "api://mcp-platform"
TICKETS_MCP = "api://mcp-tickets"
TRACKER_API = "api://tickets-api"
POLICY = """
default: deny
tools:
  create_ticket: {roles: [Tickets.Write], scopes: [tickets.write]}
  "*": {roles: [Mcp.User], scopes: [mcp.access]}
"""
ALICE = "0000a11c-0000-4000-8000-00000000a11c"
BOB = "00000b0b-0000-4000-8000-000000000b0b"
CAROL = "0000ca01-0000-4000-8000-00000000ca01"  # holds Tickets.ReadAll
DAVE = "0000da7e-0000-4000-8000-00000000da7e"  # never consented to the tracker
ERIN = "00000e12-0000-4000-8000-000000000e12"  # never consented to the tickets server
FRANK = "0000f7a2-0000-4000-8000-00000000f7a2"  # must sign in again (MFA)
NAMES = {
    ALICE: "Alice Andersen",
    BOB: "Bob Berg",
    CAROL: "Carol Chen",
    DAVE: "Dave Diaz",
    ERIN: "Erin Eze",
    FRANK: "Frank Fox",
}
SEEDED = len(store.demo_tickets())


@dataclass
class TokenLog:
    """ASGI wrapper recording the claims of every bearer token a service is sent."""

    app: ASGIApp
    entra: FakeEntra
    claims: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
            if authorization.startswith("Bearer "):
                self.claims.append(self.entra.verify(authorization[7:], None))
        await self.app(scope, receive, send)


class Captured(logging.Handler):
    """The audit lines as the JSON formatter writes them (trace id included), at emit time."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@dataclass
class Platform:
    url: str
    entra: FakeEntra
    tracker: TokenLog
    domain: TokenLog
    audit: Captured

    def user(self, oid: str) -> str:
        return self.entra.token(
            AGGREGATOR_API,
            scopes=["mcp.access", "tickets.write"],
            oid=oid,
            name=NAMES[oid],
            app_id="vscode-app",
        )

    def app(self) -> str:
        return self.entra.token(AGGREGATOR_API, roles=["Mcp.User", "Tickets.Write"], app_id="ci")

    def client(
        self, token: str, mode: str = "2026-07-28"
    ) -> contextlib.AbstractAsyncContextManager[Client]:
        return connect(f"{self.url}/mcp", token, mode)


@contextlib.asynccontextmanager
async def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    audit = Captured()
    for name in ("mcp_common.audit", "mcp_aggregator.audit"):
        logging.getLogger(name).addHandler(audit)
        logging.getLogger(name).setLevel(logging.INFO)
    database = Database(
        f"sqlite+aiosqlite:///{tmp_path}/tracker.sqlite3", store.metadata, store.seed
    )
    async with fake_entra(tmp_path) as entra:
        for name, value in entra.environment().items():
            monkeypatch.setenv(name, value)
        # The workload identity owns the aggregator's and the tickets server's APIs: a user's
        # token for either may be exchanged by it (Entra checks the assertion's audience).
        entra.apis[entra.client_id] = {AGGREGATOR_API, TICKETS_MCP}
        entra.user_roles[CAROL] = ["Tickets.ReadAll"]
        entra.consent_missing.update({(DAVE, TRACKER_API), (ERIN, TICKETS_MCP)})
        entra.interaction_required.add(FRANK)
        identity: dict[str, Any] = {
            "auth": "entra",
            "tenant_id": entra.tenant_id,
            "authority_host": entra.authority,
            "tls_ca_bundle": entra.ca_bundle,
        }
        guarded_api = RequestGuard(
            build_api(database),
            authenticator=EntraAuthentication(
                TokenVerifier(
                    EntraConfig(entra.tenant_id, (TRACKER_API,), entra.authority, entra.ca_bundle)
                ),
                allowed_apps=[entra.client_id],
            ),
            hosts=HostPolicy(["127.0.0.1:*"], []),
        )
        tracker = TokenLog(guarded_api, entra)
        async with database.lifespan(), serve(tracker) as tracker_url:
            tickets = TicketsSettings(
                **identity,
                audiences=[TICKETS_MCP],
                allowed_callers=[entra.client_id],
                api_url=tracker_url,
                api_scope=f"{TRACKER_API}/.default",
                credential="workload_identity",
                on_behalf_of=True,
                api_retries=0,
            )
            domain = TokenLog(build_tickets(tickets), entra)
            async with serve(domain) as tickets_url:
                aggregator = AggregatorSettings(
                    **identity,
                    audiences=[AGGREGATOR_API],
                    credential="workload_identity",
                    on_behalf_of=True,
                    policy_file=str(policy),
                )
                upstream = UpstreamConfig(
                    "tickets", f"{tickets_url}/mcp", scope=f"{TICKETS_MCP}/.default"
                )
                async with serve(build_aggregator(aggregator, [upstream])) as url:
                    yield Platform(url, entra, tracker, domain, audit)
    for name in ("mcp_common.audit", "mcp_aggregator.audit"):
        logging.getLogger(name).removeHandler(audit)


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    async with platform(tmp_path, monkeypatch) as running:
        yield running


TICKET = {"title": "VPN down", "description": "No tunnel since 9:00", "priority": "high"}


async def _create(
    stack: Platform, oid: str, title: str, mode: str = "2026-07-28"
) -> dict[str, Any]:
    async with stack.client(stack.user(oid), mode) as client:
        result = await client.call_tool("create_ticket", {**TICKET, "title": title})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def _list(stack: Platform, token: str, **arguments: Any) -> dict[str, Any]:
    async with stack.client(token) as client:
        result = await client.call_tool("list_tickets", {"limit": 100, **arguments})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_ticket_names_its_reporter_and_bob_cannot_read_alices(
    stack: Platform, mode: str
) -> None:
    with anyio.fail_after(60):
        alices = await _create(stack, ALICE, "Alice's VPN", mode)
        bobs = await _create(stack, BOB, "Bob's printer", mode)
        assert alices["reporter"] == {"object_id": ALICE, "name": "Alice Andersen"}
        assert bobs["reporter"] == {"object_id": BOB, "name": "Bob Berg"}

        seen_by_bob = await _list(stack, stack.user(BOB))
        assert [t["ticket_id"] for t in seen_by_bob["items"]] == [bobs["ticket_id"]]
        assert seen_by_bob["total"] == 1, "the demo tickets and Alice's are not Bob's to see"
        mine = await _list(stack, stack.user(ALICE), reporter="me")
        assert [t["ticket_id"] for t in mine["items"]] == [alices["ticket_id"]]

        # Tickets.ReadAll sees everyone's; reporter "me" still narrows to one's own (none).
        everything = await _list(stack, stack.user(CAROL))
        ids = {t["ticket_id"] for t in everything["items"]}
        assert {alices["ticket_id"], bobs["ticket_id"]} <= ids
        assert everything["total"] == SEEDED + 2
        assert (await _list(stack, stack.user(CAROL), reporter="me"))["total"] == 0


async def test_the_system_of_record_receives_a_token_whose_subject_is_the_user(
    stack: Platform,
) -> None:
    with anyio.fail_after(60):
        client_token = stack.user(ALICE)
        for n in range(3):
            await _create(stack, ALICE, f"ticket {n}")
        await _list(stack, client_token)
    delegated = [c for c in stack.tracker.claims if c.get("scp")]
    assert len(delegated) == 4, "every call reached the tracker as Alice"
    for claims in delegated:
        assert (claims["sub"], claims["oid"], claims["aud"]) == (ALICE, ALICE, TRACKER_API)
        assert claims["azp"] == stack.entra.client_id, "exchanged by the tickets server"
    # The tickets server got an exchanged token for its own audience, never the client's.
    calls = [c for c in stack.domain.claims if c.get("scp")]
    assert calls
    assert all((c["oid"], c["aud"]) == (ALICE, TICKETS_MCP) for c in calls)
    assert client_token not in json.dumps(stack.domain.claims)
    # One exchange per hop for Alice, however many calls: cached until it expires.
    alice_exchanges = [r for r in stack.entra.obo_requests if r["user"] == ALICE]
    assert sorted(r["scope"] for r in alice_exchanges) == [
        f"{TICKETS_MCP}/.default",
        f"{TRACKER_API}/.default",
    ]


async def test_an_app_only_caller_keeps_the_services_own_identity(stack: Platform) -> None:
    with anyio.fail_after(60):
        alices = await _create(stack, ALICE, "Alice's VPN")
        async with stack.client(stack.app()) as client:
            made = await client.call_tool("create_ticket", TICKET)
            listed = await client.call_tool("list_tickets", {"limit": 100})
            mine = await client.call_tool("list_tickets", {"reporter": "me"})
    assert not made.is_error
    assert made.structured_content is not None
    assert made.structured_content["reporter"] is None, "an application reports as nobody"
    assert listed.structured_content is not None
    assert listed.structured_content["total"] == SEEDED + 2
    assert alices["ticket_id"] in {t["ticket_id"] for t in listed.structured_content["items"]}
    error = tool_error(mine)
    assert error.code == "invalid_argument"
    assert "needs a signed-in user" in error.message
    # The app's calls reached the tracker with the tickets server's own token (no user).
    own = [c for c in stack.tracker.claims if not c.get("scp")]
    assert len(own) >= 3
    assert all(c["sub"] == stack.entra.client_id for c in own)
    assert {r["user"] for r in stack.entra.obo_requests} == {ALICE}, "no exchange for the app"


@pytest.mark.parametrize(
    ("oid", "code", "hop"),
    [
        (DAVE, "consent_required", TRACKER_API),
        (ERIN, "consent_required", TICKETS_MCP),
        (FRANK, "interaction_required", TICKETS_MCP),
    ],
)
async def test_a_refused_exchange_is_an_error_the_client_reads_and_nothing_is_written(
    stack: Platform, oid: str, code: str, hop: str
) -> None:
    with anyio.fail_after(60):
        async with stack.client(stack.user(oid)) as client:
            result = await client.call_tool("create_ticket", TICKET)
        error = tool_error(result)
        assert error.code == code
        assert hop in error.message
        assert "Entra said:" in error.message
        assert "AADSTS" in error.message
        total = (await _list(stack, stack.user(CAROL)))["total"]
    assert total == SEEDED, "no ticket was opened, and not under the service's identity"
    assert not any(c.get("oid") == oid for c in stack.tracker.claims)


async def test_the_domain_audits_every_call_and_refusal_with_the_aggregators_trace_and_user(
    stack: Platform,
) -> None:
    app_token = stack.app()
    app_oid = stack.entra.verify(app_token, None)["oid"]
    with anyio.fail_after(60):
        await _create(stack, ALICE, "Alice's VPN")
        await _list(stack, stack.user(BOB))
        async with stack.client(stack.user(DAVE)) as client:
            # Refused in the domain: the tracker's exchange for Dave.
            refused = await client.call_tool("create_ticket", TICKET)
        async with stack.client(app_token) as client:
            made = await client.call_tool("create_ticket", TICKET)
            # Refused by the domain's tool: an application is nobody's "me".
            mine = await client.call_tool("list_tickets", {"reporter": "me"})
        reader = stack.entra.token(AGGREGATOR_API, scopes=["mcp.access"], oid=CAROL)
        async with stack.client(reader) as client:
            # Refused by the aggregator's policy (403 insufficient_scope): never reaches the domain.
            with pytest.raises(
                MCPError, match="needs app role Tickets.Write or scope tickets.write"
            ):
                await client.call_tool("create_ticket", TICKET)
    assert tool_error(refused).code == "consent_required"
    assert not made.is_error
    assert tool_error(mine).code == "invalid_argument"
    front = [
        line
        for line in stack.audit.lines
        if line["logger"] == "mcp_aggregator.audit" and line["target_kind"] == "tools"
    ]
    domain = [line for line in stack.audit.lines if line["logger"] == "mcp_common.audit"]
    # Exactly one domain line per call that reached it, refusals included.
    assert sorted(
        (d["user_oid"], d["user_delegated"], d["tool"], d["outcome"]) for d in domain
    ) == sorted(
        [
            (ALICE, True, "create_ticket", "ok"),
            (BOB, True, "list_tickets", "ok"),
            (DAVE, True, "create_ticket", "consent_required"),
            (app_oid, False, "create_ticket", "ok"),
            (app_oid, False, "list_tickets", "invalid_argument"),
        ]
    )
    for line in domain:
        assert line["trace_id"], "the domain's audit line carries the trace id"
        matching = [
            f
            for f in front
            if (f["trace_id"], f["caller_oid"], f["target"], f["decision"])
            == (line["trace_id"], line["user_oid"], line["tool"], "allow")
        ]
        assert len(matching) == 1, f"no one aggregator audit line with the trace and user of {line}"
    # Every call the aggregator let through has its domain line; the one it denied has none.
    allowed = {f["trace_id"] for f in front if f["decision"] == "allow"}
    assert allowed == {d["trace_id"] for d in domain}
    [deny] = [f for f in front if f["decision"] == "deny"]
    assert (deny["caller_oid"], deny["target"]) == (CAROL, "create_ticket")
    assert deny["trace_id"] not in {d["trace_id"] for d in domain}
