"""The dataset catalog: which datasets the data server offers, declared in a YAML file.

The package ships `datasets.yaml` (read with `pkgutil.get_data`, so it works inside a PEX);
`MCP_DATA_DATASETS_FILE` points at another file instead. The file is validated once at start:
a bad entry stops the server with a message naming the entry, never at the first query.

Dataset and column names become SQL identifiers (tables and columns), so they must match
`NAME_PATTERN`; filter *values* are always bound parameters (see `mcp_data.filters`).

A dataset may name `roles`: then only an end user holding one of those app roles may query
it (`forbidden` otherwise, naming the roles). The data tool checks the end user the call is
for (`mcp_common.caller.end_user`: a person's roles from their on-behalf-of token, or the
calling application's from the aggregator); the reference API checks a person's token too,
as a system of record deciding per user does. With no end user at all (auth=none, local
development) nothing is checked.
"""

from __future__ import annotations

import pkgutil
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mcp_common.errors import Forbidden, InvalidArgument

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_NAME = re.compile(NAME_PATTERN)

ColumnType = Literal["string", "integer", "number", "boolean", "date"]
# One `{row}` (the row number, 1..demo_rows), optionally zero-padded, amid literal text:
# `u-{row:04d}`. Nothing else in braces, so a pattern can only number rows.
_DEMO_PATTERN = re.compile(r"^[^{}]*\{row(:0?[1-9]d)?\}[^{}]*$")


class CatalogError(ValueError):
    """The datasets file cannot be read or breaks the catalog's rules."""


