"""The accepted-findings list (`security/allowlist.yaml`): known vulnerabilities the pipeline lets
through, each for a reason and until a date.

Why our own file rather than the scanner's ignore file: every entry must say why and until when,
and an entry past its date must stop the pipeline again, naming itself; the scanner's own
ignore files make both optional. The format:

    accepted:
      - id: CVE-2024-12345          # the finding's id, as the scanner reports it
        package: libexpat1          # optional: only this package's finding
        reason: not reachable: the services parse no XML
        expires: 2027-03-31         # YYYY-MM-DD; after this day the finding blocks again
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FIELDS = {"id", "package", "reason", "expires"}
REQUIRED = ("id", "reason", "expires")


class AllowlistError(ValueError):
    """The allow-list file is malformed; the message names the entry and what is allowed."""


@dataclass(frozen=True)
class Accepted:
    id: str
    reason: str
    expires: dt.date
    package: str | None = None

    def covers(self, finding_id: str, package: str) -> bool:
        return self.id == finding_id and self.package in (None, package)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


def _entry(index: int, raw: Any) -> Accepted:
    where = f"accepted[{index}]"
    if not isinstance(raw, dict):
        raise AllowlistError(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise AllowlistError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FIELDS))}"
        )
    missing = [key for key in REQUIRED if not raw.get(key)]
    if missing:
        raise AllowlistError(
            f"{where}: missing {', '.join(missing)}; every accepted finding says why and until when"
        )
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError as exc:
            raise AllowlistError(
                f"{where}: expires {expires!r} is not a date (YYYY-MM-DD)"
            ) from exc
    if not isinstance(expires, dt.date):
        raise AllowlistError(f"{where}: expires must be a date (YYYY-MM-DD)")
    package = raw.get("package")
    return Accepted(
        id=str(raw["id"]),
        reason=str(raw["reason"]),
        expires=expires,
        package=package and str(package),
    )


def parse(text: str) -> list[Accepted]:
    """The entries of an allow-list document.

    Raises:
        AllowlistError: the document or an entry is malformed.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AllowlistError(f"not YAML: {exc}") from exc
    if document is None:
        return []
    if not isinstance(document, dict) or set(document) - {"accepted"}:
        raise AllowlistError("expected a mapping with one key, accepted: a list of entries")
    entries = document.get("accepted") or []
    if not isinstance(entries, list):
        raise AllowlistError("accepted: expected a list of entries")
    return [_entry(index, raw) for index, raw in enumerate(entries)]


def load(path: Path) -> list[Accepted]:
    """The entries of the allow-list file at `path` (none when it does not exist).

    Raises:
        AllowlistError: the file is malformed.
    """
    if not path.exists():
        return []
    try:
        return parse(path.read_text())
    except AllowlistError as exc:
        raise AllowlistError(f"{path}: {exc}") from exc
