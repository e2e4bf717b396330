"""Sealed tokens and client session ids: what opens, and everything that must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_aggregator.errors import ConfigError
from mcp_aggregator.sealing import Sealer, new_key
from mcp_aggregator.sessions import SessionCodec
from mcp_common.auth import Principal


def _principal(oid: str) -> Principal:
    return Principal(subject=oid, object_id=oid, tenant_id="tenant", app_id="app")


def _keys(tmp_path: Path, *keys: str) -> Path:
    path = tmp_path / "keys"
    path.write_text("# session keys\n" + "\n".join(keys) + "\n")
    return path


def test_a_token_opens_only_for_its_context_and_keyring(tmp_path: Path) -> None:
    sealer = Sealer.from_file(_keys(tmp_path, new_key()))
    token = sealer.seal({"u": "everything", "s": "abc"}, "alice")
    assert sealer.open(token, "alice") == {"u": "everything", "s": "abc"}
    assert sealer.open(token, "bob") is None
    assert Sealer.ephemeral().open(token, "alice") is None
    assert "abc" not in token  # the upstream's session id is not readable


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2],
        lambda t: t[:10],
        lambda t: ("B" if t.startswith("A") else "A") + t[1:],
        lambda t: "!" * 20,
        lambda t: "",
        lambda t: t * 40,
    ],
)
def test_an_altered_or_foreign_token_does_not_open(mangle: object) -> None:
    sealer = Sealer.ephemeral()
    token = sealer.seal({"x": 1}, "alice")
    assert callable(mangle)
    assert sealer.open(mangle(token), "alice") is None


def test_rotation_seals_with_the_first_key_and_opens_with_any(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    before = Sealer.from_file(_keys(tmp_path, old))
    during = Sealer.from_file(_keys(tmp_path, new, old))
    after = Sealer.from_file(_keys(tmp_path, new))
    issued_before = before.seal({"v": 1}, "alice")
    assert during.open(issued_before, "alice") == {"v": 1}
    issued_during = during.seal({"v": 2}, "alice")
    assert after.open(issued_during, "alice") == {"v": 2}
    assert after.open(issued_before, "alice") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no key"),
        ("# only a comment\n", "no key"),
        ("not base64!!\n", ":1: not base64url"),
        ("c2hvcnQ\n", "must be 32 bytes"),
    ],
)
def test_a_bad_keys_file_is_refused_naming_the_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Sealer.from_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        Sealer.from_file(tmp_path / "missing")


def test_client_session_ids_are_bound_to_their_principal() -> None:
    codec = SessionCodec(Sealer.ephemeral())
    alice, bob = _principal("alice"), _principal("bob")
    plain = codec.issue(alice)
    sealed = codec.issue(alice, {"everything": "upstream-session"}, frozenset({"sampling"}))
    assert sealed.startswith("s1.")
    assert "upstream-session" not in sealed
    opened = codec.open(sealed, alice)
    assert opened is not None
    assert opened.upstreams == {"everything": "upstream-session"}
    assert opened.capabilities == {"sampling"}
    assert codec.open(plain, alice) is not None
    for session_id in (plain, sealed):
        assert codec.open(session_id, bob) is None
    altered = plain[:-1] + ("1" if plain.endswith("0") else "0")
    for forged in ("", "s1.", "s1.garbage", "x" * 65, altered, "a" * 32 + "." + "b" * 32):
        assert codec.open(forged, alice) is None
    # Two sessions of one principal are told apart by their nonce.
    assert codec.open(codec.issue(alice, {"e": "s"}), alice).nonce != opened.nonce  # type: ignore[union-attr]


def test_a_session_with_no_upstream_session_keeps_the_declared_capabilities() -> None:
    codec = SessionCodec(Sealer.ephemeral())
    alice, bob = _principal("alice"), _principal("bob")
    session_id = codec.issue(alice, {}, frozenset({"sampling", "roots"}))
    opened = codec.open(session_id, alice)
    assert opened is not None
    assert opened.capabilities == {"sampling", "roots"}
    assert codec.open(session_id, bob) is None
    # The capabilities are covered by the binding: changing them makes the id unknown.
    assert codec.open(session_id.replace("roots", "elicitation"), alice) is None
    plain = codec.open(codec.issue(alice), alice)
    assert plain is not None
    assert plain.capabilities == frozenset()
