"""Through the real Envoy edge (TLS, jwt_authn) to two aggregator replicas, with the real MCP
client: the proof that the aggregator is stateless behind a round-robin load balancer.

Tests run in file order on one module-scoped edge; the last one kills a replica.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import types

from edge.harness import Edge, Exchange, free_port, mount_secret, run_envoy
from edge.probe import PROBE_TOOLS
from mcp_aggregator.config import envoy_cluster
from mcp_testkit.identity import AGGREGATOR_API
from mcp_testkit.testing import PROTOCOL_MODES

pytestmark = pytest.mark.anyio

DOMAIN_TOOLS = {"get_user_profile", "list_users", "create_ticket", "list_tickets", "query_data"}
DOMAIN_CALLS: dict[str, dict[str, Any]] = {
    "get_user_profile": {"user_id": "u-0001"},
    "list_users": {"limit": 2},
    "create_ticket": {"title": "Edge", "description": "through Envoy", "priority": "low"},
    "list_tickets": {"limit": 2},
    "query_data": {"dataset": "sales", "limit": 2},
}
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def _calls(exchanges: list[Exchange], tool: str | None = None) -> list[Exchange]:
    return [
        e
        for e in exchanges
        if e.rpc is not None
        and e.rpc.get("method") == "tools/call"
        and (tool is None or e.rpc["params"]["name"] == tool)
    ]


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_tools_are_listed_and_called_through_the_edge_on_both_replicas(
    edge: Edge, mode: str
) -> None:
    before = {replica: edge.tool_calls(replica) for replica in edge.replicas}
    start = len(edge.exchanges)
    async with edge.client(mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        results = [await client.call_tool(name, args) for name, args in DOMAIN_CALLS.items()]
        results += [await client.call_tool("echo", {"text": f"{mode}-{i}"}) for i in range(3)]
    assert names == DOMAIN_TOOLS | PROBE_TOOLS
    assert [r.content for r in results if r.is_error] == []
    calls = _calls(edge.exchanges[start:])
    assert len(calls) == len(results)
    served = edge.served_by(calls)
    assert set(served) == {"a", "b"}, f"round robin over both replicas, got {served}"
    after = {replica: edge.tool_calls(replica) for replica in edge.replicas}
    # Each replica's own count agrees with what Envoy says it sent there.
    assert {r: after[r] - before[r] for r in edge.replicas} == {
        r: served.count(r) for r in edge.replicas
    }


async def test_a_v1_app_token_passes_both_gates(edge: Edge) -> None:
    entra = edge.identity.identity.entra
    token = entra.token(AGGREGATOR_API, version=1, roles=["Mcp.User"], app_id="automation-v1")
    async with edge.client("2026-07-28", token=token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("echo", {"text": "v1"})
    assert "create_ticket" not in names, "the aggregator's per-tool policy still applies"
    assert "list_users" in names
    assert not echoed.is_error


async def test_envoy_itself_stops_a_request_without_a_valid_token(edge: Edge) -> None:
    entra = edge.identity.identity.entra
    forged = entra.token(
        AGGREGATOR_API,
        scopes=["mcp.access"],
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    wrong_audience = entra.token("api://someone-else", scopes=["mcp.access"])
    metadata_url = edge.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    start = len(edge.exchanges)
    async with edge.http(None) as http:
        missing = await http.post(edge.url, json=TOOLS_LIST, headers=MCP_HEADERS)
        bad = [
            await http.post(
                edge.url,
                json=TOOLS_LIST,
                headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
            )
            for token in (forged, wrong_audience)
        ]
        metadata = await http.get(metadata_url)
        metrics = await http.get(edge.url.replace("/mcp", "/metrics"))
    assert missing.status_code == 401
    assert missing.json()["error"].startswith("jwt_authn_access_denied")
    assert missing.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
    for response in bad:
        assert response.status_code == 401
        assert response.json()["error"].startswith("jwt_authn_access_denied")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert metadata.status_code == 200, "clients find the authorization server without a token"
    assert metadata.json()["resource"] == edge.url
    assert metrics.status_code == 404, "/metrics stays inside the cluster"
    served = edge.served_by(edge.exchanges[start:])
    assert served[:3] == [None, None, None], "the refusals never reached a replica"
    # The rate limit ran on every request (a bucket far from empty: none limited).
    assert edge.envoy_stat("edge_rate_limit.http_local_rate_limit.enabled") >= len(served)
    assert edge.envoy_stat("edge_rate_limit.http_local_rate_limit.rate_limited") == 0
    assert served[3] in ("a", "b")
    assert served[4] is None


async def test_envoys_statistics_are_on_the_health_port_and_nothing_else_of_its_admin(
    edge: Edge,
) -> None:
    # What the chart's PodMonitor scrapes; the admin interface itself is on 127.0.0.1 only.
    health = f"http://127.0.0.1:{edge.values['healthPort']}"
    async with httpx.AsyncClient(timeout=10) as http:
        stats = await http.get(f"{health}/stats/prometheus")
        others = {
            path: (await http.get(f"{health}{path}")).status_code
            for path in ("/stats", "/clusters", "/config_dump", "/stats/prometheus/x")
        }
        posted = {
            path: (await http.post(f"{health}{path}")).status_code
            for path in ("/stats/prometheus", "/quitquitquit", "/healthcheck/fail")
        }
        ready = await http.get(f"{health}/ready")
    assert stats.status_code == 200
    assert stats.headers["content-type"].startswith("text/plain")
    # The earlier tests' calls, as Envoy counted them on the way to the aggregator.
    routed = re.search(
        r'^envoy_cluster_upstream_rq_total\{envoy_cluster_name="mcp_aggregator"\} (\d+)$',
        stats.text,
        re.MULTILINE,
    )
    assert routed is not None, stats.text[:2000]
    assert int(routed.group(1)) > 0
    assert "# TYPE envoy_cluster_upstream_rq_time histogram" in stats.text
    assert others == dict.fromkeys(others, 404)
    assert posted == dict.fromkeys(posted, 404)
    assert ready.status_code == 200, "the probe still answers: nothing was failed or quit"


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_progress_arrives_as_a_stream_before_the_result(edge: Edge, mode: str) -> None:
    edge.probe.release.clear()
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)
        edge.probe.release.set()  # the tool returns only once this progress has arrived

    start = len(edge.exchanges)
    async with edge.client(mode) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("held", {"text": mode}, progress_callback=on_progress)
    assert result.structured_content == {"text": mode, "released": True}
    assert messages == [f"started {mode}", f"released {mode}"]
    (call,) = _calls(edge.exchanges[start:], "held")
    assert call.content_type.startswith("text/event-stream")


async def test_a_2025_client_hears_list_changed_while_its_requests_land_on_either_replica(
    edge: Edge,
) -> None:
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    original = edge.registry.read_text()
    document = yaml.safe_load(original)
    port = int(edge.probe_url.rsplit(":", 1)[1])
    document["static_resources"]["clusters"].append(
        envoy_cluster("probe-more", "127.0.0.1", port, tool_prefix="more_")
    )
    start = len(edge.exchanges)
    try:
        async with edge.client("legacy", message_handler=on_message) as client:
            results = [await client.call_tool("echo", {"text": f"legacy-{i}"}) for i in range(6)]
            edge.registry.write_text(yaml.safe_dump(document))
            with anyio.fail_after(30):
                await changed.wait()
            names = {tool.name for tool in (await client.list_tools()).tools}
    finally:
        edge.registry.write_text(original)
    assert [r.content for r in results if r.is_error] == []
    assert "more_echo" in names
    exchanges = edge.exchanges[start:]
    (initialize,) = (e for e in exchanges if e.rpc and e.rpc.get("method") == "initialize")
    calls = _calls(exchanges, "echo")
    streams = [e for e in exchanges if e.method == "GET" and e.status == 200]
    sessions = {e.session for e in calls}
    assert len(sessions) == 1, "one session id, on every request"
    assert None not in sessions
    served = edge.served_by([initialize, *calls, *streams])
    assert served[0] in ("a", "b")
    accepted_by = set(served[1 : 1 + len(calls)])
    assert accepted_by == {"a", "b"}, f"one replica's session id, accepted by both: {served}"
    assert streams, "the client opened its GET stream for notifications"
    assert set(served[1 + len(calls) :]) <= {"a", "b"}


async def test_each_client_address_has_its_own_bucket_and_gets_429_once_it_is_empty(
    edge: Edge,
) -> None:
    """A second Envoy over the same replicas whose per-client bucket holds 3 tokens and
    refills once an hour: one client's requests pass while its tokens last, then Envoy itself
    answers 429 (counted, not timed); a client from another address still has all of its own.

    Async like its neighbours, so that it runs in file order, before a replica is killed
    (pytest groups the tests of the parametrized anyio backend); its blocking work runs in a
    thread."""
    await anyio.to_thread.run_sync(_drain_small_buckets, edge)


def _drain(http: httpx.Client, base: str, most: int) -> list[httpx.Response]:
    """GETs that need no token and are routed to a replica, until the first 429."""
    responses: list[httpx.Response] = []
    for _ in range(most):
        # A success is the aggregator's answer.
        responses.append(http.get(f"{base}/.well-known/oauth-protected-resource/mcp"))
        if responses[-1].status_code == 429:
            break
    return responses


def _drain_small_buckets(edge: Edge) -> None:
    bucket = 3
    log = edge.root / "limited-access.log"
    limited = {
        **edge.values,
        "port": free_port(),
        "healthPort": free_port(),
        "adminPort": free_port(),
        "accessLogPath": str(log),
        # The Envoy's own bucket stays far from empty: only the per-client one limits.
        "rateLimit": {"maxTokens": 1000, "tokensPerFill": 1, "fillInterval": "3600s"},
        "clientRateLimit": {"maxTokens": bucket, "tokensPerFill": 1, "fillInterval": "3600s"},
    }
    base = f"https://localhost:{limited['port']}"
    # Two clients: the loopback network is 127.0.0.0/8, so the second binds 127.0.0.2.
    other = httpx.HTTPTransport(verify=edge.ca, local_address="127.0.0.2")
    with (
        run_envoy(edge.root, limited, "limited"),
        httpx.Client(verify=edge.ca, timeout=30) as http,
        httpx.Client(transport=other, timeout=30) as second,
    ):
        responses = _drain(http, base, bucket + 10)
        # A valid MCP request is refused too: the limit runs before the token check.
        mcp = http.post(
            f"{base}/mcp",
            json=TOOLS_LIST,
            headers={**MCP_HEADERS, "Authorization": f"Bearer {edge.token}"},
        )
        others = _drain(second, base, bucket + 10)
        stats = http.get(
            f"http://127.0.0.1:{limited['adminPort']}/stats",
            params={"filter": "edge_rate_limit.http_local_rate_limit.rate_limited"},
        ).text
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * bucket + [429], statuses
    assert responses[0].json()["resource"] == edge.url, "the successes came from a replica"
    # The first client's empty bucket is not the second's: it gets its own three.
    assert [r.status_code for r in others] == [200] * bucket + [429]
    refused = responses[-1]
    assert refused.headers["retry-after"] == "3600"
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {
        "error": "local_rate_limited",
        "error_description": "local_rate_limited",
        "request_id": refused.headers["x-request-id"],
    }
    assert mcp.status_code == 429
    assert mcp.json()["error"] == "local_rate_limited"
    assert "www-authenticate" not in mcp.headers
    assert "edge_rate_limit.http_local_rate_limit.rate_limited: 3" in stats
    # Envoy's own log: the successes reached a replica, the refusals none, and each client's
    # requests came from its own address.
    ids = [r.headers["x-request-id"] for r in (*responses, mcp, *others)]
    entries = edge.log_entries(want=set(ids), log=log)
    served = [edge.replica_of(entries[i]["upstream_host"]) for i in ids]
    assert set(served[:bucket]) <= {"a", "b"}
    assert None not in served[:bucket]
    assert served[bucket : bucket + 2] == [None, None]
    assert None not in served[bucket + 2 : 2 * bucket + 2]
    assert served[-1] is None
    addresses = [entries[i]["downstream"] for i in ids]
    assert addresses == ["127.0.0.1"] * (bucket + 2) + ["127.0.0.2"] * (bucket + 1)


@dataclass
class CallOutcome:
    text: str
    started: float
    ended: float
    ok: bool
    error: str = ""


async def test_a_killed_replica_loses_no_call_that_had_not_started_on_it(edge: Edge) -> None:
    """Runs last: replica b is SIGKILLed while calls run through the edge."""
    workers, per_worker = 4, 12
    outcomes: list[CallOutcome] = []
    kill_window: list[float] = []
    start = len(edge.exchanges)

    async def worker(number: int) -> None:
        for index in range(per_worker):
            text = f"kill-{number}-{index}"
            started = time.monotonic()
            try:
                # A new connection per call, as many short-lived clients would make.
                async with edge.client("2026-07-28") as client:
                    result = await client.call_tool(
                        "slow", {"text": text, "seconds": 0.3}, read_timeout_seconds=20
                    )
                ok, error = result.structured_content == {"text": text}, str(result.content)
            except Exception as exc:  # noqa: BLE001 - record whatever the client raised
                ok, error = False, repr(exc)
            outcomes.append(CallOutcome(text, started, time.monotonic(), ok, error))

    async def killer() -> None:
        while len(outcomes) < 2 * workers:
            await anyio.sleep(0.05)
        victim = edge.replicas["b"].process
        kill_window.append(time.monotonic())
        os.kill(victim.pid, signal.SIGKILL)
        await anyio.to_thread.run_sync(victim.wait)
        kill_window.append(time.monotonic())

    with anyio.fail_after(240):
        async with anyio.create_task_group() as group:
            group.start_soon(killer)
            for number in range(workers):
                group.start_soon(worker, number)

    killed_from, killed_at = kill_window
    exchanges = {
        e.rpc["params"]["arguments"]["text"]: e
        for e in _calls(edge.exchanges[start:])
        if e.rpc is not None
    }
    served = dict(zip(exchanges, edge.served_by(list(exchanges.values())), strict=True))
    before = [o for o in outcomes if o.ended < killed_from]
    after = [o for o in outcomes if o.started > killed_at]
    assert len(outcomes) == workers * per_worker
    assert "b" in {served[o.text] for o in before}, "b served calls before it was killed"
    assert after
    assert all(o.ok for o in after), [o for o in after if not o.ok]
    assert {served[o.text] for o in after} == {"a"}
    for failed in (o for o in outcomes if not o.ok):
        # Only a call already running on b when it died may fail.
        assert failed.started < killed_at, failed
        assert failed.ended > killed_from, failed
        assert served.get(failed.text) == "b", failed


def _served_certificate(edge: Edge) -> bytes:
    """The certificate the edge presents now (DER), over a fresh TLS connection."""
    port = int(edge.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        edge.ca.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


async def test_a_renewed_certificate_is_served_without_restarting_envoy(edge: Edge) -> None:
    folder = Path(edge.values["tls"]["certificateFile"]).parent
    old = _served_certificate(edge)
    failed = edge.envoy_stat("sds.edge_certificate.key_rotation_failed")

    # A Secret updated with a pair that does not belong together (a wrong key pasted in) is
    # refused; the edge keeps serving the certificate it has.
    mismatched = edge.authority.issue_cert("localhost", "127.0.0.1")
    mismatched.private_key_pem = edge.authority.issue_cert("other").private_key_pem
    mount_secret(folder, mismatched)
    with anyio.fail_after(30):
        while edge.envoy_stat("sds.edge_certificate.key_rotation_failed") == failed:
            await anyio.sleep(0.1)
    assert _served_certificate(edge) == old

    # The renewed Secret (as cert-manager writes it and the kubelet swaps it in) is served from
    # then on, by the same Envoy process.
    renewed = edge.authority.issue_cert("localhost", "127.0.0.1")
    mount_secret(folder, renewed)
    expected = ssl.PEM_cert_to_DER_cert(renewed.cert_chain_pems[0].bytes().decode())
    with anyio.fail_after(30):
        while (served := _served_certificate(edge)) == old:
            await anyio.sleep(0.1)
    assert served == expected
    assert edge.envoy.poll() is None
    async with edge.client("2026-07-28") as client:
        tools = await client.list_tools()
    assert tools.tools
