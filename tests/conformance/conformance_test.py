"""The official MCP conformance suite, against the aggregator in front of a fixture server.

The suite runs three times: against the fixture server directly, through the aggregator with
the fixture as its only upstream, and through the aggregator with authentication on (Entra ID
tokens from a local issuer; the suite cannot send a token, so `token_relay` adds one).
Whatever the fixture passes by itself, the aggregator must pass too, with or without
authentication: putting the aggregator in front must not cost a client any conformance.

Then twice more against the fixture's session-based mode (stateful Streamable HTTP, the way
most third-party servers run): directly, where the scenarios that need a session pass too, and
through the aggregator with the fixture as a per-client upstream, which must pass them all.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from conformance.fixture_server import build_app as build_fixture_app
from conformance.suite import ConformanceSuite, Outcome, ScenarioResult, ensure_suite
from conformance.token_relay import TokenRelay
from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig, envoy_bootstrap, envoy_cluster, parse_upstreams
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.fake_entra import fake_entra
from mcp_testkit.identity import LocalIdentity
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

# Scenarios the stateless fixture passed directly with conformance 0.1.16: all but the six that
# need server-to-client requests or resource subscriptions, and the two SSE-resumability ones
# that only warn. Fewer would mean the fixture (or the suite's install) broke.
MIN_DIRECT_PASSES = 24
# The scenarios that need a session: server-to-client requests on the call's stream, and
# resource subscriptions. The session-based fixture must pass them directly.
SESSION_SCENARIOS = (
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
    "resources-subscribe",
    "resources-unsubscribe",
)


@pytest.fixture
def anyio_backend() -> str:
    # uvicorn (mcp_testkit.testing.serve) runs on asyncio.
    return "asyncio"


async def _wait_ready(base_url: str, timeout: float = 30.0) -> None:
    """Until the aggregator's readiness says its upstream is listed (200), or fail."""
    last = ""
    async with httpx.AsyncClient(timeout=5.0) as client:
        with anyio.move_on_after(timeout):
            while True:
                response = await client.get(f"{base_url}/health/ready")
                if response.status_code == 200:
                    return
                last = response.text
                await anyio.sleep(0.1)
    pytest.fail(f"aggregator not ready after {timeout:g}s: {last}")


def _table(direct: dict[str, ScenarioResult], aggregated: dict[str, ScenarioResult]) -> str:
    rows = [f"{'scenario':<34} {'direct':<7} {'aggregated':<10} aggregated problems"]
    for scenario in sorted(direct.keys() | aggregated.keys()):
        mine, theirs = direct.get(scenario), aggregated.get(scenario)
        problems = "; ".join(theirs.problems()) if theirs and theirs.outcome < Outcome.PASS else ""
        rows.append(
            f"{scenario:<34} {mine.outcome.name if mine else '-':<7} "
            f"{theirs.outcome.name if theirs else '-':<10} {problems[:400]}"
        )
    return "\n".join(rows)


async def _run_all(suite: ConformanceSuite, output: Path) -> tuple[dict[str, ScenarioResult], ...]:
    async with serve(build_fixture_app()) as fixture_url:
        direct = await suite.run_server_scenarios(f"{fixture_url}/mcp", output / "direct")
        upstreams = [UpstreamConfig("fixture", f"{fixture_url}/mcp")]
        async with serve(build_app(AggregatorSettings(), upstreams=upstreams)) as aggregator_url:
            await _wait_ready(aggregator_url)
            aggregated = await suite.run_server_scenarios(
                f"{aggregator_url}/mcp", output / "aggregated"
            )
        async with fake_entra(output) as entra:
            identity = LocalIdentity(entra)
            # The fixture upstream needs no token: only the inbound side is authenticated.
            settings = AggregatorSettings(**{**identity.aggregator(), "credential": "none"})
            async with (
                serve(build_app(settings, upstreams=upstreams)) as protected_url,
                serve(TokenRelay(protected_url, identity.app_token())) as relay_url,
            ):
                await _wait_ready(protected_url)
                authenticated = await suite.run_server_scenarios(
                    f"{relay_url}/mcp", output / "authenticated"
                )
    return direct, aggregated, authenticated


def _assert_no_loss(
    direct: dict[str, ScenarioResult], aggregated: dict[str, ScenarioResult]
) -> None:
    table = _table(direct, aggregated)
    passing = {name for name, result in direct.items() if result.outcome is Outcome.PASS}
    lost = sorted(name for name in passing if aggregated[name].outcome is not Outcome.PASS)
    assert not lost, f"scenarios that pass directly but not through the aggregator: {lost}\n{table}"
    # Nor may the aggregator turn a warning into a failure.
    worse = sorted(name for name in direct if aggregated[name].outcome < direct[name].outcome)
    assert not worse, f"scenarios worse through the aggregator: {worse}\n{table}"


async def test_aggregator_passes_every_scenario_the_session_based_fixture_passes(
    tmp_path: Path,
) -> None:
    suite = await ensure_suite()
    async with serve(build_fixture_app(sessions=True)) as fixture_url:
        direct = await suite.run_server_scenarios(f"{fixture_url}/mcp", tmp_path / "direct")
        port = int(fixture_url.rsplit(":", 1)[1])
        cluster = envoy_cluster("fixture", "127.0.0.1", port, sessions="per-client")
        upstreams = parse_upstreams(envoy_bootstrap([cluster]))
        async with serve(build_app(AggregatorSettings(), upstreams=upstreams)) as aggregator_url:
            await _wait_ready(aggregator_url)
            aggregated = await suite.run_server_scenarios(
                f"{aggregator_url}/mcp", tmp_path / "aggregated"
            )
    table = _table(direct, aggregated)
    print(table)  # shown with -rP or on failure: the whole comparison
    not_passing = [name for name in SESSION_SCENARIOS if direct[name].outcome is not Outcome.PASS]
    assert not not_passing, f"the session-based fixture fails {not_passing} directly:\n{table}"
    passing = {name for name, result in direct.items() if result.outcome is Outcome.PASS}
    assert len(passing) >= MIN_DIRECT_PASSES + len(SESSION_SCENARIOS), table
    _assert_no_loss(direct, aggregated)


async def test_aggregator_passes_every_scenario_the_fixture_passes(tmp_path: Path) -> None:
    suite = await ensure_suite()
    direct, aggregated, authenticated = await _run_all(suite, tmp_path)
    table = _table(direct, aggregated)
    print(table)  # shown with -rP or on failure: the whole comparison
    lost_to_auth = sorted(
        name for name in aggregated if authenticated[name].outcome < aggregated[name].outcome
    )
    assert not lost_to_auth, f"scenarios worse with authentication on: {lost_to_auth}\n" + _table(
        aggregated, authenticated
    )

    passing = {name for name, result in direct.items() if result.outcome is Outcome.PASS}
    assert len(passing) >= MIN_DIRECT_PASSES, f"the fixture passes too little by itself:\n{table}"
    _assert_no_loss(direct, aggregated)
