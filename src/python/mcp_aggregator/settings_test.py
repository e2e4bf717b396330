"""The aggregator's settings as the Helm chart sets them: `MCP_AGGREGATOR_*` variables."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from mcp_aggregator.settings import AggregatorSettings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no aggregator variable set."""
    for name in list(os.environ):
        if name.startswith("MCP_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_serve_the_local_stack(environment: pytest.MonkeyPatch) -> None:
    settings = AggregatorSettings()
    assert (settings.service_name, settings.host, settings.port) == (
        "mcp-aggregator",
        "127.0.0.1",
        8000,
    )
    assert settings.auth == "none"
    assert settings.upstreams_file is None, "the packaged local registry"
    assert (settings.policy_file, settings.pins_file, settings.session_keys_file) == (
        None,
        None,
        None,
    )
    assert settings.readiness_policy == "any"
    assert (settings.max_streams, settings.max_streams_per_principal) == (1000, 8)


def test_only_the_aggregators_prefix_is_read(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("MCP_AGGREGATOR_PORT", "9000")
    environment.setenv("MCP_AGGREGATOR_READINESS_POLICY", "all")
    environment.setenv("MCP_AGGREGATOR_PINS_FILE", "/etc/mcp/pins.yaml")
    environment.setenv("MCP_AGGREGATOR_SCOPES_SUPPORTED", '["api://mcp/mcp.access"]')
    environment.setenv("MCP_AGGREGATOR_UNAVAILABLE_AFTER_SECONDS", "2.5")
    environment.setenv("MCP_AGGREGATOR_NO_SUCH_SETTING", "ignored")
    environment.setenv("MCP_MAX_STREAMS", "5")  # another service's prefix
    settings = AggregatorSettings()
    assert settings.port == 9000
    assert settings.readiness_policy == "all"
    assert settings.pins_file == "/etc/mcp/pins.yaml"
    assert settings.scopes_supported == ["api://mcp/mcp.access"]
    assert settings.unavailable_after_seconds == 2.5
    assert settings.max_streams == 1000


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("READINESS_POLICY", "most", "'any' or 'all'"),
        ("UNAVAILABLE_AFTER_SECONDS", "0", "greater than 0"),
        ("RELOAD_INTERVAL_SECONDS", "-1", "greater than 0"),
        ("DEBOUNCE_SECONDS", "-0.1", "greater than or equal to 0"),
        ("MAX_STREAMS", "0", "greater than or equal to 1"),
        ("MAX_STREAMS_PER_PRINCIPAL", "10001", "less than or equal to 10000"),
        ("PORT", "65536", "less than or equal to 65535"),
    ],
)
def test_a_bad_value_names_the_setting_and_what_is_allowed(
    environment: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    environment.setenv(f"MCP_AGGREGATOR_{variable}", value)
    with pytest.raises(ValidationError) as caught:
        AggregatorSettings()
    assert variable.lower() in str(caught.value)
    assert says in str(caught.value)


def test_a_quiet_time_of_zero_is_allowed(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("MCP_AGGREGATOR_DEBOUNCE_SECONDS", "0")
    assert AggregatorSettings().debounce_seconds == 0


def test_without_authentication_it_listens_only_on_loopback(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("MCP_AGGREGATOR_HOST", "0.0.0.0")
    with pytest.raises(ValidationError, match="auth=none is allowed only on a loopback host"):
        AggregatorSettings()
    environment.setenv("MCP_AGGREGATOR_AUTH", "entra")
    environment.setenv("MCP_AGGREGATOR_TENANT_ID", "tenant-1")
    environment.setenv("MCP_AGGREGATOR_AUDIENCES", '["api://mcp"]')
    settings = AggregatorSettings()
    assert settings.entra().tenant_id == "tenant-1"
    assert settings.entra().audiences == ("api://mcp",)


def test_settings_cannot_change_once_built(environment: pytest.MonkeyPatch) -> None:
    settings = AggregatorSettings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.max_streams = 1  # type: ignore[misc]
