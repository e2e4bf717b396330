"""Every chart passes `helm lint --strict` in each CI scenario, and refuses what it must."""

from __future__ import annotations

import pytest

from helm.charts import CHARTS, DOMAINS, SCENARIOS, Helm


def test_every_chart_has_its_scenarios(helm: Helm) -> None:
    assert {(c, s) for c in CHARTS for s in helm.scenarios(c)} == set(SCENARIOS)


@pytest.mark.parametrize(("chart", "scenario"), SCENARIOS)
def test_lint_strict(helm: Helm, chart: str, scenario: str) -> None:
    values = str(helm.values_file(chart, scenario))
    result = helm.run("lint", "--strict", str(helm.charts / chart), "--values", values, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_the_library_chart_lints_and_renders_nothing(helm: Helm) -> None:
    result = helm.run("lint", "--strict", str(helm.charts / "mcp-lib"), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        helm.run("show", "chart", str(helm.charts / "mcp-lib")).stdout.count("type: library") == 1
    )


@pytest.mark.parametrize("chart", DOMAINS)
def test_defaults_are_refused_without_a_system_of_record(helm: Helm, chart: str) -> None:
    error = helm.refusal(chart)
    assert "systemOfRecord.url is required" in error
    assert "demo=true" in error


@pytest.mark.parametrize("chart", DOMAINS)
def test_demo_mode_must_be_explicit_and_exclusive(helm: Helm, chart: str) -> None:
    production = helm.values_file(chart, "production-values.yaml")
    without_url = helm.refusal(chart, [production], sets={"systemOfRecord.url": ""})
    assert "systemOfRecord.url is required" in without_url
    both = helm.refusal(chart, [production], sets={"demo": True})
    assert "choose one" in both
    demo = helm.render(
        chart,
        [production],
        sets={
            "systemOfRecord.url": "",
            "demo": True,
            "autoscaling.enabled": False,
            "replicaCount": 1,
        },
    )
    assert demo


@pytest.mark.parametrize(
    ("chart", "missing", "message"),
    [
        ("mcp-aggregator", "auth.tenantId", "auth.tenantId is required"),
        ("mcp-aggregator", "auth.resourceUrl", "auth.resourceUrl is required"),
        ("mcp-aggregator", "workloadIdentity.clientId", "workloadIdentity.clientId is required"),
        ("mcp-users", "auth.allowedCallers", "auth.allowedCallers is required"),
        ("mcp-users", "systemOfRecord.scope", "systemOfRecord.scope is required"),
        ("mcp-client", "auth.tokenScope", "auth.tokenScope is required"),
    ],
)
def test_missing_identity_settings_are_refused_by_name(
    helm: Helm, chart: str, missing: str, message: str
) -> None:
    scenario = helm.scenarios(chart)[-1]
    empty: object = [] if missing.endswith("allowedCallers") else ""
    assert message in helm.refusal(chart, [scenario], sets={missing: empty})


@pytest.mark.parametrize("chart", ["mcp-users", "mcp-aggregator"])
def test_no_authentication_is_refused_in_a_pod(helm: Helm, chart: str) -> None:
    scenario = helm.scenarios(chart)[-1]
    error = helm.refusal(chart, [scenario], sets={"auth.mode": "none"})
    assert "auth.mode=none" in error
    assert "loopback" in error
