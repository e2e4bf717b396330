from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from mcp_common.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore", frozen=True)


def test_defaults_work_with_an_empty_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXAMPLE_PORT", raising=False)
    settings = ExampleSettings()
    assert settings.host == "127.0.0.1"
    assert settings.otlp_endpoint is None
    assert settings.log_format == "json"


def test_environment_overrides_with_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_PORT", "9001")
    monkeypatch.setenv("EXAMPLE_LOG_FORMAT", "text")
    monkeypatch.setenv("EXAMPLE_ALLOWED_HOSTS", '["mcp.example.com"]')
    settings = ExampleSettings()
    assert settings.port == 9001
    assert settings.log_format == "text"
    assert settings.allowed_hosts == ["mcp.example.com"]


def test_bad_values_name_the_field_and_what_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_PORT", "70000")
    monkeypatch.setenv("EXAMPLE_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError) as caught:
        ExampleSettings()
    text = str(caught.value)
    assert "port" in text
    assert "65535" in text
    assert "log_format" in text
    assert "'json' or 'text'" in text
