from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mcp_release.allowlist import Accepted, AllowlistError, load, parse


def test_entries_say_what_why_and_until_when() -> None:
    entries = parse(
        "accepted:\n"
        "  - id: CVE-2024-1\n    package: libexpat1\n    reason: no XML is parsed\n    expires: 2027-03-31\n"
        "  - id: CVE-2024-2\n    reason: not reachable\n    expires: '2027-01-01'\n"
    )
    assert entries == [
        Accepted("CVE-2024-1", "no XML is parsed", dt.date(2027, 3, 31), "libexpat1"),
        Accepted("CVE-2024-2", "not reachable", dt.date(2027, 1, 1), None),
    ]
    assert entries[0].covers("CVE-2024-1", "libexpat1")
    assert not entries[0].covers("CVE-2024-1", "libxml2"), "scoped to its package"
    assert entries[1].covers("CVE-2024-2", "anything")
    assert not entries[0].expired(dt.date(2027, 3, 31)), "valid through its last day"
    assert entries[0].expired(dt.date(2027, 4, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accepted:\n  - id: CVE-1\n    expires: 2027-01-01\n", r"accepted\[0\]: missing reason"),
        ("accepted:\n  - id: CVE-1\n    reason: r\n", r"accepted\[0\]: missing expires"),
        ("accepted:\n  - id: CVE-1\n    reason: r\n    expires: soon\n", "'soon' is not a date"),
        (
            "accepted:\n  - {id: CVE-1, reason: r, expires: 2027-01-01, owner: me}\n",
            "unknown key.*owner; allowed",
        ),
        ("ignored: []\n", "one key, accepted"),
        ("accepted: CVE-1\n", "expected a list"),
        ("accepted: [CVE-1]\n", "expected a mapping"),
        ("accepted: [\n", "not YAML"),
    ],
)
def test_a_malformed_list_is_refused_saying_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(AllowlistError, match=message):
        parse(text)


def test_the_repositorys_list_is_valid_and_a_missing_file_is_empty(tmp_path: Path) -> None:
    for entry in load(Path("security/allowlist.yaml")):
        assert entry.reason
        assert entry.expires
    assert Path("security/allowlist.yaml").exists()
    assert load(tmp_path / "none.yaml") == []
    bad = tmp_path / "allowlist.yaml"
    bad.write_text("accepted: [1]\n")
    with pytest.raises(AllowlistError, match=str(bad)):
        load(bad)
