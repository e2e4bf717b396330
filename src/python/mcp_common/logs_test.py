from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from mcp_common.logs import JsonFormatter, TextFormatter, configure_logging


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "test", "levelname": "INFO", "msg": message})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_current_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        line = JsonFormatter("svc").format(_record("hello %s"))
        context = span.get_span_context()
    entry = json.loads(line)
    assert entry["trace_id"] == f"{context.trace_id:032x}"
    assert entry["span_id"] == f"{context.span_id:016x}"
    assert entry["service"] == "svc"
    assert entry["level"] == "INFO"


def test_json_lines_have_no_trace_ids_outside_a_span_and_keep_extra_fields() -> None:
    entry = json.loads(JsonFormatter("svc").format(_record("x", tool="list_users")))
    assert "trace_id" not in entry
    assert entry["tool"] == "list_users"
    assert entry["message"] == "x"


def test_exceptions_are_one_json_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter("svc").format(record))
    assert "ValueError: boom" in entry["exception"]


def test_configure_logging_emits_json_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("svc", "INFO", "json")
    logging.getLogger("mcp_common.test").info("started %d", 3)
    logging.getLogger("mcp_common.test").debug("hidden")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["started 3"]


def test_text_format_shows_the_trace_id_inside_a_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        line = TextFormatter("%(message)s").format(_record("hi"))
        trace_id = f"{span.get_span_context().trace_id:032x}"
    assert line == f"hi trace={trace_id}"
