"""values.schema.json really validates: helm refuses a broken value, naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helm import values_schema
from helm.charts import CHARTS, SOURCE, Helm


@pytest.mark.parametrize("chart", CHARTS)
def test_the_committed_schema_is_the_generated_one(chart: str) -> None:
    committed = json.loads((SOURCE / chart / "values.schema.json").read_text())
    assert (
        committed == values_schema.schemas()[chart]
    ), f"src/helm/{chart}/values.schema.json is stale: ./pants run tests/helm:schemas"


@pytest.mark.parametrize("chart", CHARTS)
def test_every_default_value_is_known_to_the_schema(helm: Helm, chart: str) -> None:
    # Lint validates values.yaml against the schema; a misspelt default would fail it.
    scenario = helm.scenarios(chart)[0]
    result = helm.run(
        "lint",
        "--strict",
        str(helm.charts / chart),
        "--values",
        str(helm.values_file(chart, scenario)),
    )
    assert "0 chart(s) failed" in result.stdout


BROKEN: list[tuple[str, str, Any, str]] = [
    (
        "mcp-users",
        "service.port",
        "8101",
        "service.port: Invalid type. Expected: integer, given: string",
    ),
    ("mcp-users", "servce", {"port": 1}, "Additional property servce is not allowed"),
    (
        "mcp-users",
        "autoscaling.maxReplicas",
        500,
        "autoscaling.maxReplicas: Must be less than or equal to 100",
    ),
    (
        "mcp-users",
        "autoscaling.targetCPUUtilizationPercentage",
        "80%",
        "autoscaling.targetCPUUtilizationPercentage: Invalid type",
    ),
    (
        "mcp-users",
        "logging.level",
        "LOUD",
        "logging.level: logging.level must be one of the following",
    ),
    ("mcp-users", "securityContext.runAsUSer", 0, "Additional property runAsUSer is not allowed"),
    (
        "mcp-tickets",
        "database.url",
        "postgresql+asyncpg://mcp:hunter2@db/tickets",
        "database.url: Must not validate the schema (not)",
    ),
    (
        "mcp-data",
        "workloadIdentity.clientId",
        "my-identity",
        "workloadIdentity.clientId: Does not match pattern",
    ),
    ("mcp-aggregator", "upstreams.Billing", {"host": "b", "port": 1}, "Billing"),
    ("mcp-aggregator", "upstreams.billing", {"host": "b"}, "upstreams.billing: port is required"),
    (
        "mcp-aggregator",
        "upstreams.users.callTimeout",
        60,
        "upstreams.users.callTimeout: Invalid type",
    ),
    (
        "mcp-aggregator",
        "policy.default",
        "allow",
        "policy.default: policy.default must be one of the following",
    ),
    ("mcp-client", "cronJob.schedul", "* * * * *", "Additional property schedul is not allowed"),
    (
        "mcp-client",
        "server.protocol",
        "2024-11-05",
        "server.protocol: server.protocol must be one of the following",
    ),
]


@pytest.mark.parametrize(("chart", "key", "value", "message"), BROKEN)
def test_a_broken_value_is_refused_naming_it(
    helm: Helm, chart: str, key: str, value: Any, message: str
) -> None:
    scenario = helm.scenarios(chart)[-1]
    error = helm.refusal(chart, [scenario], sets={key: value})
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


def test_a_values_file_with_an_unknown_key_is_refused(helm: Helm, tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("podSecurityContext:\n  runAsNonroot: true\n")
    error = helm.refusal("mcp-data", ["demo-values.yaml", typo])
    assert "podSecurityContext: Additional property runAsNonroot is not allowed" in error
