"""Client session ids: who may present one, what rides in it, and which replica can open it.

(sealing_test covers the basics: another principal, forged strings, a changed capability.)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mcp_aggregator.sealing import Sealer, new_key
from mcp_aggregator.sessions import SessionCodec
from mcp_common.auth import Principal

ALICE = Principal(
    subject="sub-alice",
    tenant_id="tenant-1",
    object_id="oid-alice",
    app_id="app-assistant",
    scopes=frozenset({"mcp.access"}),
    expires_at=1_000.0,
)
UPSTREAMS = {"tickets": "tickets-session-1", "data": "data-session-9"}


def _replicas(tmp_path: Path) -> tuple[SessionCodec, SessionCodec]:
    """Two replicas sharing a session keys file, as a deployment runs them."""
    keys = tmp_path / "session-keys"
    keys.write_text(new_key() + "\n")
    return SessionCodec(Sealer.from_file(keys)), SessionCodec(Sealer.from_file(keys))


def test_the_same_caller_with_a_renewed_token_keeps_its_session() -> None:
    codec = SessionCodec(Sealer.ephemeral())
    renewed = replace(ALICE, expires_at=5_000.0, scopes=frozenset({"mcp.access", "extra"}))
    for session_id in (codec.issue(ALICE), codec.issue(ALICE, UPSTREAMS)):
        assert codec.open(session_id, renewed) is not None


@pytest.mark.parametrize(
    "other",
    [
        replace(ALICE, app_id="app-other"),
        replace(ALICE, tenant_id="tenant-2"),
        replace(ALICE, object_id="oid-bob"),
    ],
    ids=["same user through another app", "same oid in another tenant", "another user"],
)
def test_the_session_is_bound_to_tenant_user_and_app(other: Principal) -> None:
    codec = SessionCodec(Sealer.ephemeral())
    for session_id in (codec.issue(ALICE), codec.issue(ALICE, UPSTREAMS)):
        assert codec.open(session_id, other) is None


def test_any_replica_opens_a_session_issued_by_another(tmp_path: Path) -> None:
    first, second = _replicas(tmp_path)
    sealed = second.open(first.issue(ALICE, UPSTREAMS, frozenset({"sampling"})), ALICE)
    assert sealed is not None
    assert (sealed.upstreams, sealed.capabilities) == (UPSTREAMS, frozenset({"sampling"}))
    # Without session-based upstreams nothing is shared: even a replica with other keys opens it.
    plain = SessionCodec(Sealer.ephemeral()).open(
        first.issue(ALICE, {}, frozenset({"roots"})), ALICE
    )
    assert plain is not None
    assert (plain.upstreams, plain.capabilities) == ({}, frozenset({"roots"}))


def test_a_replica_with_other_keys_cannot_continue_upstream_sessions(tmp_path: Path) -> None:
    first, _ = _replicas(tmp_path)
    assert SessionCodec(Sealer.ephemeral()).open(first.issue(ALICE, UPSTREAMS), ALICE) is None


def test_capabilities_ride_in_the_id_whatever_order_they_were_declared_in() -> None:
    codec = SessionCodec(Sealer.ephemeral())
    declared = frozenset({"sampling", "roots", "elicitation"})
    session_id = codec.issue(ALICE, capabilities=declared)
    assert session_id.endswith(".elicitation+roots+sampling")
    opened = codec.open(session_id, ALICE)
    assert opened is not None
    assert opened.capabilities == declared


def test_capabilities_cannot_be_added_or_dropped_by_the_client() -> None:
    codec = SessionCodec(Sealer.ephemeral())
    without = codec.issue(ALICE)
    with_sampling = codec.issue(ALICE, capabilities=frozenset({"sampling"}))
    assert codec.open(without + ".sampling", ALICE) is None
    assert codec.open(with_sampling.removesuffix(".sampling"), ALICE) is None
    assert codec.open(with_sampling + "+roots", ALICE) is None


def test_every_id_is_a_valid_header_value_and_unique() -> None:
    # The spec allows visible ASCII only (0x21-0x7E) in Mcp-Session-Id.
    codec = SessionCodec(Sealer.ephemeral())
    ids = [codec.issue(ALICE) for _ in range(20)]
    ids += [codec.issue(ALICE, UPSTREAMS, frozenset({"sampling", "roots"})) for _ in range(20)]
    assert all(session_id and all(0x21 <= ord(c) <= 0x7E for c in session_id) for session_id in ids)
    assert len(set(ids)) == len(ids)
