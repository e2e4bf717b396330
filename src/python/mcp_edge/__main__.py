"""`python -m mcp_edge VALUES.yaml [OUT.yaml [SDS.yaml]]`: render the edge's Envoy bootstrap.

The bootstrap reads the edge's certificate through an SDS document at the values'
`tls.sdsConfigFile`; SDS.yaml gets that document (write it there, or point `tls.sdsConfigFile`
at where it is). Without OUT.yaml the bootstrap goes to standard output.

Exit codes: 0 written, 2 the values are invalid (the message names the value).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from mcp_edge.envoy import render, render_certificate_sds
from mcp_edge.values import EdgeValues, EdgeValuesError

HEADER = "# Rendered by `python -m mcp_edge` from edge values; do not edit by hand.\n"


def read_values(values_path: Path) -> EdgeValues:
    """The edge values in `values_path`.

    Raises:
        EdgeValuesError: the values are invalid.
    """
    values = yaml.safe_load(values_path.read_text()) or {}
    if not isinstance(values, dict):
        raise EdgeValuesError(f"{values_path}: expected a mapping of edge values")
    return EdgeValues.from_mapping(values)


def render_file(values_path: Path) -> str:
    """The rendered bootstrap (YAML text) for the values in `values_path`.

    Raises:
        EdgeValuesError: the values are invalid.
    """
    rendered: str = yaml.safe_dump(render(read_values(values_path)), sort_keys=False)
    return HEADER + rendered


def render_sds_file(values_path: Path) -> str:
    """The certificate's SDS document (YAML text) for the values in `values_path`.

    Raises:
        EdgeValuesError: the values are invalid.
    """
    rendered: str = yaml.safe_dump(
        render_certificate_sds(read_values(values_path)), sort_keys=False
    )
    return HEADER + rendered


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = render_file(Path(argv[0]))
        sds = render_sds_file(Path(argv[0])) if len(argv) == 3 else None
    except (EdgeValuesError, OSError, yaml.YAMLError) as exc:
        print(f"mcp_edge: {exc}", file=sys.stderr)
        return 2
    if len(argv) >= 2:
        Path(argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
    if sds is not None:
        Path(argv[2]).write_text(sds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
