"""The users domain's contract: tool inputs and outputs, which are also the REST API's bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_PAGE = 100
# Starts with a letter or digit: an id of "." or ".." would be a dot segment in the API's URL.
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class UserSummary(BaseModel):
    user_id: str = Field(description="Stable directory id, e.g. u-0001.")
    display_name: str
    email: str
    department: str
    title: str


class UserDetails(BaseModel):
    phone: str
    location: str
    manager_id: str | None = Field(description="user_id of the manager; null at the top.")
    hired_on: str = Field(description="ISO date.")
    groups: list[str]


class UserProfile(UserSummary):
    details: UserDetails | None = Field(
        default=None, description="Present only when include_details was true."
    )


class UserPage(BaseModel):
    items: list[UserSummary]
    total: int = Field(description="Users in the directory.")
    skip: int
    limit: int
    has_more: bool = Field(description="True when users remain after this page.")


class GetUserProfileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(
        pattern=USER_ID_PATTERN, description="The user's directory id, e.g. u-0001."
    )
    include_details: bool = Field(
        default=False, description="Also return phone, location, manager, hire date and groups."
    )


class ListUsersInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip: int = Field(default=0, ge=0, le=1_000_000, description="Users to skip (paging).")
    limit: int = Field(default=10, ge=1, le=MAX_PAGE, description=f"Page size, 1 to {MAX_PAGE}.")
