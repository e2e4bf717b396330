"""The reference REST API of the user directory.

Its OpenAPI document (`/openapi.json`) is the contract a real directory implements for the
users MCP server; the server talks to whichever is configured only through this contract.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query

from mcp_common.database import Database
from mcp_common.errors import NotFound
from mcp_users import VERSION
from mcp_users.directory import EmbeddedDirectory
from mcp_users.models import MAX_PAGE, USER_ID_PATTERN, UserPage, UserProfile


def build_api(database: Database) -> FastAPI:
    """The directory API over `database` (opened by the caller's lifespan)."""
    api = FastAPI(title="User directory API", version=VERSION)
    directory = EmbeddedDirectory(database)

    @api.get("/health")
    async def health() -> dict[str, str]:
        await database.check()
        return {"status": "ok"}

    @api.get("/users", response_model=UserPage)
    async def list_users(
        skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
    ) -> UserPage:
        return await directory.list_users(skip, limit)

    @api.get(
        "/users/{user_id}",
        response_model=UserProfile,
        responses={404: {"description": "No such user"}},
    )
    async def get_user(
        user_id: Annotated[str, Path(pattern=USER_ID_PATTERN)],
        include_details: bool = False,
    ) -> UserProfile:
        try:
            return await directory.get_user(user_id, include_details)
        except NotFound as exc:
            raise HTTPException(404, detail=exc.message) from exc

    return api
