"""The embedded store of a domain's reference API: SQLAlchemy async over SQLite or PostgreSQL.

SQLite (the default, a file under `var/`) needs nothing installed and keeps a single-replica or
laptop deployment durable: WAL journal with `synchronous=FULL`, so a committed write survives a
crash. PostgreSQL (`postgresql+asyncpg://...`) is for deployments with more than one replica.

Start-up creates the tables and seeds demo data. Both are safe when replicas start together:
seed rows have fixed keys, so a second seeder's insert fails on the key and is ignored.

Reads go through `read()`. On PostgreSQL that is an async connection. On a SQLite file it is
a plain (synchronous) sqlite3 connection used on the event loop itself: the async driver runs
every step of a query (cursor, execute, fetch, close, rollback) on its own thread, and those
hand-offs cost far more CPU than reading a few rows of a local file. A read there blocks the
loop for as long as the query runs, which suits this store (a laptop or single-replica demo of
small tables); writes, which wait for the disk, stay on the async driver's thread. The reads
share one connection, kept open for the app's life (a pool checkout and return per read cost
about a third of a small query); it runs no transaction between reads (the driver begins one
only for writes), so every read sees what was committed before it started.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Executable,
    MetaData,
    create_engine,
    event,
    text,
)
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


class InlineConnection:
    """`AsyncConnection.execute` over a synchronous connection: the query runs right away."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        return self._connection.execute(statement, parameters)


ReadConnection = AsyncConnection | InlineConnection
"""What `Database.read()` gives: `await connection.execute(statement)` on either."""


class Database:
    """One database: its engine, schema and seed data. Use `lifespan()` around the app's life."""

    def __init__(self, url: str, metadata: MetaData, seed: Seeder | None = None) -> None:
        self.url = url
        self._metadata = metadata
        self._seed = seed
        self._engine: AsyncEngine | None = None
        self._reader: Engine | None = None
        self._shared_read: Connection | None = None
        self._shared_read_busy = False

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
        sqlite = url.get_backend_name() == "sqlite"
        # A ping before each checkout finds connections a server dropped; a file cannot drop
        # one, and for SQLite the ping was one more round trip to the driver's thread per call.
        engine = create_async_engine(url, pool_pre_ping=not sqlite)
        reader = None
        if sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if sqlite and url.database not in (None, "", ":memory:"):
            # The same file through the standard library's driver, for reads on the loop (an
            # in-memory database exists only in the async driver's one connection).
            reader = create_engine(url.set(drivername="sqlite+pysqlite"))
            event.listen(reader, "connect", _sqlite_pragmas)
        self._engine = engine
        try:
            await self._create_schema()
            await self._run_seed()
            self._reader = reader
            if reader is not None:
                self._shared_read = reader.connect()
            yield
        finally:
            self._reader = None
            self._engine = None
            if self._shared_read is not None:
                self._shared_read.close()
                self._shared_read = None
            if reader is not None:
                reader.dispose()
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[ReadConnection]:
        """A connection for reads (see the module docstring); not for writes."""
        if self._reader is None:
            async with self.engine.connect() as connection:
                yield connection
            return
        shared = self._shared_read
        if shared is None or self._shared_read_busy:
            # A read that awaits something else while it holds the shared connection lets
            # another read start: that one gets a connection of its own.
            with self._reader.connect() as connection:
                yield InlineConnection(connection)
            return
        self._shared_read_busy = True
        try:
            yield InlineConnection(shared)
        finally:
            self._shared_read_busy = False
            shared.rollback()  # ends SQLAlchemy's transaction object; no snapshot is kept

    async def _create_schema(self) -> None:
        # Replicas starting together race on CREATE TABLE; the loser retries and finds the
        # tables there. In SQLite each CREATE commits on its own, so a loser can lose once per
        # table while the winner creates them one by one: retry more than there are tables,
        # waiting a little longer each time.
        attempts = len(self._metadata.tables) + 3
        for attempt in range(attempts):
            try:
                async with self.engine.begin() as connection:
                    await connection.run_sync(self._metadata.create_all)
                return
            except (IntegrityError, DBAPIError):
                if attempt == attempts - 1:
                    raise
                logger.info("schema creation raced another replica; retrying")
                await anyio.sleep(0.02 * (attempt + 1))

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
