"""The datasets file: the packaged catalog, a custom one, and messages for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_common.errors import Forbidden, InvalidArgument
from mcp_data.catalog import CatalogError, load_catalog, parse_catalog
from mcp_data.demo import demo_rows

CUSTOM = """
datasets:
  - name: metrics
    description: Hourly service metrics.
    demo_rows: 12
    columns:
      - {name: service, type: string, demo_values: [api, web]}
      - {name: latency_ms, type: number, demo_range: [1, 250]}
"""


def test_the_packaged_catalog_declares_its_four_datasets() -> None:
    catalog = load_catalog()
    assert catalog.names == ["sales", "tickets", "users", "web_traffic"]
    sales = catalog.dataset("sales")
    assert [(c.name, c.type) for c in sales.columns] == [
        ("day", "date"),
        ("region", "string"),
        ("product", "string"),
        ("units", "integer"),
        ("revenue", "number"),
    ]
    assert [c.type for c in catalog.dataset("web_traffic").columns] == [
        "date",
        "string",
        "integer",
        "number",
        "boolean",
    ]


def test_a_custom_file_replaces_the_packaged_catalog(tmp_path: Path) -> None:
    path = tmp_path / "datasets.yaml"
    path.write_text(CUSTOM)
    catalog = load_catalog(str(path))
    assert catalog.names == ["metrics"]
    assert catalog.dataset("metrics").column("latency_ms").demo_range == (1.0, 250.0)


def test_lookups_name_what_exists() -> None:
    catalog = load_catalog()
    with pytest.raises(
        InvalidArgument,
        match=r"^unknown dataset 'orders'; known: sales, tickets, users, web_traffic$",
    ):
        catalog.dataset("orders")
    with pytest.raises(
        InvalidArgument,
        match=r"^unknown column 'price' in dataset 'sales'; columns: day, region, product, units, revenue$",
    ):
        catalog.dataset("sales").column("price")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CUSTOM.replace("type: number", "type: float"),
            "datasets[0] (metrics).columns[1] (latency_ms).type: Input should be 'string', "
            "'integer', 'number', 'boolean' or 'date'",
        ),
        (
            CUSTOM.replace("name: metrics", "name: Metrics-2024"),
            "datasets[0] (Metrics-2024).name: String should match pattern '^[a-z][a-z0-9_]{0,62}$'",
        ),
        (
            CUSTOM.replace("name: service", "name: service; drop table x"),
            "datasets[0] (metrics).columns[0] (service; drop table x).name: String should match",
        ),
        (
            CUSTOM.replace("name: latency_ms", "name: service"),
            "datasets[0] (metrics).columns: Value error, column 'service' is declared twice",
        ),
        (
            CUSTOM + CUSTOM.replace("datasets:", ""),
            "datasets: Value error, dataset 'metrics' is declared twice",
        ),
        (
            CUSTOM.replace("type: string", "type: integer"),
            "columns[0] (service): Value error, demo_values applies to string columns only, not integer",
        ),
        (
            CUSTOM.replace("[1, 250]", "[250, 1]"),
            "columns[1] (latency_ms): Value error, demo_range must be [low, high] with low <= high",
        ),
        (
            CUSTOM.replace("demo_rows: 12", "demo_rows: 12\n    owner: me"),
            "datasets[0] (metrics).owner: Extra inputs are not permitted",
        ),
        (
            CUSTOM.replace("demo_rows: 12", 'demo_rows: 12\n    roles: [Data.Read, " "]'),
            "datasets[0] (metrics).roles: Value error, a role must be a non-empty app role name",
        ),
        (
            CUSTOM.replace("demo_rows: 12", "demo_rows: 12\n    roles: [Data.Read, Data.Read]"),
            "datasets[0] (metrics).roles: Value error, role 'Data.Read' is declared twice",
        ),
        (
            CUSTOM.replace("demo_rows: 12", "demo_rows: 12\n    roles: Data.Read"),
            "datasets[0] (metrics).roles: Input should be a valid tuple",
        ),
        ("datasets: []", "datasets: Tuple should have at least 1 item"),
        ("- just a list", "the file: Input should be a valid dictionary"),
        ("datasets: [unclosed", "is not valid YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(str(path))
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"datasets file {path} is ")


def test_a_dataset_with_roles_opens_to_any_one_of_them_and_names_them_otherwise(
    tmp_path: Path,
) -> None:
    path = tmp_path / "datasets.yaml"
    path.write_text(
        CUSTOM.replace("demo_rows: 12", "demo_rows: 12\n    roles: [Ops.Read, Ops.Admin]")
    )
    metrics = load_catalog(str(path)).dataset("metrics")
    metrics.check_access({"Ops.Admin", "Other"})
    with pytest.raises(Forbidden) as caught:
        metrics.check_access({"Other"})
    assert caught.value.message == (
        "dataset 'metrics' needs one of the roles Ops.Read, Ops.Admin; the end user has Other"
    )
    with pytest.raises(Forbidden, match="the end user has none$"):
        metrics.check_access(set())
    # Without roles a dataset is open to whoever may call query_data.
    load_catalog().dataset("sales").check_access(set())


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        CatalogError, match="datasets file .*nope.yaml cannot be read: No such file"
    ):
        load_catalog(str(tmp_path / "nope.yaml"))


def test_demo_rows_are_deterministic_and_follow_the_declaration() -> None:
    catalog = parse_catalog(CUSTOM, "test")
    metrics = catalog.dataset("metrics")
    rows = demo_rows(metrics)
    assert rows == demo_rows(parse_catalog(CUSTOM, "again").dataset("metrics"))
    assert [row["_row_id"] for row in rows] == list(range(1, 13))
    assert {row["service"] for row in rows} <= {"api", "web"}
    assert all(1 <= float(str(row["latency_ms"])) <= 250 for row in rows)


def test_a_demo_pattern_numbers_the_rows_and_nothing_else() -> None:
    with_ids = CUSTOM.replace(
        "      - {name: service, type: string, demo_values: [api, web]}",
        "      - {name: service, type: string, demo_values: [api, web]}\n"
        "      - {name: host, type: string, demo_pattern: 'h-{row:03d}'}",
    )
    rows = demo_rows(parse_catalog(with_ids, "test").dataset("metrics"))
    assert [row["host"] for row in rows[:3]] == ["h-001", "h-002", "h-003"]
    for pattern in ("h-{row.__class__}", "{row}-{row}", "h-{0}", "plain"):
        with pytest.raises(CatalogError, match="demo_pattern must hold one"):
            parse_catalog(with_ids.replace("'h-{row:03d}'", repr(pattern)), "test")
