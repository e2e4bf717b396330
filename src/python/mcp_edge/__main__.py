"""`python -m mcp_edge VALUES.yaml [OUT.yaml]`: render the edge's Envoy bootstrap.

Exit codes: 0 written, 2 the values are invalid (the message names the value).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from mcp_edge.envoy import render
from mcp_edge.values import EdgeValues, EdgeValuesError

HEADER = "# Rendered by `python -m mcp_edge` from edge values; do not edit by hand.\n"


def render_file(values_path: Path) -> str:
    """The rendered bootstrap (YAML text) for the values in `values_path`.

    Raises:
        EdgeValuesError: the values are invalid.
    """
    values = yaml.safe_load(values_path.read_text()) or {}
    if not isinstance(values, dict):
        raise EdgeValuesError(f"{values_path}: expected a mapping of edge values")
    rendered: str = yaml.safe_dump(render(EdgeValues.from_mapping(values)), sort_keys=False)
    return HEADER + rendered


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = render_file(Path(argv[0]))
    except (EdgeValuesError, OSError, yaml.YAMLError) as exc:
        print(f"mcp_edge: {exc}", file=sys.stderr)
        return 2
    if len(argv) == 2:
        Path(argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
