"""The user directory as the tools see it, over REST or in-process.

`RestDirectory` calls a directory's REST API (the contract in `api.py`), as on AKS.
`EmbeddedDirectory` is the reference implementation's service layer over its own database: the
embedded REST API serves it, and the tools call it directly when no `api_url` is configured
(no HTTP hop inside one process). Both answer the same bodies and fail the same way.
"""

from __future__ import annotations

from typing import Protocol

from mcp_common.database import Database
from mcp_common.errors import NotFound
from mcp_common.rest import RestClient, path_segment
from mcp_users import store
from mcp_users.models import UserPage, UserProfile


def no_such_user(user_id: str) -> NotFound:
    return NotFound(f"no user with id {user_id!r}")


class Directory(Protocol):
    async def list_users(self, skip: int, limit: int) -> UserPage: ...

    async def get_user(self, user_id: str, include_details: bool) -> UserProfile:
        """Raises: NotFound, or another ToolFailure when the directory cannot answer."""
        ...


class RestDirectory:
    """A directory behind its REST API."""

    def __init__(self, api: RestClient) -> None:
        self._api = api

    async def list_users(self, skip: int, limit: int) -> UserPage:
        body = await self._api.get("/users", params={"skip": skip, "limit": limit})
        return UserPage.model_validate(body)

    async def get_user(self, user_id: str, include_details: bool) -> UserProfile:
        body = await self._api.get(
            f"/users/{path_segment(user_id)}",
            params={"include_details": str(include_details).lower()},
        )
        return UserProfile.model_validate(body)


class EmbeddedDirectory:
    """The reference directory over `database` (opened by the app's lifespan)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def list_users(self, skip: int, limit: int) -> UserPage:
        async with self._database.read() as connection:
            return await store.list_users(connection, skip, limit)

    async def get_user(self, user_id: str, include_details: bool) -> UserProfile:
        async with self._database.read() as connection:
            profile = await store.get_user(connection, user_id, include_details)
        if profile is None:
            raise no_such_user(user_id)
        return profile
