"""Every metric the chart's alerts, recording rules and Grafana dashboards name is one the
servers export (or a recording rule records), with the labels they select: read from a real scrape of the aggregator's
/metrics (its registry holds mcp_common's metrics too, the ones every domain server exports)
after a routed call, a denied one, a refused token, a readiness probe and a pin mismatch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from mcp_aggregator.auth_test import LEGACY, client, platform

pytestmark = pytest.mark.anyio

RULES_FILE = Path("src/helm/mcp-aggregator/files/prometheus-rules.yaml")
DASHBOARDS = Path("src/helm/mcp-aggregator/files/dashboards")
# Labels Prometheus (or the Prometheus Operator) adds to every series of a target.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "endpoint"})
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"({_NAME})?\s*\{{([^}}]*)\}}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
# Label lists of aggregations and vector matching, e.g. `by (namespace, job)`.
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without"})


@dataclass
class Scrape:
    """What one scrape offers: series names (a family counts before its first sample) and,
    for each series name, the label names and (name, label, value) triples of its samples."""

    names: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)
    values: set[tuple[str, str, str]] = field(default_factory=set)


def exported(text: str) -> Scrape:
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        scrape.names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            scrape.names.add(sample.name)
            scrape.labels.setdefault(sample.name, set()).update(sample.labels)
            scrape.values.update((sample.name, k, v) for k, v in sample.labels.items())
    return scrape


def selectors(expr: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """Each metric an expression selects, with its label matchers (label, operator, value)."""
    for match in _SELECTOR.finditer(expr):
        name, matchers = match.group(1), _MATCHER.findall(match.group(2))
        if name and name.lower() in _KEYWORDS:  # `or {__name__="x"}`
            name = None
        named = [m for m in matchers if m[0] == "__name__" and m[1] == "="]
        if name or named:
            yield name or named[0][2], [m for m in matchers if m[0] != "__name__"]
    # Bare names: what is left once selectors, strings, ranges, grouping labels, Grafana's
    # variables and numbers are gone, and is not a function call or a keyword.
    bare = _SELECTOR.sub(" ", expr)
    bare = re.sub(r'"[^"]*"|\[[^\]]*\]|\$\w+', " ", bare)
    bare = _GROUPING.sub(" ", bare)
    bare = re.sub(r"\b\d[\w.]*", " ", bare)
    for match in re.finditer(rf"({_NAME})\s*(\()?", bare):
        if match.group(2) is None and match.group(1).lower() not in _KEYWORDS:
            yield match.group(1), []


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _panel_expressions(panels: list[dict[str, Any]], where: str) -> Iterator[tuple[str, str]]:
    for panel in panels:
        title = f"{where} panel {panel.get('title', '?')!r}"
        for target in panel.get("targets", []):
            yield title, target["expr"]
        yield from _panel_expressions(panel.get("panels", []), where)  # collapsed rows


def dashboard_expressions(folder: Path = DASHBOARDS) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable of each dashboard."""
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text())
        yield from _panel_expressions(dashboard["panels"], path.name)
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                text = query["query"] if isinstance(query, dict) else query
                # label_values(metric, label): the metric is a selector.
                yield f"{path.name} variable {variable['name']!r}", re.sub(
                    r"label_values\(([^,]*),[^)]*\)", r"\1", text
                )


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every rule and every dashboard."""
    named = [(f"rule {rule.get('alert') or rule['record']}", rule["expr"]) for rule in rules()]
    return named + list(dashboard_expressions())


def recorded_labels() -> dict[str, set[str]]:
    """Each recording rule's series name and its labels: those of its first `by (...)`
    (`le` aside: histogram_quantile consumes it)."""
    found: dict[str, set[str]] = {}
    for rule in rules():
        if "record" in rule:
            grouping = re.search(r"\bby\s*\(([^)]*)\)", rule["expr"])
            labels = (
                {label.strip() for label in grouping.group(1).split(",")} if grouping else set()
            )
            found[rule["record"]] = labels - {"le"}
    return found


def problems(
    named: list[tuple[str, str]], scrape: Scrape, recorded: dict[str, set[str]]
) -> list[str]:
    """What `named` selects that `scrape` (or a recording rule) does not offer."""
    found: list[str] = []
    for where, expr in named:
        for metric, matchers in selectors(expr):
            if metric == "up":  # Prometheus' own, per target
                continue
            if metric in recorded:
                found.extend(
                    f"{where}: recorded {metric} has no label {label!r}"
                    for label, _operator, _value in matchers
                    if label not in recorded[metric]
                )
                continue
            if ":" in metric:
                found.append(f"{where}: {metric} is recorded by no rule")
                continue
            if metric not in scrape.names:
                found.append(f"{where}: {metric} is exported by no server")
                continue
            if metric not in scrape.labels:
                found.append(f"{where}: {metric} has no sample in the scrape; drive it here")
                continue
            for label, _operator, value in matchers:
                if label not in scrape.labels[metric] | TARGET_LABELS:
                    found.append(f"{where}: {metric} has no label {label!r}")
                elif label == "le" and (metric, label, value) not in scrape.values:
                    found.append(f"{where}: {metric} has no bucket le={value!r}")
    return found


def test_the_selector_reader_finds_what_an_expression_selects() -> None:
    expr = (
        'sum by (job) (rate(a_total{le="2.5", x=~"b|c"}[5m])) / max(mcp_y) > 1 and mcp:z'
        ' or {__name__="n"} unless on (pod) bare offset 1h > bool 2 * 1e3'
    )
    assert dict(selectors(expr)) == {
        "a_total": [("le", "=", "2.5"), ("x", "=~", "b|c")],
        "mcp_y": [],
        "mcp:z": [],
        "n": [],
        "bare": [],
    }
    grafana = 'histogram_quantile(0.99, sum by (le) (rate(h_bucket{u=~"$u"}[$__rate_interval])))'
    assert dict(selectors(grafana)) == {"h_bucket": [("u", "=~", "$u")]}


def test_a_metric_or_label_nobody_exports_is_reported() -> None:
    scrape = exported(
        "# TYPE mcp_ready gauge\nmcp_ready 1\n"
        "# TYPE mcp_x_seconds histogram\n"
        'mcp_x_seconds_bucket{le="1.0"} 1\nmcp_x_seconds_bucket{le="+Inf"} 1\n'
        "mcp_x_seconds_count 1\nmcp_x_seconds_sum 0.5\n"
    )
    named = [
        ("rule A", 'mcp_ready{job="x"} == 0 and mcp:r > 1 and up == 1'),
        ("rule B", "rate(mcp_gone_total[5m]) > 0"),
        ("rule C", 'mcp_ready{state="x"} == 0'),
        ("rule D", 'rate(mcp_x_seconds_bucket{le="2.5"}[5m]) > 0'),
        ("rule E", 'rate(mcp_x_seconds_bucket{le="1.0"}[5m]) > 0'),
        ("a.json panel 'F'", 'mcp:r{job="x"} > 0 and mcp:r{pod="p"} > 0 or mcp:gone > 0'),
    ]
    assert problems(named, scrape, {"mcp:r": {"job"}}) == [
        "rule B: mcp_gone_total is exported by no server",
        "rule C: mcp_ready has no label 'state'",
        "rule D: mcp_x_seconds_bucket has no bucket le='2.5'",
        "a.json panel 'F': recorded mcp:r has no label 'pod'",
        "a.json panel 'F': mcp:gone is recorded by no rule",
    ]


async def test_every_metric_the_rules_and_dashboards_name_is_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mode warn: `lookup` does not match its pin and `search` has none; both stay callable.
    pins = tmp_path / "pins.yaml"
    pins.write_text(f"mode: warn\ntools:\n  lookup: sha256:{'0' * 64}\n")
    async with platform(tmp_path, monkeypatch, pins_file=str(pins)) as stack:
        async with client(stack.url, stack.user("lookup.read"), "legacy") as session:
            assert not (await session.call_tool("lookup", {"text": "hi"})).is_error
            # Not allowed by the policy: counted as an authorization denial.
            with pytest.raises(MCPError, match="needs app role"):
                await session.call_tool("search", {"text": "hi"})
        async with httpx.AsyncClient(timeout=10) as http:
            bad = {**LEGACY, "Authorization": "Bearer not-a-token"}
            refused = await http.post(
                f"{stack.url}/mcp", json={"jsonrpc": "2.0", "id": 1}, headers=bad
            )
            assert refused.status_code == 401
            await http.get(f"{stack.url}/health/ready")
            scrape = exported((await http.get(f"{stack.url}/metrics")).text)
    named = expressions()
    labels = recorded_labels()
    assert labels["mcp:tool_latency_seconds:p99_5m"] == {"namespace", "upstream", "name"}
    assert problems(named, scrape, labels) == []
    recorded = set(labels)
    used = {metric for _, expr in named for metric, _ in selectors(expr)}
    assert used - recorded, "the rules select something"
    assert recorded - used == set(), "recorded, read by no alert or dashboard"
    assert {name for name in used if ":" in name} <= recorded, "read, recorded by no rule"
    assert {where.split()[0] for where, _ in named if not where.startswith("rule ")} == {
        path.name for path in DASHBOARDS.glob("*.json")
    }, "every dashboard queries something"
    assert ("mcp_guard_refusals_total", "error", "invalid_token") in scrape.values
