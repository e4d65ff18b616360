"""Departments, categories and grids as imported from the organisation file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite

from bot.organisation import Category, Organisation
from bot.records import Directory, ImportSummary
from storage.db import fetch_all, fetch_one
from storage.install import install_value, keep_install_value


async def _sync_table(
    conn: aiosqlite.Connection,
    table: str,
    wanted: dict[str, dict[str, Any]],
    now: int,
    summary: ImportSummary,
) -> None:
    """Upsert `wanted` rows (code → columns) into `table`; retire codes no longer wanted."""
    current = {r["code"]: r for r in await fetch_all(conn, f"SELECT * FROM {table}")}
    for code, columns in wanted.items():
        row = current.get(code)
        names = list(columns)
        if row is None:
            cols = ", ".join(["code", *names])
            marks = ", ".join("?" * (len(names) + 1))
            await conn.execute(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})", [code, *columns.values()]
            )
            summary.added.append(f"{table} {code}")
            continue
        differs = row["retired_at"] is not None or any(row[n] != columns[n] for n in names)
        if differs:
            assignments = ", ".join(f"{n} = ?" for n in names)
            await conn.execute(
                f"UPDATE {table} SET {assignments}, retired_at = NULL WHERE code = ?",
                [*columns.values(), code],
            )
            summary.changed.append(f"{table} {code}")
    for code, row in current.items():
        if code not in wanted and row["retired_at"] is None:
            await conn.execute(f"UPDATE {table} SET retired_at = ? WHERE code = ?", (now, code))
            summary.retired.append(f"{table} {code}")


async def store_organisation(
    conn: aiosqlite.Connection, org: Organisation, toml_text: str, now: int
) -> ImportSummary:
    summary = ImportSummary()
    await _sync_table(
        conn,
        "department",
        {
            d.code: {
                "name": d.name,
                "head_id": d.head,
                "group_chat_id": d.group_chat,
                "position": i,
            }
            for i, d in enumerate(org.departments.values())
        },
        now,
        summary,
    )
    await _sync_table(
        conn,
        "category",
        {
            c.code: {
                "name": c.name,
                "department_code": c.department,
                "ack_minutes": c.ack_minutes,
                # The column is NOT NULL from the first schema: a limit in working days
                # is kept in its own column, with its calendar-time length here.
                "resolve_hours": c.resolve_hours or (c.resolve_workdays or 0) * 24,
                "urgent_ack_minutes": c.urgent_ack_minutes,
                "urgent_resolve_hours": c.urgent_resolve_hours,
                "resolve_workdays": c.resolve_workdays,
                "urgent_resolve_workdays": c.urgent_resolve_workdays,
                "business_hours": int(c.business_hours),
                "position": i,
            }
            for i, c in enumerate(org.categories.values())
        },
        now,
        summary,
    )
    await _sync_table(
        conn,
        "grid",
        {g.code: {"name": g.name, "position": i} for i, g in enumerate(org.grids.values())},
        now,
        summary,
    )
    if await stored_source(conn) != toml_text:
        await conn.execute(
            """INSERT INTO org_source (id, toml, imported_at) VALUES (1, ?, ?)
               ON CONFLICT(id) DO UPDATE SET toml = excluded.toml,
                                             imported_at = excluded.imported_at""",
            (toml_text, now),
        )
    await keep_install_value(conn, FIRST_IMPORT, str(now), now)
    return summary


FIRST_IMPORT = "first_org_import"
"""When the organisation was first imported (epoch seconds, kept in install_value)."""


async def first_import(conn: aiosqlite.Connection) -> int | None:
    value = await install_value(conn, FIRST_IMPORT)
    return None if value is None else int(value)


async def stored_source(conn: aiosqlite.Connection) -> str | None:
    """The text of the organisation file last imported (None before the first import)."""
    row = await fetch_one(conn, "SELECT toml FROM org_source WHERE id = 1")
    return row["toml"] if row else None


def stored_source_of(path: Path) -> str | None:
    """The organisation file last imported into the database at `path`, read without
    opening it for writing (None: no such database, or nothing imported yet)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT toml FROM org_source WHERE id = 1").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


async def read_directory(conn: aiosqlite.Connection) -> Directory:
    return Directory(
        names=await name_tables(conn),
        active={
            table: await active_codes(conn, table) for table in ("department", "category", "grid")
        },
        group_chats={
            r["code"]: r["group_chat_id"]
            for r in await fetch_all(
                conn,
                """SELECT code, group_chat_id FROM department
                   WHERE retired_at IS NULL AND group_chat_id IS NOT NULL""",
            )
        },
    )


async def name_tables(conn: aiosqlite.Connection) -> dict[str, dict[str, str]]:
    """Names of every department, category and grid, retired ones included (for history)."""
    names: dict[str, dict[str, str]] = {}
    for table in ("department", "category", "grid"):
        rows = await fetch_all(conn, f"SELECT code, name FROM {table}")
        names[table] = {r["code"]: r["name"] for r in rows}
    return names


async def category_rules(conn: aiosqlite.Connection, code: str) -> Category | None:
    """A category's deadlines as stored (retired categories included: old issues keep theirs)."""
    row = await fetch_one(conn, "SELECT * FROM category WHERE code = ?", (code,))
    if row is None:
        return None
    return Category(
        code=row["code"],
        name=row["name"],
        department=row["department_code"],
        ack_minutes=row["ack_minutes"],
        resolve_hours=None if row["resolve_workdays"] else row["resolve_hours"],
        urgent_ack_minutes=row["urgent_ack_minutes"],
        urgent_resolve_hours=row["urgent_resolve_hours"],
        resolve_workdays=row["resolve_workdays"],
        urgent_resolve_workdays=row["urgent_resolve_workdays"],
        business_hours=bool(row["business_hours"]),
    )


async def group_chat(conn: aiosqlite.Connection, department: str) -> int | None:
    """The group of an active department, if it has one."""
    row = await fetch_one(
        conn,
        "SELECT group_chat_id FROM department WHERE code = ? AND retired_at IS NULL",
        (department,),
    )
    return row["group_chat_id"] if row else None


async def active_codes(conn: aiosqlite.Connection, table: str) -> list[tuple[str, str]]:
    if table not in {"department", "category", "grid"}:
        raise ValueError(table)
    rows = await fetch_all(
        conn, f"SELECT code, name FROM {table} WHERE retired_at IS NULL ORDER BY position, code"
    )
    return [(r["code"], r["name"]) for r in rows]
