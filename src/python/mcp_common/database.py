"""The embedded store of a domain's reference API: SQLAlchemy async over SQLite or PostgreSQL.

SQLite (the default, a file under `var/`) needs nothing installed and keeps a single-replica or
laptop deployment durable: WAL journal with `synchronous=FULL`, so a committed write survives a
crash. PostgreSQL (`postgresql+asyncpg://...`) is for deployments with more than one replica.

Start-up creates the tables and seeds demo data. Both are safe when replicas start together:
seed rows have fixed keys, so a second seeder's insert fails on the key and is ignored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)

Seeder = Callable[[AsyncConnection], Awaitable[None]]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One database: its engine, schema and seed data. Use `lifespan()` around the app's life."""

    def __init__(self, url: str, metadata: MetaData, seed: Seeder | None = None) -> None:
        self.url = url
        self._metadata = metadata
        self._seed = seed
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the database is not open; enter Database.lifespan() first")
        return self._engine

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open the engine, create the schema, seed it; dispose of the engine on exit."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_pre_ping=True)
        if url.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self._engine = engine
        try:
            await self._create_schema()
            await self._run_seed()
            yield
        finally:
            self._engine = None
            await engine.dispose()

    async def _create_schema(self) -> None:
        # Replicas starting together can race on CREATE TABLE in PostgreSQL; the loser retries
        # and finds the tables there.
        for attempt in range(3):
            try:
                async with self.engine.begin() as connection:
                    await connection.run_sync(self._metadata.create_all)
                return
            except (IntegrityError, DBAPIError):
                if attempt == 2:
                    raise
                logger.info("schema creation raced another replica; retrying")

    async def _run_seed(self) -> None:
        seed = self._seed
        if seed is None:
            return
        try:
            async with self.engine.begin() as connection:
                await seed(connection)
        except IntegrityError:
            logger.info("demo data already seeded by another replica")

    async def check(self) -> None:
        """A readiness check: one round trip to the database."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
