"""The reference REST API of the analytics datasets.

Its OpenAPI document (`/openapi.json`) is the contract a real analytics backend implements for
the data MCP server; the server talks to whichever is configured only through this contract.

A query the caller got wrong answers 400 with a `detail` naming what is allowed: an unknown
dataset ("unknown dataset 'x'; known: sales, tickets, users, web_traffic"), an unknown column, a value of the
wrong type, an operator that does not apply. Unknown datasets are 400, not 404, on purpose:
the dataset is an argument of the query, and the tool reports all of these the same way
(`invalid_argument`). A dataset with `roles` answers a person's token (a delegated one, e.g.
the data MCP server's on-behalf-of token for them) without one of them 403, naming the roles.
A malformed body (a `limit` out of range, an unknown field) is FastAPI's
422, which the tool reports as `invalid_argument` too.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request

from mcp_common.database import Database
from mcp_common.errors import Forbidden, InvalidArgument
from mcp_common.guard import principal_of
from mcp_data import VERSION
from mcp_data.backend import EmbeddedDatasets
from mcp_data.models import DatasetList, QueryRequest, QueryResult
from mcp_data.store import DatasetStore


def build_api(database: Database, store: DatasetStore) -> FastAPI:
    """The datasets API over `database` (opened by the caller's lifespan) and `store`'s tables."""
    api = FastAPI(title="Analytics datasets API", version=VERSION)
    datasets = EmbeddedDatasets(database, store)

    @api.get("/health")
    async def health() -> dict[str, str]:
        await database.check()
        return {"status": "ok"}

    @api.get("/datasets", response_model=DatasetList)
    async def list_datasets() -> DatasetList:
        return DatasetList(datasets=store.describe())

    @api.post(
        "/datasets/{name}/query",
        response_model=QueryResult,
        responses={
            400: {"description": "Unknown dataset or column, or a filter that does not fit"},
            403: {"description": "The dataset needs a role the person does not hold"},
        },
    )
    async def query(name: str, body: QueryRequest, request: Request) -> QueryResult:
        principal = principal_of(request.scope)
        try:
            if principal.authenticated and principal.scopes:
                store.catalog.dataset(name).check_access(principal.roles)
            return await datasets.query(name, body.filters, body.limit)
        except InvalidArgument as exc:
            raise HTTPException(400, detail=exc.message) from exc
        except Forbidden as exc:
            raise HTTPException(403, detail=exc.message) from exc

    return api
