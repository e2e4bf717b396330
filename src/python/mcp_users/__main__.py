"""Run the users MCP server: `python -m mcp_users` (or the `mcp-users` PEX)."""

from __future__ import annotations

from mcp_common.runner import run_service
from mcp_users.app import build_app
from mcp_users.settings import UsersSettings

if __name__ == "__main__":
    run_service(UsersSettings(), build_app)
