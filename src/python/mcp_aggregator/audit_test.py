"""The audit trail: one JSON line per authorization decision, as a log collector receives it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

from mcp_aggregator.audit import audit_logger, record_decision
from mcp_common.auth import Principal
from mcp_common.logs import JsonFormatter

TOKEN = "eyJhbGciOiJSUzI1NiJ9.the-users-own-token.signature"
ALICE = Principal(
    subject="sub-alice",
    tenant_id="tenant-1",
    object_id="oid-alice",
    app_id="app-assistant",
    scopes=frozenset({"tickets.write"}),
    name="Alice Example",
    assertion=TOKEN,
)


@pytest.fixture
def audit_output(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the `mcp_aggregator.audit` logger writes through the JSON formatter, at emit time."""
    caplog.set_level(logging.INFO, logger=audit_logger.name)
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter("mcp-aggregator"))
    audit_logger.addHandler(handler)
    try:
        yield output
    finally:
        audit_logger.removeHandler(handler)


def _lines(output: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_a_denial_names_the_caller_the_target_and_the_decision(audit_output: io.StringIO) -> None:
    record_decision(ALICE, "tools", "create_ticket", allowed=False)
    [line] = _lines(audit_output)
    assert line["logger"] == "mcp_aggregator.audit", "routable to its own sink by logger name"
    assert line["message"] == "deny tools create_ticket for oid-alice"
    assert {key: line[key] for key in ("audit", "decision", "target_kind", "target")} == {
        "audit": "authorization",
        "decision": "deny",
        "target_kind": "tools",
        "target": "create_ticket",
    }
    assert (line["caller_oid"], line["caller_tid"], line["caller_app"]) == (
        "oid-alice",
        "tenant-1",
        "app-assistant",
    )


def test_the_line_never_carries_the_token_or_the_display_name(audit_output: io.StringIO) -> None:
    record_decision(ALICE, "resources", "db://{table}/rows", allowed=True)
    record_decision(ALICE, "prompts", "greeting", allowed=False)
    written = audit_output.getvalue()
    assert len(_lines(audit_output)) == 2
    assert TOKEN not in written
    assert "the-users-own-token" not in written
    assert "Alice Example" not in written


def test_an_allowed_call_is_audited_with_the_requests_trace_id(audit_output: io.StringIO) -> None:
    context = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    with trace.use_span(trace.NonRecordingSpan(context)):
        record_decision(ALICE, "tools", "list_tickets", allowed=True)
    [line] = _lines(audit_output)
    assert line["decision"] == "allow"
    assert line["message"] == "allow tools list_tickets for oid-alice"
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_a_caller_without_an_object_id_is_named_by_its_subject(audit_output: io.StringIO) -> None:
    robot = Principal(subject="sub-robot", tenant_id="tenant-1", app_id="app-robot")
    record_decision(robot, "tools", "delete_user", allowed=False)
    [line] = _lines(audit_output)
    assert line["message"] == "deny tools delete_user for sub-robot"
    assert (line["caller_oid"], line["caller_app"]) == ("", "app-robot")
