"""The aggregator chart's PrometheusRule, with the real promtool (Debian's `prometheus`):
`promtool check rules` over the rules as rendered, and `promtool test rules` over
prometheus-rules-test.yaml, in which every alert fires on one input and stays silent on
another. promtool is required, not optional: without it these tests fail, saying so."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from helm.charts import SCENARIOS, Helm, by_kind, one
from helm.promtool import run_promtool

RULES_FILE = Path("src/helm/mcp-aggregator/files/prometheus-rules.yaml")
CASES = Path(__file__).parent / "prometheus-rules-test.yaml"
RUNBOOK = Path("docs/operations.md")


def rendered_rules(helm: Helm, **sets: Any) -> dict[str, Any]:
    manifests = helm.render(
        "mcp-aggregator",
        ["production-values.yaml"],
        sets={"prometheusRule": {"enabled": True, **sets}},
    )
    rule: dict[str, Any] = one(manifests, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    return rule


def alerts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in spec["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.fixture(scope="module")
def rules_dir(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rules as the chart renders them, beside promtool's cases."""
    folder = Path(tmp_path_factory.mktemp("rules"))
    spec = rendered_rules(helm)["spec"]
    (folder / "prometheus-rules.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(CASES, folder / CASES.name)
    return folder


@pytest.mark.parametrize(("chart", "scenario"), [s for s in SCENARIOS if s[0] == "mcp-aggregator"])
def test_no_prometheus_rule_unless_enabled(helm: Helm, chart: str, scenario: str) -> None:
    assert not by_kind(helm.render(chart, [scenario]), "PrometheusRule")


def test_the_rendered_rules_are_the_rules_file(helm: Helm) -> None:
    assert rendered_rules(helm)["spec"] == yaml.safe_load(RULES_FILE.read_text())


def test_alert_labels_are_added_and_runbook_urls_point_at_each_section(helm: Helm) -> None:
    rule = rendered_rules(
        helm,
        labels={"release": "kps"},
        alertLabels={"team": "platform", "severity": "info"},
        runbookUrl="https://docs.example.org/operations.md",
    )
    assert rule["metadata"]["labels"]["release"] == "kps"
    found = alerts(rule["spec"])
    assert found
    for alert in found:
        assert alert["labels"]["team"] == "platform"
        assert alert["labels"]["severity"] in ("warning", "critical"), "its own label wins"
        assert alert["annotations"]["runbook_url"] == (
            f"https://docs.example.org/operations.md#{alert['alert'].lower()}"
        )


def test_promtool_checks_the_rendered_rules(rules_dir: Path) -> None:
    result = run_promtool("check", "rules", str(rules_dir / "prometheus-rules.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_refuses_a_broken_expression(tmp_path: Path) -> None:
    spec = yaml.safe_load(RULES_FILE.read_text())
    alerts(spec)[0]["expr"] = "max by (upstream (mcp_aggregator_upstream_available) == 0"
    broken = tmp_path / "rules.yaml"
    broken.write_text(yaml.safe_dump(spec))
    result = run_promtool("check", "rules", str(broken))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_every_alert_fires_and_stays_silent_as_the_cases_say(rules_dir: Path) -> None:
    result = run_promtool("test", "rules", str(rules_dir / CASES.name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_fails_a_case_whose_alert_does_not_fire(rules_dir: Path, tmp_path: Path) -> None:
    cases = yaml.safe_load(CASES.read_text())
    for case in cases["tests"]:
        for check in case["alert_rule_test"]:
            check["exp_alerts"] = []
    shutil.copy(rules_dir / "prometheus-rules.yaml", tmp_path / "prometheus-rules.yaml")
    (tmp_path / CASES.name).write_text(yaml.safe_dump(cases))
    result = run_promtool("test", "rules", str(tmp_path / CASES.name))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_each_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    names = {alert["alert"] for alert in alerts(yaml.safe_load(RULES_FILE.read_text()))}
    fired: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(CASES.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else silent).add(check["alertname"])
    assert names - fired == set(), "alerts never seen firing"
    assert names - silent == set(), "alerts never seen silent"
    assert fired | silent <= names, "cases of alerts that do not exist"


def test_each_alert_has_a_summary_and_a_runbook_section() -> None:
    runbook = RUNBOOK.read_text()
    for alert in alerts(yaml.safe_load(RULES_FILE.read_text())):
        assert alert["annotations"]["summary"]
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert f"\n### {alert['alert']}\n" in runbook, f"docs/operations.md: {alert['alert']}"
