"""The checked-in contract file and where the update command writes it."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from mcp_client.compat import parse_contract

CONTRACT_FILE = "contract.json"
REPO_PATH = Path("tests/contract") / CONTRACT_FILE
UPDATE_COMMAND = "./pants run tests/contract:update"


def published_contract() -> dict[str, Any]:
    """The contract as checked in (read as a package resource, so it works in any sandbox)."""
    text = importlib.resources.files("contract").joinpath(CONTRACT_FILE).read_text()
    return parse_contract(text, str(REPO_PATH))


def repository_file(start: Path) -> Path:
    """`tests/contract/contract.json` in the repository holding `start` (its `pants.toml`).

    Raises:
        FileNotFoundError: `start` is not inside the repository.
    """
    for directory in (start, *start.parents):
        if (directory / "pants.toml").is_file():
            return directory / REPO_PATH
    raise FileNotFoundError(f"no pants.toml in {start} or above; pass --output")
