"""The analytics datasets as the tool sees them, over REST or in-process.

`RestDatasets` calls an analytics backend's REST API (the contract in `api.py`), as on AKS.
`EmbeddedDatasets` is the reference implementation's service layer over its own database: the
embedded REST API serves it, and the tool calls it directly when no `api_url` is configured
(no HTTP hop inside one process). Both answer the same bodies and fail the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

from mcp_common.database import Database
from mcp_common.rest import RestClient, path_segment
from mcp_data.filters import parse_filters
from mcp_data.models import FilterEntry, QueryResult
from mcp_data.store import DatasetStore


class Datasets(Protocol):
    async def query(self, dataset: str, filters: dict[str, FilterEntry], limit: int) -> QueryResult:
        """Raises: InvalidArgument (an unknown dataset or column, a filter that does not fit)."""
        ...


class RestDatasets:
    """An analytics backend behind its REST API."""

    def __init__(self, api: RestClient) -> None:
        self._api = api

    async def query(self, dataset: str, filters: dict[str, FilterEntry], limit: int) -> QueryResult:
        body: dict[str, Any] = {"filters": filters, "limit": limit}
        answer = await self._api.request(
            "POST", f"/datasets/{path_segment(dataset)}/query", json=body, idempotent=True
        )
        return QueryResult.model_validate(answer)


class EmbeddedDatasets:
    """The reference datasets of `store` over `database` (opened by the app's lifespan)."""

    def __init__(self, database: Database, store: DatasetStore) -> None:
        self._database = database
        self.store = store

    async def query(self, dataset: str, filters: dict[str, FilterEntry], limit: int) -> QueryResult:
        spec = self.store.catalog.dataset(dataset)
        conditions = parse_filters(spec, filters)
        async with self._database.read() as connection:
            return await self.store.query(connection, spec, conditions, limit)
