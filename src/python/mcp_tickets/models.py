"""The tickets domain's contract: tool inputs and outputs, which are also the REST API's bodies.

A ticket's id is a string, `T-` and its number zero-padded to six digits (`T-000123`; more
digits past 999999), so an assistant can quote it to a person unambiguously.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

MAX_PAGE = 100
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
TICKET_ID_PATTERN = r"^T-[0-9]{6,}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]+$"
MAX_IDEMPOTENCY_KEY = 128

READ_ALL_ROLE = "Tickets.ReadAll"
"""The app role that lets a person see every ticket; without it, only the ones they opened."""

Priority = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "in_progress", "resolved", "closed"]


class TicketDraft(BaseModel):
    """What a person asks for: the body of `POST /tickets`."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(
        min_length=1,
        max_length=MAX_TITLE,
        description=f"One-line summary of the problem, 1 to {MAX_TITLE} characters, not blank.",
    )
    description: str = Field(
        min_length=1,
        max_length=MAX_DESCRIPTION,
        description=(
            "What happened, what was expected, and anything that helps reproduce it; "
            f"1 to {MAX_DESCRIPTION} characters, not blank."
        ),
    )
    priority: Priority = Field(
        description=(
            "How urgent: low (cosmetic, can wait), medium (normal), high (blocks someone's work), "
            "critical (outage or data loss, many people affected)."
        )
    )

    @field_validator("title", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain a non-space character")
        return value


class Reporter(BaseModel):
    """Who opened a ticket: the signed-in person the call was made for."""

    object_id: str = Field(description="The person's Entra object id (oid): stable, unique.")
    name: str = Field(description="Their display name when the ticket was opened (may be empty).")


class Ticket(BaseModel):
    ticket_id: str = Field(
        pattern=TICKET_ID_PATTERN, description="Stable ticket id, e.g. T-000123."
    )
    title: str
    description: str
    priority: Priority
    status: Status = Field(description="open for a new ticket; then in_progress, resolved, closed.")
    created_at: AwareDatetime = Field(description="When the ticket was opened (ISO 8601, UTC).")
    reporter: Reporter | None = Field(
        default=None,
        description="The person who opened it; null when an application opened it as itself "
        "(and for tickets from before reporters were recorded).",
    )

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # A tracker may answer in any offset; the contract promises UTC.
        return value.astimezone(UTC)


class TicketPage(BaseModel):
    items: list[Ticket] = Field(description="Tickets, newest first (ties: higher ticket_id first).")
    total: int = Field(description="Tickets matching the filters (and visible to the caller).")
    skip: int
    limit: int
    has_more: bool = Field(description="True when matching tickets remain after this page.")


class CreateTicketInput(TicketDraft):
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Optional but recommended: a unique string you make up for this one ticket (e.g. a "
            f"UUID; letters, digits and . _ : -, up to {MAX_IDEMPOTENCY_KEY} characters). If a call "
            "fails or times out, retry with the same key and the same fields: you get the same "
            "ticket back and no duplicate is opened. Reusing a key with different fields fails "
            "with conflict; use a new key for a new ticket."
        ),
    )


class ListTicketsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = Field(
        default=None,
        description="Only tickets with this status (open, in_progress, resolved, closed); null for all.",
    )
    reporter: Literal["me"] | None = Field(
        default=None,
        description="me: only tickets you opened (needs a signed-in user); null for every "
        "ticket you may see. Without the Tickets.ReadAll role a person sees only their own.",
    )
    skip: int = Field(default=0, ge=0, le=1_000_000, description="Tickets to skip (paging).")
    limit: int = Field(default=10, ge=1, le=MAX_PAGE, description=f"Page size, 1 to {MAX_PAGE}.")


@dataclass(frozen=True)
class Viewer:
    """Whom a tracker request is for: a person (`object_id`), or an application calling as
    itself (`object_id` None), which sees every ticket and reports as nobody."""

    object_id: str | None = None
    name: str = ""
    read_all: bool = True

    @classmethod
    def person(cls, object_id: str, name: str, roles: Collection[str]) -> Viewer:
        return cls(object_id, name, READ_ALL_ROLE in roles)

    @property
    def reporter(self) -> Reporter | None:
        return Reporter(object_id=self.object_id, name=self.name) if self.object_id else None

    def visible_reporter(self, mine: bool) -> str | None:
        """The reporter a listing is limited to (None: every ticket).

        Raises:
            ValueError: `mine` asked by an application, which has no tickets of its own.
        """
        if mine and self.object_id is None:
            raise ValueError(
                "reporter 'me' needs a signed-in user; this call is an application's own, "
                "so omit reporter (or null) to list every ticket"
            )
        if mine or not self.read_all:
            return self.object_id
        return None


APPLICATION = Viewer()