def _refuse_duplicates(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{kind} {name!r} is declared twice")
        seen.add(name)


class ColumnSpec(BaseModel):
    """One declared column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    type: ColumnType
    description: str = ""
    demo_values: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="string columns: the demo data picks from these."
    )
    demo_range: tuple[float, float] | None = Field(
        default=None, description="integer and number columns: demo data lies in [low, high]."
    )
    demo_pattern: str | None = Field(
        default=None,
        description="string columns: each row's value is this with `{row}` replaced by the row "
        "number (`u-{row:04d}` gives u-0001, u-0002, ...): unique values, like ids.",
    )

    @model_validator(mode="after")
    def _demo_hints_fit_the_type(self) -> ColumnSpec:
        if self.demo_values is not None and self.type != "string":
            raise ValueError(f"demo_values applies to string columns only, not {self.type}")
        if self.demo_pattern is not None:
            if self.type != "string":
                raise ValueError(f"demo_pattern applies to string columns only, not {self.type}")
            if self.demo_values is not None:
                raise ValueError("give demo_values or demo_pattern, not both")
            if not _DEMO_PATTERN.fullmatch(self.demo_pattern):
                raise ValueError(
                    "demo_pattern must hold one {row} or {row:0Nd} (e.g. u-{row:04d}) "
                    "and no other braces"
                )
        if self.demo_range is not None:
            if self.type not in ("integer", "number"):
                raise ValueError(
                    f"demo_range applies to integer and number columns, not {self.type}"
                )
            low, high = self.demo_range
            if low > high:
                raise ValueError("demo_range must be [low, high] with low <= high")
            if self.type == "integer" and not (low.is_integer() and high.is_integer()):
                raise ValueError("demo_range of an integer column must be whole numbers")
        return self


class DatasetSpec(BaseModel):
    """One declared dataset: its table's columns and how much demo data to seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=1)
    columns: tuple[ColumnSpec, ...] = Field(min_length=1, max_length=100)
    demo_rows: int = Field(default=300, ge=0, le=100_000)
    roles: tuple[str, ...] = Field(
        default=(),
        max_length=50,
        description="App roles of which a person needs one to query it; empty: anyone who may "
        "call query_data.",
    )

    @field_validator("roles")
    @classmethod
    def _roles_are_names(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        # An empty or blank entry would read as "open to anyone" to whoever edits the file.
        if any(not role.strip() for role in roles):
            raise ValueError("a role must be a non-empty app role name, e.g. Data.Sales.Read")
        _refuse_duplicates("role", list(roles))
        return roles

    @field_validator("columns")
    @classmethod
    def _column_names_are_unique(cls, columns: tuple[ColumnSpec, ...]) -> tuple[ColumnSpec, ...]:
        _refuse_duplicates("column", [column.name for column in columns])
        return columns

    def check_access(self, roles: Collection[str]) -> None:
        """Raises: Forbidden, naming the roles that open this dataset, when `roles` has none."""
        if self.roles and not set(self.roles) & set(roles):
            raise Forbidden(
                f"dataset {self.name!r} needs one of the roles {', '.join(self.roles)}; "
                f"the end user has {', '.join(sorted(roles)) or 'none'}"
            )

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> ColumnSpec:
        """The column called `name`.

        Raises:
            InvalidArgument: naming the dataset's columns when there is none of that name.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise InvalidArgument(
            f"unknown column {name!r} in dataset {self.name!r}; "
            f"columns: {', '.join(self.column_names)}"
        )


class DatasetCatalog(BaseModel):
    """Every declared dataset, in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: tuple[DatasetSpec, ...] = Field(min_length=1)

    @field_validator("datasets")
    @classmethod
    def _dataset_names_are_unique(
        cls, datasets: tuple[DatasetSpec, ...]
    ) -> tuple[DatasetSpec, ...]:
        _refuse_duplicates("dataset", [dataset.name for dataset in datasets])
        return datasets

    @property
    def names(self) -> list[str]:
        return sorted(dataset.name for dataset in self.datasets)

    def unknown_dataset(self, name: str) -> InvalidArgument:
        return InvalidArgument(f"unknown dataset {name!r}; known: {', '.join(self.names)}")

    def get(self, name: str) -> DatasetSpec | None:
        """The dataset called `name`, or None."""
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        return None

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset called `name`.

        Raises:
            InvalidArgument: naming the known datasets when there is none of that name.
        """
        dataset = self.get(name)
        if dataset is None:
            raise self.unknown_dataset(name)
        return dataset


def is_valid_name(name: str) -> bool:
    """Whether `name` can be a dataset or column name at all."""
    return _NAME.fullmatch(name) is not None


def _where(data: Any, loc: Sequence[int | str]) -> str:
    """A readable path to a bad entry, with the names of the datasets/columns on the way."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1]}[{key}]" if parts else f"[{key}]"]
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                parts[-1] += f" ({node['name']})"
        else:
            parts.append(key)
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "the file"


def parse_catalog(text: str | bytes, source: str) -> DatasetCatalog:
    """Parse and validate the YAML text of a datasets file; `source` names it in errors.

    Raises:
        CatalogError: naming each bad entry and what is allowed.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"datasets file {source} is not valid YAML: {exc}") from exc
    try:
        return DatasetCatalog.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        # A list whose entries failed is also "too short" once they are dropped: noise.
        inner = {error["loc"][:-1] for error in errors if error["loc"]}
        problems = [
            f"{_where(data, error['loc'])}: {error['msg']}"
            for error in errors
            if not (
                error["type"] == "too_short"
                and any(loc[: len(error["loc"])] == error["loc"] for loc in inner)
            )
        ]
        raise CatalogError(f"datasets file {source} is invalid: " + "; ".join(problems)) from exc


def load_catalog(path: str | None = None) -> DatasetCatalog:
    """The catalog from `path`, or the one shipped in this package when `path` is None.

    Raises:
        CatalogError: when the file cannot be read or is invalid.
    """
    if path is None:
        text = pkgutil.get_data(__package__ or "mcp_data", "datasets.yaml")
        if text is None:
            raise CatalogError("the packaged datasets.yaml cannot be loaded")
        return parse_catalog(text, "mcp_data/datasets.yaml (packaged)")
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogError(f"datasets file {path} cannot be read: {exc.strerror or exc}") from exc
    return parse_catalog(content, path)
