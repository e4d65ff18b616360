"""Schema migrations: an empty file upgrades to the latest version; running again is a no-op."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import aiosqlite

from storage import outbox
from storage.db import Database
from storage.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version


async def test_an_empty_file_upgrades_to_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await schema_version(conn) == 0
        applied = await migrate(conn)
        assert applied == [v for v, _ in MIGRATIONS]
        assert await schema_version(conn) == LATEST_VERSION
        again = await migrate(conn)
        assert again == []
    with closing(sqlite3.connect(path)) as check:
        tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"issue", "issue_event", "outbox", "draft", "person", "role_grant"} <= tables


async def test_reopening_the_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    async with Database(path):
        pass
    with closing(sqlite3.connect(path)) as check:
        first = list(check.iterdump())
    async with Database(path) as db, db.write() as tx:
        cursor = await tx.execute("PRAGMA journal_mode")
        assert (await cursor.fetchone())[0] == "wal"  # type: ignore[index]
    with closing(sqlite3.connect(path)) as check:
        assert list(check.iterdump()) == first


async def test_a_failed_step_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    broken = [*MIGRATIONS, (LATEST_VERSION + 1, "CREATE TABLE extra (x); THIS IS NOT SQL")]
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn)
        from storage import migrations

        original = migrations.MIGRATIONS
        migrations.MIGRATIONS = broken
        try:
            try:
                await migrations.migrate(conn)
            except sqlite3.OperationalError:
                pass
            else:
                raise AssertionError("the broken step applied")
        finally:
            migrations.MIGRATIONS = original
        assert await schema_version(conn) == LATEST_VERSION
        cursor = await conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'")
        assert await cursor.fetchone() is None


async def test_grants_survive_the_move_to_one_row_per_source(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    from storage import migrations

    original = migrations.MIGRATIONS
    migrations.MIGRATIONS = [step for step in original if step[0] <= 4]
    try:
        async with aiosqlite.connect(path, isolation_level=None) as conn:
            await migrations.migrate(conn)
            await conn.execute("INSERT INTO person (user_id, created_at) VALUES (3001, 1)")
            await conn.execute(
                "INSERT INTO role_grant (user_id, role, scope, source, granted_at) "
                "VALUES (3001, 'admin', '', 'settings', 1)"
            )
    finally:
        migrations.MIGRATIONS = original
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn) == [v for v, _ in MIGRATIONS if v > 4]
        await conn.execute(
            "INSERT INTO role_grant (user_id, role, scope, source, granted_at) "
            "VALUES (3001, 'admin', '', 'org', 2)"
        )
        cursor = await conn.execute("SELECT source FROM role_grant ORDER BY source")
        assert [r[0] for r in await cursor.fetchall()] == ["org", "settings"]


async def test_what_every_state_change_reads_of_the_outbox_uses_an_index(
    tmp_path: Path,
) -> None:
    """The outbox keeps every message ever sent, so it only grows: what a state change
    and the sender read of it must be looked up by index, never by reading it all (a scan
    cost 12 ms at 77,000 rows, inside the write transaction every other change waits
    for)."""
    statements: list[str] = []
    async with Database(tmp_path / "plans.db") as db:
        await db.reader.set_trace_callback(statements.append)
        await outbox.push_chats(db.reader, 1)
        await outbox.next_batch(db.reader, 0, 10, per_chat=8)
        await db.reader.set_trace_callback(None)
        assert statements
        for statement in statements:
            cursor = await db.reader.execute(f"EXPLAIN QUERY PLAN {statement}")
            plan = [row[3] for row in await cursor.fetchall()]
            assert not [step for step in plan if step.startswith("SCAN outbox")], (
                statement,
                plan,
            )
