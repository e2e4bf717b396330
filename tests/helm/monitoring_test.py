"""What the charts give a Prometheus Operator: a ServiceMonitor per server (off by default)."""

from __future__ import annotations

import pytest

from helm.charts import DOMAINS, SCENARIOS, Helm, Manifest, by_kind, one, pod_labels

SERVERS = (*DOMAINS, "mcp-aggregator")
SERVER_SCENARIOS = [(chart, scenario) for chart, scenario in SCENARIOS if chart in SERVERS]


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, and the DoesNotExist/Exists expressions used here)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        if present != (expression["operator"] == "Exists"):
            return False
    return True


@pytest.mark.parametrize(("chart", "scenario"), SERVER_SCENARIOS)
def test_no_service_monitor_unless_enabled(helm: Helm, chart: str, scenario: str) -> None:
    assert not by_kind(helm.render(chart, [scenario]), "ServiceMonitor")


@pytest.mark.parametrize("chart", SERVERS)
def test_the_service_monitor_scrapes_each_pod_once_on_metrics(helm: Helm, chart: str) -> None:
    scenario = helm.scenarios(chart)[-1]
    manifests = helm.render(
        chart,
        [scenario],
        sets={"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}},
    )
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/name"] == chart
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["mcp"]}
    services = [
        service
        for service in by_kind(manifests, "Service")
        if selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    ]
    # The aggregator has a headless Service over the same pods: scraping both would count
    # every pod twice.
    assert len(services) == 1, [s["metadata"]["name"] for s in services]
    service = services[0]
    assert "clusterIP" not in service["spec"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")
    deployment = one(manifests, "Deployment")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployment))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}


def test_the_service_monitor_leaves_timing_to_prometheus_when_asked(helm: Helm) -> None:
    monitor = one(
        helm.render(
            "mcp-users",
            ["demo-values.yaml"],
            sets={
                "serviceMonitor": {
                    "enabled": True,
                    "interval": "",
                    "scrapeTimeout": "",
                    "metricRelabelings": [{"action": "drop", "regex": "python_.*"}],
                }
            },
        ),
        "ServiceMonitor",
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert "interval" not in endpoint
    assert "scrapeTimeout" not in endpoint
    assert endpoint["metricRelabelings"] == [{"action": "drop", "regex": "python_.*"}]


def test_a_malformed_scrape_interval_is_refused(helm: Helm) -> None:
    error = helm.refusal(
        "mcp-users", ["demo-values.yaml"], sets={"serviceMonitor.interval": "30 seconds"}
    )
    assert "serviceMonitor.interval" in error
