"""The published contract: exactly these tools, valid schemas, and no breaking change.

The compatibility gate compares `contract.json` (checked in) with what the aggregator lists
now. A break fails naming each one; a compatible change passes with a warning that the file
can be updated (`./pants run tests/contract:update`). See README.md in this directory.
"""

from __future__ import annotations

import warnings

import pytest
from mcp.types import Tool

from contract.published import REPO_PATH, UPDATE_COMMAND, published_contract
from mcp_client.compat import breaking, compare, contract_of
from mcp_client.schema_check import check_tools


def test_the_tool_names_are_exactly_the_published_ones(live_tools: dict[str, Tool]) -> None:
    published = set(published_contract()["tools"])
    missing = sorted(published - live_tools.keys())
    unpublished = sorted(live_tools.keys() - published)
    assert not missing, f"published tools the aggregator does not list: {missing}"
    assert not unpublished, (
        f"tools listed but not published in {REPO_PATH}: {unpublished}; a new tool is a "
        f"compatible addition: publish it with {UPDATE_COMMAND}"
    )


def test_every_tool_has_valid_json_schemas(live_tools: dict[str, Tool]) -> None:
    problems = check_tools(list(live_tools.values()))
    assert not problems, "\n".join(str(problem) for problem in problems)


def test_the_live_tools_do_not_break_the_published_contract(
    live_tools: dict[str, Tool],
) -> None:
    changes = compare(published_contract(), contract_of(live_tools.values()))
    breaks = breaking(changes)
    if breaks:
        listed = "\n".join(f"  - {change}" for change in breaks)
        pytest.fail(
            f"the live tools break the published contract ({REPO_PATH}):\n{listed}\n"
            "Clients written against the contract would fail. Restore compatibility, or, for "
            f"a deliberate break announced to clients: {UPDATE_COMMAND} -- --allow-breaking",
            pytrace=False,
        )
    if changes:
        listed = "; ".join(str(change) for change in changes)
        warnings.warn(
            f"compatible changes not yet published in {REPO_PATH}: {listed}. "
            f"Publish them with {UPDATE_COMMAND}",
            stacklevel=1,
        )
