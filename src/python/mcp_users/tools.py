"""The users tools, over a directory (its REST API, or the embedded one in-process)."""

from __future__ import annotations

from mcp_common.tools import ToolSpec
from mcp_users.directory import Directory
from mcp_users.models import (
    MAX_PAGE,
    GetUserProfileInput,
    ListUsersInput,
    UserPage,
    UserProfile,
)


def build_tools(
    directory: Directory,
) -> list[ToolSpec[GetUserProfileInput, UserProfile] | ToolSpec[ListUsersInput, UserPage]]:
    async def get_user_profile(args: GetUserProfileInput) -> UserProfile:
        return await directory.get_user(args.user_id, args.include_details)

    async def list_users(args: ListUsersInput) -> UserPage:
        return await directory.list_users(args.skip, args.limit)

    return [
        ToolSpec(
            name="get_user_profile",
            title="Get user profile",
            description=(
                "Look up one person in the company directory by user_id (e.g. u-0001) and return "
                "their name, email, department and title. Set include_details=true to also get "
                "phone, location, manager_id, hire date and groups. Fails with not_found when no "
                "user has that id; use list_users to find ids."
            ),
            input_model=GetUserProfileInput,
            output_model=UserProfile,
            handler=get_user_profile,
            read_only=True,
            idempotent=True,
        ),
        ToolSpec(
            name="list_users",
            title="List users",
            description=(
                "List people in the company directory, ordered by user_id, one page at a time. "
                f"Returns the page (limit 1 to {MAX_PAGE}, default 10), the total number of users "
                "and has_more; pass skip=skip+limit to get the next page."
            ),
            input_model=ListUsersInput,
            output_model=UserPage,
            handler=list_users,
            read_only=True,
            idempotent=True,
        ),
    ]
