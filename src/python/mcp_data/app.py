"""Builds the data MCP server's ASGI app."""

from __future__ import annotations

from starlette.types import ASGIApp

from mcp_common.database import Database
from mcp_common.domain import build_domain_app
from mcp_data import VERSION
from mcp_data.api import build_api
from mcp_data.catalog import DatasetCatalog, load_catalog
from mcp_data.settings import DataSettings
from mcp_data.store import DatasetStore
from mcp_data.tools import build_tools


def instructions(catalog: DatasetCatalog) -> str:
    return (
        f"Analytics datasets ({', '.join(catalog.names)}). query_data returns the rows of one "
        "dataset that match typed filters; its description lists each dataset's columns."
    )


def build_app(settings: DataSettings) -> ASGIApp:
    """The data server's app.

    Raises:
        CatalogError: when the datasets file cannot be read or is invalid.
    """
    catalog = load_catalog(settings.datasets_file)
    store = DatasetStore(catalog)
    database = Database(settings.database_url, store.metadata, store.seed)
    return build_domain_app(
        settings,
        domain="data",
        version=VERSION,
        instructions=instructions(catalog),
        tools=lambda api: build_tools(api, catalog),
        reference_api=lambda db: build_api(db, store),
        database=database,
    )
