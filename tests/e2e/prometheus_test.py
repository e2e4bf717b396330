"""A real Prometheus (Debian's `prometheus`; required) scraping the local stack on 127.0.0.1
with the aggregator chart's rules loaded: while every upstream is up no alert is active; once
the tickets server is stopped and its tools are called, Prometheus' own rule evaluation makes
McpUpstreamUnavailable and McpToolErrorRatioHigh active (pending: their `for` is minutes) for
tickets and for nothing else.

Short scrape and evaluation intervals (1 s) keep it quick; every wait has a deadline, and
nothing about timing is asserted."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from mcp_stack.stack import AGGREGATOR, DOMAIN_SERVICES, Running, registry_document, start, stop
from mcp_testkit.testing import connect, free_port, tool_error

pytestmark = pytest.mark.anyio

RULES_FILE = Path("src/helm/mcp-aggregator/files/prometheus-rules.yaml")
NAMESPACE = "mcp"
# Generous: the stack and Prometheus share two cores with other work.
DEADLINE = 120


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail(
            "prometheus is not on PATH: install Debian's prometheus package "
            "(apt-get install -y prometheus); this test needs the real one"
        )
    return found


def alert_rule(name: str) -> dict[str, Any]:
    document = yaml.safe_load(RULES_FILE.read_text())
    rule: dict[str, Any] = next(
        rule for group in document["groups"] for rule in group["rules"] if rule.get("alert") == name
    )
    return rule


@dataclass
class Monitored:
    running: dict[str, Running]
    prometheus: str  # its base URL
    log: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.running['aggregator'].service.url}/mcp"


def prometheus_config(running: list[Running], rules: Path) -> dict[str, Any]:
    """One job per service, named like its Service in the charts, `namespace` added as the
    Prometheus Operator would."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": f"mcp-{item.service.name}",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{item.service.port}"],
                        "labels": {"namespace": NAMESPACE},
                    }
                ],
            }
            for item in running
        ],
    }


@contextlib.contextmanager
def prometheus_server(config: Path, root: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus on 127.0.0.1 with its own storage; yields (base URL, log file)."""
    port = free_port()
    log = root / "prometheus.log"
    command = [
        prometheus_binary(),
        f"--config.file={config}",
        f"--storage.tsdb.path={root / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def monitored(tmp_path: Path) -> AsyncIterator[Monitored]:
    domains = [replace(service, port=free_port()) for service in DOMAIN_SERVICES]
    aggregator = replace(AGGREGATOR, port=free_port())
    registry = tmp_path / "upstreams.yaml"
    registry.write_text(yaml.safe_dump(registry_document(domains, authenticated=False)))
    env = {
        "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
        "MCP_AGGREGATOR_UNAVAILABLE_AFTER_SECONDS": "1",
        **{
            f"{s.env_prefix}DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{s.name}.sqlite3"
            for s in domains
        },
    }
    running = await anyio.to_thread.run_sync(start, [domains, [aggregator]], tmp_path / "logs", env)
    try:
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(running, RULES_FILE.resolve())))
        with prometheus_server(config, tmp_path) as (url, log):
            yield Monitored({item.service.name: item for item in running}, url, log)
    finally:
        await anyio.to_thread.run_sync(stop, running)


async def api(http: httpx.AsyncClient, base: str, path: str, **params: str) -> Any:
    response = await http.get(f"{base}/api/v1/{path}", params=params)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


async def wait_for_scrapes_and_rules(http: httpx.AsyncClient, stack: Monitored) -> None:
    """Until Prometheus is up, every target scraped healthy and both rule groups loaded."""
    jobs = {f"mcp-{name}" for name in stack.running}
    last = "Prometheus not answering yet"
    try:
        with anyio.fail_after(DEADLINE):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    targets = (await api(http, stack.prometheus, "targets"))["activeTargets"]
                    healthy = {t["labels"]["job"] for t in targets if t["health"] == "up"}
                    groups = (await api(http, stack.prometheus, "rules"))["groups"]
                    evaluated = [g for g in groups if not g["lastEvaluation"].startswith("0001-")]
                    if healthy == jobs and len(evaluated) == 2:
                        return
                    last = f"healthy targets {sorted(healthy)}, rule groups {len(groups)}"
                await anyio.sleep(0.5)
    except TimeoutError:
        log = stack.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"Prometheus never scraped every target with its rules: {last}\n{log}")


async def active_alerts(http: httpx.AsyncClient, base: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = (await api(http, base, "alerts"))["alerts"]
    return alerts


async def call_list_tickets(url: str) -> str:
    """One tools/call of list_tickets through the aggregator; its error code, or 'ok'."""
    async with connect(url, None, "2026-07-28") as client:
        result = await client.call_tool("list_tickets", {"limit": 1})
    return "ok" if not result.is_error else tool_error(result).code


async def test_prometheus_sees_a_stopped_upstream_as_the_alerts_say(monitored: Monitored) -> None:
    stack = monitored
    wanted = {"McpUpstreamUnavailable": "upstream", "McpToolErrorRatioHigh": "name"}
    async with httpx.AsyncClient(timeout=10) as http:
        assert await call_list_tickets(stack.mcp_url) == "ok"
        await wait_for_scrapes_and_rules(http, stack)
        # Every upstream up, as Prometheus scraped it: the alerts' expressions are empty.
        available = await api(
            http, stack.prometheus, "query", query="mcp_aggregator_upstream_available == 1"
        )
        assert {s["metric"]["upstream"] for s in available["result"]} == {
            "users",
            "tickets",
            "data",
        }
        for name in wanted:
            quiet = await api(http, stack.prometheus, "query", query=alert_rule(name)["expr"])
            assert quiet["result"] == [], f"{name} is true before anything was stopped"
        assert await active_alerts(http, stack.prometheus) == []

        await anyio.to_thread.run_sync(stop, [stack.running["tickets"]])
        codes: set[str] = set()
        seen: dict[str, set[str]] = {}
        try:
            with anyio.fail_after(DEADLINE):
                while not set(wanted) <= set(seen):
                    codes.add(await call_list_tickets(stack.mcp_url))
                    active = await active_alerts(http, stack.prometheus)
                    seen = {}
                    for alert in active:
                        name = alert["labels"]["alertname"]
                        seen.setdefault(name, set()).add(alert["labels"].get(wanted.get(name, "")))
                    await anyio.sleep(0.2)
        except TimeoutError:
            pytest.fail(f"alerts active when the deadline passed: {seen}; call results {codes}")
        expression = await api(
            http,
            stack.prometheus,
            "query",
            query=alert_rule("McpUpstreamUnavailable")["expr"],
        )
    assert codes == {"upstream_unavailable"}, "every call to the stopped upstream failed so"
    assert seen == {
        "McpUpstreamUnavailable": {"tickets"},
        "McpToolErrorRatioHigh": {"list_tickets"},
    }
    assert {alert["state"] for alert in active} == {"pending"}, "their `for` is minutes"
    assert [(s["metric"]["namespace"], s["metric"]["upstream"]) for s in expression["result"]] == [
        (NAMESPACE, "tickets")
    ]
