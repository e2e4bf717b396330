"""The users domain MCP server: `get_user_profile` and `list_users` over a user directory."""

VERSION = "0.1.0"
