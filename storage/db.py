"""The SQLite database: one write connection behind a lock, one read connection beside it.

Writes go through `Database.write()`, a `BEGIN IMMEDIATE … COMMIT` transaction held
under an asyncio lock, so a state change, its event row and its outbox rows commit
together or not at all. Reads use a second connection and see committed data only.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import LATEST_VERSION, SchemaTooNew, migrate, schema_version

Params = Iterable[Any] | dict[str, Any]


class DatabaseUnavailable(Exception):
    """The database cannot be opened; the message says why in one line a person can act on."""


def missing_folder(path: Path) -> str:
    return f"the folder {path.parent} does not exist (WHISTLE_DATABASE={path})"


def _explain(path: Path, error: sqlite3.Error) -> str:
    if not path.parent.is_dir():
        return missing_folder(path)
    if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
        return f"{path} is not a SQLite database: give Whistle's database or a new file's name"
    return f"cannot open the database {path}: {error}"


def _try_open(path: Path) -> None:
    sqlite3.connect(path).close()


async def _connect(path: Path) -> aiosqlite.Connection:
    # An open that fails inside aiosqlite.connect leaves its thread to finish after the
    # event loop has closed (a traceback at exit): fail here first, in a plain thread.
    await asyncio.to_thread(_try_open, path)
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA busy_timeout = 5000")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        # aiosqlite runs each connection in its own (non-daemon) thread: one left open
        # keeps the process alive after the error.
        await conn.close()
        raise
    return conn


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open both connections and bring the schema up to date; on any failure close
        what was opened (a connection's thread would keep the process alive) and raise
        DatabaseUnavailable for what SQLite refused or a schema newer than this code."""
        try:
            self._writer = await _connect(self.path)
            version = await schema_version(self._writer)
            if version > LATEST_VERSION:
                raise SchemaTooNew(version)
            if 0 < version < LATEST_VERSION:
                await self._keep_a_copy()
            await self._writer.execute("PRAGMA journal_mode = WAL")
            await migrate(self._writer)
            self._reader = await _connect(self.path)
        except BaseException as error:
            await self.close()
            if isinstance(error, SchemaTooNew):
                raise DatabaseUnavailable(f"cannot use the database {self.path}: {error}") from None
            if isinstance(error, sqlite3.Error):
                raise DatabaseUnavailable(_explain(self.path, error)) from None
            raise

    def copy_before_migrating(self) -> Path:
        """Where the database is copied before a migration: beside it, named for the
        version the migration brings it to (`whistle.db.before-v11`)."""
        return self.path.with_name(f"{self.path.name}.before-v{LATEST_VERSION}")

    async def _keep_a_copy(self) -> None:
        """Copy a database that already holds a schema before migrating it, with the
        online backup API, so a step that goes wrong in a way the transaction cannot undo
        (a bug in the step itself) costs nothing. A copy of that name already there is
        kept: it is the older state. The copy is written under a temporary name first, so
        a crash never leaves a half copy that looks whole."""
        target = self.copy_before_migrating()
        if target.exists():
            return
        partial = target.with_name(target.name + ".partial")
        try:
            partial.unlink(missing_ok=True)
            await self.backup(partial)
            os.replace(partial, target)
        except (OSError, sqlite3.Error) as error:
            raise DatabaseUnavailable(
                f"cannot copy {self.path} to {target} before migrating it: {error}"
            ) from None

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    @asynccontextmanager
    async def one_statement(self) -> AsyncIterator[aiosqlite.Connection]:
        """The write connection for a block that runs exactly one statement: SQLite makes
        a single statement atomic by itself, so it needs no BEGIN … COMMIT, and it costs
        one trip to the connection's thread instead of three."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._lock:
            yield self._writer

    async def backup(self, target: Path) -> None:
        """A consistent copy of the live database, made with SQLite's online backup API."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        destination = sqlite3.connect(target, check_same_thread=False)
        try:
            async with self._lock:
                await self._writer.backup(destination)
        finally:
            destination.close()


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    """All rows, in one trip to the connection's thread (a cursor's execute, fetch and
    close would be three, each waiting its turn on a busy event loop)."""
    return list(await conn.execute_fetchall(sql, params))


async def fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Params = ()
) -> sqlite3.Row | None:
    """The first row of a query that yields at most one (by key, LIMIT 1 or an
    aggregate), in one trip to the connection's thread."""
    rows = await fetch_all(conn, sql, params)
    return rows[0] if rows else None
