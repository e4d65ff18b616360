"""Schema migrations: an empty file upgrades to the latest version; running again is a no-op;
each step runs as a whole script; a file newer than the code is refused; a file that holds
data is copied before it is migrated."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from importlib import resources
from pathlib import Path

import aiosqlite
import pytest

from bot import cli
from bot.organisation import parse_organisation
from storage import migrations, org, outbox
from storage.db import Database, DatabaseUnavailable
from storage.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version, statements


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


async def _migrated_to(path: Path, version: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database file as an older Whistle left it: the steps up to `version`."""
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", [s for s in MIGRATIONS if s[0] <= version])
        async with aiosqlite.connect(path, isolation_level=None) as conn:
            await migrations.migrate(conn)


def _names(folder: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in folder.glob(pattern))


def _version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as check:
        return int(check.execute("PRAGMA user_version").fetchone()[0])


async def test_a_step_with_a_trigger_and_semicolons_in_strings_runs_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step is a script: a trigger's body and a string may hold semicolons (the old
    runner split on every ';' and sent SQLite half a trigger)."""
    step = """
        CREATE TABLE note (body TEXT NOT NULL DEFAULT 'a; b', copies INTEGER DEFAULT 0);
        -- a comment; with a semicolon
        CREATE TRIGGER note_copied AFTER INSERT ON note BEGIN
            UPDATE note SET copies = copies + 1 WHERE rowid = new.rowid;
            UPDATE note SET body = body || '; seen' WHERE rowid = new.rowid;
        END;
        INSERT INTO note (body) VALUES ('it''s; fine')
    """
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, (LATEST_VERSION + 1, step)])
    async with aiosqlite.connect(tmp_path / "script.db", isolation_level=None) as conn:
        assert await migrations.migrate(conn) == [*(v for v, _ in MIGRATIONS), LATEST_VERSION + 1]
        rows = await conn.execute_fetchall("SELECT body, copies FROM note")
    assert [tuple(r) for r in rows] == [("it's; fine; seen", 1)]


def test_statements_end_where_sqlite_says_a_statement_ends() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';');\n\nINSERT INTO a VALUES ('b;c');\n"
    assert statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "INSERT INTO a VALUES ('b;c');",
    ]


async def test_a_step_that_fails_after_a_trigger_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = """
        CREATE TABLE note (body TEXT);
        CREATE TRIGGER note_kept AFTER INSERT ON note BEGIN SELECT 1; END;
        THIS IS NOT SQL;
    """
    path = tmp_path / "half.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, (LATEST_VERSION + 1, step)])
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        with pytest.raises(sqlite3.OperationalError):
            await migrations.migrate(conn)
        names = await conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE name IN ('note', 'note_kept')"
        )
    assert list(names) == []
    assert _version(path) == LATEST_VERSION


async def test_a_database_newer_than_the_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    async with Database(path):
        pass
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
        before = list(conn.iterdump())
    with pytest.raises(DatabaseUnavailable) as refused:
        await Database(path).open()
    message = str(refused.value)
    assert "\n" not in message
    assert f"version {LATEST_VERSION + 1}" in message and str(path) in message
    assert _version(path) == LATEST_VERSION + 1
    with closing(sqlite3.connect(path)) as conn:
        assert list(conn.iterdump()) == before
    assert _names(tmp_path, "future.db.before-*") == []


def test_every_command_refuses_a_newer_database_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "future.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WHISTLE_DATABASE", str(path))
    for argv in (["stats"], ["people", "list"], ["backup", str(tmp_path / "copy.db")]):
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "newer than this Whistle" in err, (argv, err)
    assert _version(path) == LATEST_VERSION + 1


async def test_a_database_with_data_is_copied_before_it_is_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "whistle.db"
    previous = MIGRATIONS[-2][0]
    await _migrated_to(path, previous, monkeypatch)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO person (user_id, name, created_at) VALUES (2001, '李', 1)")
    async with Database(path) as db:
        copy = db.copy_before_migrating()
    assert copy == tmp_path / f"whistle.db.before-v{LATEST_VERSION}"
    assert _version(copy) == previous
    assert _version(path) == LATEST_VERSION
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT name FROM person").fetchall() == [("李",)]
    assert _names(tmp_path, "*.partial") == []


async def test_a_new_or_current_database_is_not_copied(tmp_path: Path) -> None:
    path = tmp_path / "whistle.db"
    async with Database(path):
        pass
    async with Database(path):
        pass
    assert _names(tmp_path, "*.before-*") == []


async def test_an_earlier_copy_is_kept_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "whistle.db"
    await _migrated_to(path, LATEST_VERSION - 1, monkeypatch)
    copy = tmp_path / f"whistle.db.before-v{LATEST_VERSION}"
    copy.write_bytes(b"the older copy")
    async with Database(path):
        pass
    assert copy.read_bytes() == b"the older copy"


async def test_a_retired_category_keeps_its_business_hours(tmp_path: Path) -> None:
    """A category rebuilt from the database (retired, or an old issue's) keeps
    `business_hours`, so its deadlines still count working time, not calendar time."""
    text = (resources.files("bot") / "data" / "district.toml").read_text(encoding="utf-8")
    text = text.replace('code = "sanitation"\n', 'code = "sanitation"\nbusiness_hours = true\n')
    district = parse_organisation(text)
    assert district.categories["sanitation"].business_hours
    without = dataclasses.replace(
        district,
        categories={c: v for c, v in district.categories.items() if c != "sanitation"},
    )
    async with Database(tmp_path / "org.db") as db:
        async with db.write() as tx:
            await org.store_organisation(tx, district, text, 1)
        async with db.write() as tx:
            summary = await org.store_organisation(tx, without, text + "\n", 2)
        assert "category sanitation" in summary.retired
        rebuilt = await org.category_rules(db.reader, "sanitation")
        plain = await org.category_rules(db.reader, "street_vending")
    assert rebuilt is not None and rebuilt.business_hours
    assert rebuilt == district.categories["sanitation"]
    assert plain is not None and not plain.business_hours


async def test_reimporting_the_same_file_after_the_business_hours_step_changes_nothing(
    tmp_path: Path,
) -> None:
    text = (resources.files("bot") / "data" / "district.toml").read_text(encoding="utf-8")
    district = parse_organisation(text)
    async with Database(tmp_path / "org.db") as db:
        async with db.write() as tx:
            await org.store_organisation(tx, district, text, 1)
        async with db.write() as tx:
            again = await org.store_organisation(tx, district, text, 2)
    assert again.unchanged
