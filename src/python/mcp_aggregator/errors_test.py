"""The error hierarchy: one root, outcomes a metric can carry, codes clients already know."""

from __future__ import annotations

import inspect
from typing import get_args

import pytest

from mcp_aggregator import errors
from mcp_aggregator.config import parse_upstreams
from mcp_aggregator.errors import AggregatorError, AggregatorException, ConfigError, Outcome
from mcp_common import errors as common_errors

_CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if cls.__module__ == errors.__name__
]


def test_every_error_of_the_package_has_one_root() -> None:
    assert len(_CLASSES) > 20
    assert all(issubclass(cls, AggregatorException) for cls in _CLASSES)


def test_every_request_error_has_an_outcome_the_metric_documents() -> None:
    outcomes = set(get_args(Outcome))
    for cls in _CLASSES:
        if issubclass(cls, AggregatorError):
            assert cls.outcome in outcomes, cls


def test_tool_result_codes_are_the_platform_codes() -> None:
    own = {"tool_quarantined"}  # the aggregator's alone: only it checks pins
    for cls in _CLASSES:
        if issubclass(cls, errors.ToolResultError):
            assert cls.code in common_errors.ERROR_CODES or cls.code in own, cls


def test_request_errors_answer_with_distinct_jsonrpc_codes_and_statuses() -> None:
    assert errors.AccessDenied("no", scopes=()).http_status == 403
    assert errors.AccessDenied.jsonrpc_code == errors.ACCESS_DENIED == -32003
    assert errors.SessionGone("gone").http_status == 404
    assert errors.SessionGone.jsonrpc_code == errors.SESSION_NOT_FOUND == -32001
    assert errors.UnknownTarget("x").jsonrpc_code == errors.INVALID_PARAMS
    assert errors.NotSupported("x").jsonrpc_code == errors.METHOD_NOT_FOUND
    assert errors.ParseError("x", http_status=400).http_status == 400
    assert errors.AnswerUndelivered("x").http_status == 502
    assert errors.AnswerUndelivered.code == "upstream_unavailable"
    assert errors.UnknownRequest("x").http_status == 404
    assert errors.UnknownRequest.code == "unknown_request"


def test_an_unavailable_upstream_error_names_its_upstream() -> None:
    error = errors.UpstreamUnavailable("down", upstream="tickets")
    assert error.upstream == "tickets"
    assert error.outcome == "upstream_unavailable"
    assert errors.UpstreamTimeout("slow").outcome == "timeout"


def test_a_broken_registry_raises_the_hierarchys_config_error() -> None:
    with pytest.raises(AggregatorException, match="non-empty list") as caught:
        parse_upstreams({"static_resources": {"clusters": []}})
    assert isinstance(caught.value, ConfigError)
