"""Demo data only when asked for: a users server with neither an API nor demo mode refuses to
start, saying what to set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mcp_common.settings import SettingsError
from mcp_users.app import build_app
from mcp_users.settings import UsersSettings


@pytest.fixture(autouse=True)
def _no_users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("MCP_USERS_")]:
        monkeypatch.delenv(name)


def test_no_api_url_and_no_demo_is_a_start_up_error_naming_both_settings() -> None:
    assert UsersSettings().demo is False
    with pytest.raises(SettingsError) as caught:
        build_app(UsersSettings())
    message = str(caught.value)
    assert message.startswith("MCP_USERS_API_URL is not set: set it to the base URL of the users")
    assert "or set MCP_USERS_DEMO=true to serve seeded demo data" in message


def test_demo_and_an_api_url_together_are_refused() -> None:
    with pytest.raises(SettingsError, match="MCP_USERS_DEMO=true serves the embedded demo API"):
        build_app(UsersSettings(api_url="https://directory.example.com", demo=True))


def test_the_demo_flag_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_USERS_DEMO", "true")
    assert UsersSettings().demo is True


def test_the_server_process_exits_with_one_line_that_says_what_to_set() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCP_USERS_")},
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        "MCP_USERS_PORT": "0",
        "MCP_USERS_LOG_FORMAT": "text",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mcp_users"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "MCP_USERS_API_URL is not set" in done.stderr
    assert "MCP_USERS_DEMO=true" in done.stderr
    assert "Traceback" not in done.stderr
