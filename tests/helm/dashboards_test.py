"""The aggregator chart's Grafana dashboards (files/dashboards/*.json), rendered by the real
helm as ConfigMaps for Grafana's dashboard sidecar: off by default, the sidecar's label
configurable, each dashboard as committed and using only its data source variable. That every
metric they name is exported is src/python/mcp_aggregator/exported_metrics_test.py's job;
here the real promtool parses every query."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from helm.charts import SCENARIOS, Helm, Manifest, by_kind, strings_in, validate
from helm.promtool import run_promtool

DASHBOARDS = Path("src/helm/mcp-aggregator/files/dashboards")
EXPECTED = {"overview.json", "upstreams.json", "tools.json", "identity.json"}
# kubectl apply keeps a copy in an annotation, which may hold 256 KiB.
MAX_BYTES = 256 * 1024


def dashboards(helm: Helm, **sets: Any) -> list[Manifest]:
    manifests = helm.render(
        "mcp-aggregator",
        ["production-values.yaml"],
        sets={"grafanaDashboards": {"enabled": True, **sets}},
    )
    return [m for m in by_kind(manifests, "ConfigMap") if "-dashboard-" in m["metadata"]["name"]]


def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in items:
        found.append(panel)
        found.extend(panels(panel.get("panels", [])))
    return found


@pytest.mark.parametrize(("chart", "scenario"), [s for s in SCENARIOS if s[0] == "mcp-aggregator"])
def test_no_dashboards_unless_enabled(helm: Helm, chart: str, scenario: str) -> None:
    for config_map in by_kind(helm.render(chart, [scenario]), "ConfigMap"):
        assert "grafana_dashboard" not in config_map["metadata"].get("labels", {})
        assert not any(key.endswith(".json") for key in config_map.get("data", {}))


def test_one_config_map_per_dashboard_with_the_sidecars_default_label(helm: Helm) -> None:
    rendered = dashboards(helm)
    by_key = {key: m for m in rendered for key in m["data"]}
    assert set(by_key) == EXPECTED == {p.name for p in DASHBOARDS.glob("*.json")}
    assert len(rendered) == len(EXPECTED)
    for key, config_map in by_key.items():
        validate(config_map)
        assert config_map["metadata"]["namespace"] == "mcp"
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["labels"]["app.kubernetes.io/name"] == "mcp-aggregator"
        assert json.loads(config_map["data"][key]) == json.loads((DASHBOARDS / key).read_text())
        assert len(config_map["data"][key].encode()) < MAX_BYTES


def test_the_label_namespace_and_annotations_are_configurable(helm: Helm) -> None:
    rendered = dashboards(
        helm,
        label="mcp_dashboards",
        labelValue="yes",
        namespace="monitoring",
        labels={"team": "platform"},
        annotations={"grafana_folder": "MCP platform"},
    )
    assert len(rendered) == len(EXPECTED)
    for config_map in rendered:
        metadata = config_map["metadata"]
        assert metadata["labels"]["mcp_dashboards"] == "yes"
        assert "grafana_dashboard" not in metadata["labels"]
        assert metadata["labels"]["team"] == "platform"
        assert metadata["namespace"] == "monitoring"
        assert metadata["annotations"] == {"grafana_folder": "MCP platform"}


def test_a_label_that_is_not_a_label_name_is_refused(helm: Helm) -> None:
    error = helm.refusal(
        "mcp-aggregator",
        ["minimal-values.yaml"],
        sets={"grafanaDashboards": {"enabled": True, "label": "not a label"}},
    )
    assert "grafanaDashboards.label" in error


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dashboard_is_self_contained(name: str) -> None:
    dashboard = json.loads((DASHBOARDS / name).read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # Imported anywhere: the Prometheus data source is chosen, never a uid of ours.
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    sources = [value for path, value in strings_in(dashboard) if path.endswith("datasource.uid")]
    assert set(sources) == {"${datasource}"}
    every = panels(dashboard["panels"])
    assert every
    assert len({p["id"] for p in every}) == len(every), "panel ids are unique"
    for panel in every:
        assert panel["targets"], f"{name}: panel {panel['title']!r} queries nothing"
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, f"{name}: {panel['title']!r} is wider than the grid"


def test_dashboard_uids_and_titles_are_unique() -> None:
    found = [json.loads(path.read_text()) for path in DASHBOARDS.glob("*.json")]
    assert len({d["uid"] for d in found}) == len(found)
    assert len({d["title"] for d in found}) == len(found)
    assert all(len(d["uid"]) <= 40 for d in found), "Grafana's limit on a uid"


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of each target, Grafana's variables replaced by what they expand
    to (a regex for the multi-value ones, a range for $__rate_interval)."""
    found = []
    for panel in panels(dashboard["panels"]):
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "5m")
            found.append((panel["title"], re.sub(r"\$\w+", ".*", expr)))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(selector, label): Grafana's; the selector is PromQL.
            selector = re.sub(r"^label_values\((.*),[^,)]*\)$", r"\1", variable["query"]["query"])
            found.append((f"variable {variable['name']}", re.sub(r"\$\w+", ".*", selector)))
    return found


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    rules = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for index, (title, expr) in enumerate(queries(json.loads(path.read_text()))):
            # A recording rule per query: promtool check rules parses each expression.
            name = f"dashboard:{path.stem}:{index}"
            rules.append({"record": name, "expr": expr, "labels": {"panel": title}})
    assert len(rules) > 20
    checked = tmp_path / "queries.yaml"
    checked.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_promtool("check", "rules", str(checked))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_promtool_refuses_a_broken_query(tmp_path: Path) -> None:
    broken = tmp_path / "queries.yaml"
    rule = {"record": "dashboard:broken", "expr": "sum by (job (rate(mcp_ready[5m]))"}
    broken.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": [rule]}]}))
    result = run_promtool("check", "rules", str(broken))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr
