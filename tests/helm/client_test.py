"""The client chart: `mcp-client validate` and the contract check as a Helm test Job and an
optional CronJob, against the deployed aggregator."""

from __future__ import annotations

import json
from pathlib import Path

from helm.charts import Helm, by_kind, env_of, one, pod_spec

PUBLISHED = Path("tests/contract/contract.json")


def test_the_test_job_validates_then_checks_the_contract(helm: Helm) -> None:
    manifests = helm.render("mcp-client", ["workload-identity-values.yaml"])
    job = one(manifests, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod_spec(job)
    assert spec["restartPolicy"] == "Never"
    (validate,) = spec["initContainers"]
    (contract,) = spec["containers"]
    assert validate["args"] == ["validate"]
    assert contract["args"] == ["contract", "/etc/mcp/contract/contract.json"]
    mount = next(m for m in contract["volumeMounts"] if m["name"] == "contract")
    volume = next(v for v in spec["volumes"] if v["name"] == "contract")
    assert mount["mountPath"] == "/etc/mcp/contract"
    config = one(manifests, "ConfigMap")
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    env = env_of(contract)
    assert env["MCP_SERVER_URL"] == "http://mcp-aggregator:8000/mcp"
    assert env["MCP_CREDENTIAL"] == "workload_identity"
    assert env["MCP_TOKEN_SCOPE"] == "api://mcp-aggregator/.default"
    assert env_of(validate) == env


def test_the_chart_carries_the_published_contract(helm: Helm) -> None:
    config = one(helm.render("mcp-client", ["workload-identity-values.yaml"]), "ConfigMap")
    assert json.loads(config["data"]["contract.json"]) == json.loads(PUBLISHED.read_text()), (
        "src/helm/mcp-client/files/contract.json differs from tests/contract/contract.json: "
        "copy it after `./pants run tests/contract:update`"
    )


def test_the_cron_job_runs_the_same_check(helm: Helm) -> None:
    manifests = helm.render("mcp-client", ["workload-identity-values.yaml"])
    cron = one(manifests, "CronJob")
    assert cron["spec"]["schedule"] == "0 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"] == pod_spec(
        one(manifests, "Job")
    )


def test_without_the_contract_only_validate_runs(helm: Helm) -> None:
    manifests = helm.render("mcp-client", ["no-auth-values.yaml"])
    assert not by_kind(manifests, "ConfigMap")
    assert not by_kind(manifests, "CronJob")
    spec = pod_spec(one(manifests, "Job"))
    assert "initContainers" not in spec
    assert [c["args"] for c in spec["containers"]] == [["validate"]]
    assert env_of(spec["containers"][0])["MCP_CREDENTIAL"] == "none"


def test_the_client_is_no_deployment(helm: Helm) -> None:
    # mcp-client is a command that ends (see docs/helm.md): nothing to keep running or scale.
    manifests = helm.render("mcp-client", ["workload-identity-values.yaml"])
    assert not by_kind(manifests, "Deployment")
    assert not by_kind(manifests, "HorizontalPodAutoscaler")
